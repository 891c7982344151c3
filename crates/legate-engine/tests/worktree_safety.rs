//! Worktrees never lose work and never touch the checkout behind the user's back, in-process
//! on real git repositories: a merge refuses (changing nothing) a worktree its agent moved off
//! its branch or left mid-merge, a checkout mid-operation, detached or unborn, a base the
//! checkout's branch lacks, and untracked or ignored files it would overwrite; work whose
//! directory vanished is merged from its branch; a submitter's GIT_DIR never reaches the
//! agent; a merge and a discard of one task never both act.

mod support;

use legate_domain::api::{DiffQuery, ErrorCode, MergeRequest};
use legate_domain::{Status, TaskEnv, WorktreeState};
use support::Engine;
use support::repo::{Repo, isolated};

const CONFIG: &str = "[limits]\nmax_running = 8\n";

/// The checkout's state a refused merge must leave as it was.
fn snapshot(repo: &Repo) -> (String, String, String) {
    let branch = repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]);
    (repo.head(), branch, repo.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_refuses_a_worktree_its_agent_moved_off_its_branch_or_left_mid_merge() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    repo.git(&["branch", "elsewhere"]);
    let moved = engine
        .isolated_done(
            &repo.dir,
            "echo a > a && git add a && git commit -qm on-branch && git checkout -q elsewhere && echo b > b",
        )
        .await;
    let w = moved.worktree.clone().unwrap();
    assert_eq!(w.state, WorktreeState::Kept);
    let branch = w.branch.clone().unwrap();
    let tip = repo.git(&["rev-parse", &branch]);
    let before = snapshot(&repo);
    let e = engine
        .svc
        .merge(moved.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no longer on its branch"), "{e}");
    assert_eq!(snapshot(&repo), before);
    assert_eq!(
        repo.git(&["rev-parse", &branch]),
        tip,
        "the branch's commit was lost"
    );

    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.write("README", "other\n");
    repo.git(&["commit", "-qam", "other"]);
    repo.git(&["checkout", "-q", "main"]);
    let script =
        "echo mine > README && git commit -qam mine && (git merge other >/dev/null 2>&1; true)";
    let mid = engine.isolated_done(&repo.dir, script).await;
    let e = engine
        .svc
        .merge(mid.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("left a merge unfinished"), "{e}");
    assert_eq!(snapshot(&repo), before);

    // An agent that rewound its branch past where it started.
    let rewound = engine
        .isolated_done(
            &repo.dir,
            "echo r > r && git add r && git commit -q --amend -m rewritten",
        )
        .await;
    let e = engine
        .svc
        .merge(rewound.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no longer contains the commit it started from"),
        "{e}"
    );
    assert_eq!(snapshot(&repo), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_refuses_a_checkout_mid_merge_detached_or_lacking_the_base() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let t = engine.isolated_done(&repo.dir, "echo x > x").await;
    let id = t.id.as_str();
    let merge = || engine.svc.merge(id, MergeRequest::default());

    // The user's own merge, clean but unconcluded: refused, and their merge survives.
    let first = repo.head();
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("side", "s\n");
    repo.git(&["add", "side"]);
    repo.git(&["commit", "-qm", "side"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "-s", "ours", "--no-commit", "side"]);
    let e = merge().await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::DirtyCheckout, "{e}");
    assert!(e.to_string().contains("in the middle of a merge"), "{e}");
    assert!(
        repo.dir.join(".git/MERGE_HEAD").exists(),
        "the user's merge was thrown away"
    );
    repo.git(&["merge", "--abort"]);

    // A cherry-pick of several commits stopped half way (git's sequencer).
    std::fs::create_dir(repo.dir.join(".git/sequencer")).unwrap();
    let e = merge().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("cherry-pick or revert of several commits"),
        "{e}"
    );
    std::fs::remove_dir(repo.dir.join(".git/sequencer")).unwrap();

    repo.git(&["checkout", "-q", "--detach"]);
    let e = merge().await.unwrap_err();
    assert!(e.to_string().contains("detached HEAD"), "{e}");
    repo.git(&["checkout", "-q", "main"]);

    repo.git(&["checkout", "-q", "--orphan", "fresh"]);
    let e = merge().await.unwrap_err();
    assert!(e.to_string().contains("has no commit yet"), "{e}");
    repo.git(&["checkout", "-q", "-f", "main"]);

    // A task started from another branch would bring that branch's commits along.
    let from_side = engine
        .submit_with(legate_domain::api::SubmitRequest {
            base: Some("side".into()),
            ..isolated(&repo.dir, "echo y > y")
        })
        .await;
    engine.finished(std::slice::from_ref(&from_side.id)).await;
    let e = engine
        .svc
        .merge(from_side.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not contain"), "{e}");
    assert_eq!(repo.head(), first);
    assert_eq!(repo.status(), "");
    // Nothing was lost on the way: the first task still merges.
    merge().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_refuses_to_overwrite_untracked_or_ignored_files_of_the_checkout() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    repo.write(".gitignore", "local.cfg\n");
    repo.git(&["add", ".gitignore"]);
    repo.git(&["commit", "-qm", "ignore"]);
    let t = engine
        .isolated_done(&repo.dir, "echo agent > local.cfg && git add -f local.cfg && git commit -qm cfg && echo new > new.txt")
        .await;
    let branch = t.worktree.clone().unwrap().branch.unwrap();
    let tip = repo.git(&["rev-parse", &branch]);
    repo.write("local.cfg", "MINE\n");
    repo.write("new.txt", "mine too\n");
    let head = repo.head();
    let e = engine
        .svc
        .merge(t.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::DirtyCheckout, "{e}");
    assert!(e.to_string().contains("local.cfg, new.txt"), "{e}");
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("local.cfg")).unwrap(),
        "MINE\n"
    );

    assert_eq!(repo.head(), head);
    assert_eq!(
        repo.git(&["rev-parse", &branch]),
        tip,
        "leftovers were committed anyway"
    );
    // A directory of the task where the checkout has an ignored file.
    repo.write(".gitignore", "local.cfg\ncache\n");
    repo.git(&["commit", "-qam", "ignore cache"]);
    std::fs::remove_file(repo.dir.join("new.txt")).unwrap();
    let dirs = engine
        .isolated_done(
            &repo.dir,
            "mkdir -p cache/d && echo t > cache/d/x && git add -f cache && git commit -qm dirs",
        )
        .await;
    repo.write("cache", "MY CACHE\n");
    let e = engine
        .svc
        .merge(dirs.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ignored: cache;"), "{e}");
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("cache")).unwrap(),
        "MY CACHE\n"
    );

    // The task's file where the checkout has a directory holding an ignored file.
    std::fs::create_dir(repo.dir.join("sub")).unwrap();
    repo.write("sub/x", "x\n");
    repo.write(".gitignore", "local.cfg\ncache\n*.log\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "sub"]);
    let flat = engine
        .isolated_done(
            &repo.dir,
            "git rm -q -r sub && echo file > sub && git add sub && git commit -qm flat",
        )
        .await;
    repo.write("sub/mine.log", "MINE\n");
    let e = engine
        .svc
        .merge(flat.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("sub/mine.log"), "{e}");
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("sub/mine.log")).unwrap(),
        "MINE\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_whose_worktree_directory_vanished_is_kept_and_merged_from_its_branch() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    // The agent removes its own worktree after committing.
    let script =
        "echo x > kept.txt && git add -A && git commit -qm kept && d=$PWD && cd / && rm -rf \"$d\"";
    let t = engine.isolated_done(&repo.dir, script).await;
    let w = t.worktree.clone().unwrap();
    assert_eq!((w.state, w.commits.len()), (WorktreeState::Kept, 1));
    let diff = engine
        .svc
        .diff(t.id.as_str(), DiffQuery::default())
        .await
        .unwrap();
    assert!(diff.text.contains("+++ b/kept.txt"), "{}", diff.text);
    engine
        .svc
        .merge(t.id.as_str(), MergeRequest::default())
        .await
        .unwrap();
    assert!(repo.dir.join("kept.txt").exists());

    // Deleted by hand after the run: the same.
    let t = engine
        .isolated_done(
            &repo.dir,
            "echo y > y.txt && git add -A && git commit -qm y",
        )
        .await;
    std::fs::remove_dir_all(t.worktree.clone().unwrap().path.unwrap()).unwrap();
    engine
        .svc
        .merge(t.id.as_str(), MergeRequest::default())
        .await
        .unwrap();
    assert!(repo.dir.join("y.txt").exists());
    assert!(repo.task_branches().is_empty());
    assert_eq!(repo.worktree_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitters_git_dir_never_points_the_agent_at_the_checkout() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let head = repo.head();
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.push((
        "GIT_DIR".into(),
        repo.dir.join(".git").display().to_string(),
    ));
    env.push(("GIT_WORK_TREE".into(), repo.dir.display().to_string()));
    let req = legate_domain::api::SubmitRequest {
        env: Some(TaskEnv::from_pairs(env)),
        ..isolated(
            &repo.dir,
            "echo x > agent.txt && git add -A && git commit -qm agent",
        )
    };
    let t = engine.submit_with(req).await;
    let t = engine.finished(std::slice::from_ref(&t.id)).await.remove(0);
    assert_eq!(t.status, Status::Succeeded, "{:?}", t.error);
    assert_eq!(t.worktree.unwrap().commits.len(), 1);
    assert_eq!(
        repo.head(),
        head,
        "the agent committed on the user's branch"
    );
    assert_eq!(repo.status(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_and_a_discard_of_one_task_never_both_act() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    for _ in 0..5 {
        let t = engine.isolated_done(&repo.dir, "echo z >> z.txt").await;
        let id = t.id.as_str();
        let (merged, discarded) = tokio::join!(
            engine.svc.merge(id, MergeRequest::default()),
            engine.svc.discard(id)
        );
        assert!(
            merged.is_ok() != discarded.is_ok(),
            "{merged:?} / {discarded:?}"
        );
        let state = engine.worktree_of(&t).await.state;
        let expected = if merged.is_ok() {
            WorktreeState::Merged
        } else {
            WorktreeState::Discarded
        };
        assert_eq!(state, expected);
        let loser = merged.err().or(discarded.err()).unwrap();
        assert!(
            loser.to_string().contains("already merged")
                || loser.to_string().contains("was discarded"),
            "{loser}"
        );
    }
    let other = engine.isolated_done(&repo.dir, "echo q > q").await;
    let q = DiffQuery {
        against: Some(other.id.to_string()),
        ..DiffQuery::default()
    };
    let e = engine.svc.diff(other.id.as_str(), q).await.unwrap_err();
    assert!(e.to_string().contains("share one worktree"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_moved_after_the_run_is_named_and_nothing_is_claimed_done() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let t = engine.isolated_done(&repo.dir, "echo x > x").await;
    let moved = engine.path("moved");
    std::fs::rename(&repo.dir, &moved).unwrap();
    let id = t.id.as_str();
    for e in [
        engine
            .svc
            .merge(id, MergeRequest::default())
            .await
            .unwrap_err(),
        engine.svc.discard(id).await.unwrap_err(),
        engine.svc.diff(id, DiffQuery::default()).await.unwrap_err(),
    ] {
        assert!(e.to_string().contains("is gone (moved or deleted"), "{e}");
    }
    assert_eq!(engine.worktree_of(&t).await.state, WorktreeState::Kept);
}
