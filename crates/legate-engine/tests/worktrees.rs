//! Worktree isolation, in-process on real git repositories: tasks sent at once into one
//! repository each run in a worktree and branch of their own and never touch the user's
//! checkout; the base is what the user had at submit; a run that changed nothing leaves
//! nothing behind; bad requests are refused with nothing stored.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use legate_domain::api::{ErrorCode, SubmitRequest};
use legate_domain::{ErrorKind, Isolation, Status, Task, TaskId, WorktreeState};
use legate_engine::Caller;
use support::repo::{Repo, isolated};
use support::{Engine, held_until};

const EIGHT: &str = "[limits]\nmax_running = 8\n";
const ONE: &str = "[limits]\nmax_running = 1\n";

/// A task in a worktree of a fresh repository, queued behind one that holds the only slot, so
/// a test can change things between its submission and its claim.
struct HeldBack {
    engine: Engine,
    repo: Repo,
    blocker: TaskId,
    task: Task,
    /// Made by the task's script as soon as it runs.
    ran: PathBuf,
}

impl HeldBack {
    /// `script` (after touching [`HeldBack::ran`]), submitted and left queued.
    async fn new(script: &str) -> HeldBack {
        let engine = Engine::start(ONE).await;
        let repo = Repo::init(&engine.path("repo"));
        let blocker = engine.submit("sh", &held_until(&engine.path("go"))).await;
        let ran = engine.path("ran");
        let script = format!("touch '{}' && {script}", ran.display());
        let task = engine.isolated(&repo.dir, &script).await;
        assert_eq!(task.status, Status::Queued);
        HeldBack {
            engine,
            repo,
            blocker,
            task,
            ran,
        }
    }

    /// The worktree path the task will get.
    fn path(&self) -> PathBuf {
        self.engine.path("worktrees").join(self.task.id.as_str())
    }

    /// Lets the task be claimed; the task as it ended.
    async fn release(&self) -> Task {
        std::fs::write(self.engine.path("go"), "").unwrap();
        let ids = [self.blocker.clone(), self.task.id.clone()];
        self.engine.finished(&ids).await.remove(1)
    }

    /// Lets the task be claimed, and checks that it failed for want of its worktree, saying
    /// `says`, without its agent running.
    async fn fails_without_running(&self, says: &str) {
        let t = self.release().await;
        assert_eq!(t.status, Status::Failed);
        let e = t.error.unwrap();
        assert_eq!(e.kind, ErrorKind::WorktreeFailed);
        assert!(e.message.contains(says), "{}", e.message);
        assert!(!self.ran.exists(), "the agent ran without its worktree");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_at_once_each_commit_on_their_own_branch_and_leave_the_checkout_alone() {
    let engine = Engine::start(EIGHT).await;
    let repo = Repo::init(&engine.path("repo"));
    let head = repo.head();
    let mut ids = Vec::new();
    for i in 0..8 {
        let script =
            format!("echo {i} > file{i}.txt && git add -A && git commit -qm 'task {i}' && pwd");
        ids.push(engine.isolated(&repo.dir, &script).await.id);
    }
    let done = engine.finished(&ids).await;
    let mut dirs = HashSet::new();
    for (i, t) in done.iter().enumerate() {
        assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
        let w = t.worktree.clone().unwrap();
        assert_eq!(w.state, WorktreeState::Kept);
        assert_eq!(w.base, head);
        assert_eq!(w.files, vec![format!("file{i}.txt")]);
        assert_eq!((w.files_changed, w.insertions, w.deletions), (1, 1, 0));
        assert_eq!(w.commits.len(), 1);
        let path = w.path.clone().unwrap();
        assert!(
            t.result.as_deref().unwrap_or("").contains(&path),
            "task {i} ran in {:?}, not its worktree {path}",
            t.result
        );
        dirs.insert(path);
        let branch = w.branch.clone().unwrap();
        assert_eq!(branch, format!("legate/{}", t.id));
        assert_eq!(
            w.head.as_deref(),
            Some(repo.git(&["rev-parse", &branch]).as_str())
        );
        let range = format!("{head}..{branch}");
        assert_eq!(
            repo.git(&["rev-list", &range]),
            w.commits[0],
            "only its own commit"
        );
        assert_eq!(
            repo.git(&["diff", "--name-only", &head, &branch]),
            format!("file{i}.txt")
        );
    }
    assert_eq!(dirs.len(), 8, "no two tasks shared a directory");
    assert_eq!(repo.head(), head, "the checkout's HEAD moved");
    assert_eq!(repo.status(), "", "the checkout changed");
    assert_eq!(repo.git(&["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(repo.task_branches().len(), 8);
    assert_eq!(repo.worktree_count(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_run_leaves_nothing_and_runs_at_the_tasks_place_in_the_repository() {
    let engine = Engine::start(EIGHT).await;
    let repo = Repo::init(&engine.path("repo"));
    std::fs::create_dir(repo.dir.join("sub")).unwrap();
    repo.write("sub/x", "x\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "sub"]);
    let t = engine.isolated(&repo.dir.join("sub"), "pwd && cat x").await;
    let t = engine.finished(std::slice::from_ref(&t.id)).await.remove(0);
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let w = t.worktree.unwrap();
    assert_eq!(w.state, WorktreeState::Removed);
    assert_eq!(w.subdir, "sub");
    let path = w.path.unwrap();
    assert!(t.result.unwrap().contains(&format!("{path}/sub")));
    assert!(!Path::new(&path).exists(), "the worktree is still there");
    assert!(repo.task_branches().is_empty());
    assert_eq!(repo.worktree_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_is_the_checkouts_head_at_submit_not_at_claim() {
    let held = HeldBack::new("git rev-parse HEAD").await;
    let (engine, repo) = (&held.engine, &held.repo);
    let asked_at = repo.head();
    // The user goes on working before the task starts.
    repo.write("README", "later\n");
    repo.git(&["commit", "-qam", "later"]);
    let t = held.release().await;
    assert_eq!(t.worktree.as_ref().unwrap().base, asked_at);
    assert!(
        t.result.as_deref().unwrap().contains(&asked_at),
        "{:?}",
        t.result
    );

    // An explicit base wins, and is resolved (and recorded) at submit.
    let first = repo.git(&["rev-list", "--max-parents=0", "HEAD"]);
    let mut req = isolated(&repo.dir, "git rev-parse HEAD");
    req.base = Some("HEAD~1".into());
    let t = engine.submit_with(req).await;
    assert_eq!(t.worktree.as_ref().unwrap().base, first);
    let t = engine.finished(std::slice::from_ref(&t.id)).await.remove(0);
    assert!(t.result.unwrap().contains(&first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_for_a_worktree_are_refused_and_store_nothing() {
    let engine = Engine::start(EIGHT).await;
    let repo = Repo::init(&engine.path("repo"));
    let plain = engine.path("plain");
    std::fs::create_dir(&plain).unwrap();
    let bare = engine.path("bare.git");
    support::repo::git_in(engine.dir.path(), &["init", "-q", "--bare", "bare.git"]);
    let empty = engine.path("empty");
    support::repo::git_in(engine.dir.path(), &["init", "-q", "empty"]);
    let with_base = |base: &str| SubmitRequest {
        base: Some(base.into()),
        ..isolated(&repo.dir, "true")
    };
    let cases: Vec<(SubmitRequest, ErrorCode, &str)> = vec![
        (
            isolated(&plain, "true"),
            ErrorCode::Worktree,
            "needs a git repository",
        ),
        (
            with_base("no-such-branch"),
            ErrorCode::Worktree,
            "names no commit",
        ),
        (
            with_base("--upload-pack=x"),
            ErrorCode::Worktree,
            "is not a revision",
        ),
        (
            isolated(&bare, "true"),
            ErrorCode::Worktree,
            "bare repository",
        ),
        (
            isolated(&bare.join("refs"), "true"),
            ErrorCode::Worktree,
            "bare repository",
        ),
        (
            isolated(&repo.dir.join(".git"), "true"),
            ErrorCode::Worktree,
            "inside a .git",
        ),
        (
            isolated(&empty, "true"),
            ErrorCode::Worktree,
            "no commit yet",
        ),
        (
            SubmitRequest {
                isolation: Some(Isolation::None),
                ..with_base("main")
            },
            ErrorCode::InvalidRequest,
            "--base applies only",
        ),
        (
            SubmitRequest {
                metadata: Some(serde_json::json!({"worktree": {"path": "/home"}})),
                ..SubmitRequest {
                    agent: "sh".into(),
                    prompt: "true".into(),
                    ..SubmitRequest::default()
                }
            },
            ErrorCode::InvalidRequest,
            "legate's own record",
        ),
    ];
    for (req, code, says) in cases {
        let shown = format!("{req:?}");
        let e = engine
            .svc
            .submit(req, &Caller::unknown())
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{shown}: {e}");
        assert!(e.to_string().contains(says), "{shown}: {e}");
    }
    let counts = engine.svc.counts().await.unwrap();
    assert!(
        counts.iter().all(|(_, n)| *n == 0),
        "something was stored: {counts:?}"
    );
    assert_eq!(repo.worktree_count(), 1);
    assert!(repo.task_branches().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_gone_before_the_claim_fails_the_task_without_running_it_elsewhere() {
    let held = HeldBack::new("true").await;
    std::fs::remove_dir_all(&held.repo.dir).unwrap();
    held.fails_without_running("is gone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_by_a_shutdown_keeps_its_changes_in_its_worktree() {
    let engine = Engine::start(EIGHT).await;
    let repo = Repo::init(&engine.path("repo"));
    let started = engine.path("started");
    let script = format!(
        "echo draft > draft.txt && touch '{}' && {}",
        started.display(),
        held_until(&engine.path("never"))
    );
    let t = engine.isolated(&repo.dir, &script).await;
    support::poll_until("the agent wrote its draft", || started.exists()).await;
    let dir = engine.stop().await;
    let engine = Engine::start_in(dir, EIGHT).await;
    let t = engine.svc.get(t.id.as_str(), false).await.unwrap();
    assert_eq!(t.status, Status::Interrupted);
    let w = t.worktree.unwrap();
    assert_eq!(w.state, WorktreeState::Kept);
    assert_eq!(w.files, vec!["draft.txt".to_string()]);
    assert!(Path::new(&w.path.unwrap()).join("draft.txt").exists());
}

/// A task that commits `x`, claimed after `leave` put at its worktree's path (and branch)
/// what a crash would have left; it must have succeeded, as if nothing had been there.
async fn claimed_after(leave: impl FnOnce(&Repo, &Path, &str)) -> (HeldBack, Task) {
    let held = HeldBack::new("echo x > x && git add x && git commit -qm x").await;
    leave(
        &held.repo,
        &held.path(),
        &format!("legate/{}", held.task.id),
    );
    let t = held.release().await;
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    let w = t.worktree.clone().unwrap();
    assert_eq!(
        (w.state, w.files),
        (WorktreeState::Kept, vec!["x".to_string()])
    );
    assert_eq!(held.repo.worktree_count(), 2);
    assert_eq!(held.repo.git(&["worktree", "prune", "--dry-run", "-v"]), "");
    (held, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_crash_left_half_made_at_the_worktree_path_is_cleared_and_made_again() {
    // The task's branch made and its directory half written, unknown to git.
    let (_held, t) = claimed_after(|repo, path, branch| {
        std::fs::create_dir_all(path).unwrap();
        std::fs::write(path.join("junk"), "").unwrap();
        repo.git(&["branch", branch]);
    })
    .await;
    let path = PathBuf::from(t.worktree.unwrap().path.unwrap());
    assert!(
        !path.join("junk").exists(),
        "the half-made directory was used as it was"
    );

    // As a `git worktree add` killed half way leaves it: registered, locked "initializing",
    // its checkout incomplete.
    let mut admin = String::new();
    let (_held, t) = claimed_after(|repo, path, branch| {
        let p = path.display().to_string();
        repo.git(&["worktree", "add", "-q", "-b", branch, &p]);
        admin = support::repo::git_in(path, &["rev-parse", "--absolute-git-dir"]);
        std::fs::write(Path::new(&admin).join("locked"), "initializing").unwrap();
        std::fs::remove_file(path.join("README")).unwrap();
    })
    .await;
    let path = PathBuf::from(t.worktree.unwrap().path.unwrap());
    assert!(
        path.join("README").exists(),
        "the half-made checkout was used"
    );
    assert!(!Path::new(&admin).join("locked").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_lock_that_stays_taken_fails_the_task_with_its_own_kind() {
    let held = HeldBack::new("true").await;
    // Another git process holds the lock of the branch the task's worktree needs.
    let refs = held.repo.dir.join(".git/refs/heads/legate");
    std::fs::create_dir_all(&refs).unwrap();
    std::fs::write(refs.join(format!("{}.lock", held.task.id)), "").unwrap();
    held.fails_without_running(".lock").await;
    assert_eq!(held.repo.worktree_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_canceled_while_git_checks_out_leaves_nothing_behind() {
    let engine = Engine::start(EIGHT).await;
    let repo = Repo::init(&engine.path("repo"));
    // The user's smudge filter holds the checkout, as a large one takes time.
    let (entered, block) = (engine.path("entered"), engine.path("block"));
    let filter = format!(
        "touch '{}'; while [ -e '{}' ]; do sleep 0.01; done; cat",
        entered.display(),
        block.display()
    );
    repo.git(&["config", "filter.hold.smudge", &filter]);
    std::fs::write(repo.dir.join(".git/info/attributes"), "* filter=hold\n").unwrap();
    std::fs::write(&block, "").unwrap();
    let t = engine.isolated(&repo.dir, "true").await;
    support::poll_until("git checking out", || entered.exists()).await;
    let cancel = legate_domain::api::CancelRequest {
        ids: vec![t.id.to_string()],
        ..Default::default()
    };
    engine.svc.cancel(&cancel).await.unwrap();
    let t = engine.finished(std::slice::from_ref(&t.id)).await.remove(0);
    assert_eq!(t.status, Status::Canceled);
    let path = engine.path("worktrees").join(t.id.as_str());
    assert!(
        legate_runner::procfs::processes_in(&path).is_empty(),
        "git still works there"
    );
    std::fs::remove_file(&block).unwrap();
    assert!(!path.exists());
    assert!(repo.task_branches().is_empty());
    assert_eq!(repo.worktree_count(), 1);
}
