//! Reviewing and integrating worktrees, in-process on real git repositories: `diff` (with
//! uncommitted and untracked files, `--stat`, the files two tasks both changed), `merge`
//! (leftovers committed first, `--squash`, a conflict or a dirty checkout changing nothing),
//! `discard`, and retention that never removes unmerged work unless forced.

mod support;

use legate_domain::WorktreeState;
use legate_domain::api::{DiffQuery, ErrorCode, MergeRequest, PruneRequest};
use support::repo::{Repo, git_in};
use support::{Engine, held_until};

const CONFIG: &str = "[limits]\nmax_running = 8\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_uncommitted_work_and_merge_commits_it_first() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let head = repo.head();
    let t = engine
        .isolated_done(&repo.dir, "echo new > new.txt && echo changed >> README")
        .await;
    let w = t.worktree.clone().unwrap();
    assert_eq!(
        (w.state, w.files_changed, w.insertions),
        (WorktreeState::Kept, 2, 2)
    );
    assert!(w.commits.is_empty());

    let id = t.id.as_str();
    let patch = engine.svc.diff(id, DiffQuery::default()).await.unwrap();
    assert!(
        patch.text.contains("+++ b/new.txt") && patch.text.contains("+changed"),
        "{}",
        patch.text
    );
    let stat = engine
        .svc
        .diff(
            id,
            DiffQuery {
                stat: true,
                ..DiffQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(
        stat.text.contains("2 files changed, 2 insertions(+)"),
        "{}",
        stat.text
    );
    // Reading changed nothing in the worktree: its files are still uncommitted.
    let path = w.path.clone().unwrap();
    assert!(!git_in(path.as_ref(), &["status", "--porcelain"]).is_empty());

    let merged = engine.svc.merge(id, MergeRequest::default()).await.unwrap();
    assert!(merged.committed_leftovers);
    assert_eq!(merged.into.as_deref(), Some("main"));
    assert_eq!(merged.worktree.state, WorktreeState::Merged);
    assert_eq!(repo.head(), merged.commit);
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]), head);
    assert!(repo.git(&["log", "-1", "--format=%s"]).contains(id));
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("new.txt")).unwrap(),
        "new\n"
    );
    assert_eq!(repo.status(), "");
    assert!(repo.task_branches().is_empty());
    assert!(!std::path::Path::new(&path).exists());
    let stored = engine.worktree_of(&t).await;
    assert_eq!(stored.state, WorktreeState::Merged);

    for e in [
        engine
            .svc
            .merge(id, MergeRequest::default())
            .await
            .unwrap_err(),
        engine.svc.discard(id).await.unwrap_err(),
    ] {
        assert_eq!(e.code(), ErrorCode::Worktree);
        assert!(e.to_string().contains("already merged"), "{e}");
    }
    // A merged worktree's diff is read from the commits it left.
    let after = engine.svc.diff(id, DiffQuery::default()).await.unwrap();
    assert!(after.text.contains("+++ b/new.txt"), "{}", after.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squash_merge_makes_one_commit_of_several() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let head = repo.head();
    let script = "echo a > a && git add a && git commit -qm a && echo b > b && git add b && git commit -qm b";
    let t = engine.isolated_done(&repo.dir, script).await;
    assert_eq!(t.worktree.as_ref().unwrap().commits.len(), 2);
    let merged = engine
        .svc
        .merge(t.id.as_str(), MergeRequest { squash: true })
        .await
        .unwrap();
    assert!(!merged.committed_leftovers);
    assert_eq!(
        repo.git(&["rev-list", "--parents", "-1", "HEAD"]),
        format!("{} {head}", repo.head())
    );
    assert!(
        repo.git(&["log", "-1", "--format=%s"])
            .contains(t.id.as_str())
    );
    assert_eq!(
        repo.git(&["ls-tree", "--name-only", "HEAD"]),
        "README\na\nb"
    );
    assert!(repo.task_branches().is_empty());
    assert_eq!(repo.status(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_or_a_dirty_checkout_changes_nothing_and_discard_removes_the_work() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let t = engine
        .isolated_done(
            &repo.dir,
            "echo theirs > README && git commit -qam theirs && echo more > more.txt",
        )
        .await;
    // The user changed the same line meanwhile.
    repo.write("README", "ours\n");
    repo.git(&["commit", "-qam", "ours"]);
    let head = repo.head();
    let w = t.worktree.clone().unwrap();
    let path = w.path.clone().unwrap();
    let branch = w.branch.clone().unwrap();
    let tip = repo.git(&["rev-parse", &branch]);

    let e = engine
        .svc
        .merge(t.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::MergeConflict, "{e}");
    assert!(
        e.to_string().contains("README") && e.to_string().contains("nothing was changed"),
        "{e}"
    );
    let e = engine
        .svc
        .merge(t.id.as_str(), MergeRequest { squash: true })
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::MergeConflict, "{e}");
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("README")).unwrap(),
        "ours\n"
    );
    assert_eq!(
        repo.git(&["rev-parse", &branch]),
        tip,
        "the task's branch moved"
    );
    assert_eq!(
        git_in(path.as_ref(), &["status", "--porcelain"]),
        "?? more.txt"
    );
    assert_eq!(engine.worktree_of(&t).await.state, WorktreeState::Kept);

    // A checkout with uncommitted changes is refused before anything is tried.
    repo.write("README", "edited\n");
    let e = engine
        .svc
        .merge(t.id.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::DirtyCheckout, "{e}");
    assert!(e.to_string().contains("README"), "{e}");
    assert_eq!(repo.git(&["rev-parse", &branch]), tip);
    repo.git(&["checkout", "-q", "README"]);

    let gone = engine.svc.discard(t.id.as_str()).await.unwrap();
    assert_eq!(gone.worktree.unwrap().state, WorktreeState::Discarded);
    assert!(repo.task_branches().is_empty());
    assert!(!std::path::Path::new(&path).exists());
    assert_eq!(repo.worktree_count(), 1);
    assert_eq!(repo.head(), head);
    let e = engine.svc.discard(t.id.as_str()).await.unwrap_err();
    assert!(e.to_string().contains("was discarded"), "{e}");
    let e = engine
        .svc
        .diff(t.id.as_str(), DiffQuery::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("was discarded"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_against_another_task_names_the_files_both_changed() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let a = engine
        .isolated_done(
            &repo.dir,
            "echo a >> README && echo a > a.txt && echo s > shared.txt",
        )
        .await;
    let b = engine
        .isolated_done(
            &repo.dir,
            "echo b >> README && git commit -qam b && echo s2 > shared.txt",
        )
        .await;
    let q = DiffQuery {
        against: Some(b.id.to_string()),
        ..DiffQuery::default()
    };
    let report = engine.svc.diff(a.id.as_str(), q).await.unwrap();
    let overlap = report.overlap.unwrap();
    assert_eq!(overlap.other, b.id);
    assert_eq!(
        overlap.files,
        vec!["README".to_string(), "shared.txt".to_string()]
    );
    let plain = engine.path("plain");
    std::fs::create_dir(&plain).unwrap();
    let other = engine.submit("sh", "true").await;
    let e = engine
        .svc
        .diff(other.as_str(), DiffQuery::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("has no worktree"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_tasks_worktree_cannot_be_merged_or_discarded() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let started = engine.path("started");
    let go = engine.path("go");
    let script = format!(
        "echo x > x && touch '{}' && {}",
        started.display(),
        held_until(&go)
    );
    let t = engine.isolated(&repo.dir, &script).await;
    support::poll_until("the agent started", || started.exists()).await;
    let id = t.id.as_str();
    for e in [
        engine
            .svc
            .merge(id, MergeRequest::default())
            .await
            .unwrap_err(),
        engine.svc.discard(id).await.unwrap_err(),
    ] {
        assert_eq!(e.code(), ErrorCode::NotFinished, "{e}");
    }
    // Reading it is fine while it runs.
    let live = engine.svc.diff(id, DiffQuery::default()).await.unwrap();
    assert_eq!(live.worktree.files, vec!["x".to_string()]);
    std::fs::write(&go, "").unwrap();
    engine.finished(std::slice::from_ref(&t.id)).await;
    assert_eq!(engine.worktree_of(&t).await.state, WorktreeState::Kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_keeps_unmerged_worktrees_unless_forced() {
    let engine = Engine::start(CONFIG).await;
    let repo = Repo::init(&engine.path("repo"));
    let kept = engine
        .isolated_done(&repo.dir, "echo work > work.txt")
        .await;
    let unchanged = engine.isolated_done(&repo.dir, "true").await;
    let path = kept.worktree.clone().unwrap().path.unwrap();
    let prune = |force| PruneRequest {
        older_than_ms: 0,
        unacked: true,
        force,
    };
    let report = engine.svc.prune(&prune(false)).await.unwrap();
    assert_eq!(report.tasks, 1);
    assert_eq!(report.kept_worktrees, vec![kept.id.clone()]);
    assert!(engine.svc.get(unchanged.id.as_str(), false).await.is_err());
    assert!(engine.svc.get(kept.id.as_str(), false).await.is_ok());
    assert!(std::path::Path::new(&path).join("work.txt").exists());
    assert_eq!(repo.task_branches().len(), 1);

    let report = engine.svc.prune(&prune(true)).await.unwrap();
    assert_eq!((report.tasks, report.kept_worktrees.len()), (1, 0));
    assert!(!std::path::Path::new(&path).exists());
    assert!(repo.task_branches().is_empty());
    assert_eq!(repo.worktree_count(), 1);
}
