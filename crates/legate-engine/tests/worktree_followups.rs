//! Follow-ups of worktree tasks, in-process: a follow-up continues in its predecessor's
//! worktree and branch; one still queued holds the worktree (no merge under it); one canceled
//! before it ran leaves the worktree with its predecessor, which can be continued again and
//! merged, the whole chain recorded as merged.

mod support;

use legate_domain::api::{
    CancelRequest, DiffQuery, ErrorCode, MergeRequest, PruneRequest, SendRequest,
};
use legate_domain::{Status, TaskEnv, TaskId, WorktreeState};
use legate_engine::Caller;
use support::repo::{Repo, isolated};
use support::{Engine, held_until};

/// An agent that answers in Claude Code's stream format with a session id, so follow-ups can
/// continue it (its resume arguments land after the script, where `sh` ignores them).
const CHAT: &str = r#"
[limits]
max_running = 1

[agents.chat]
command = ["sh", "-c", "{prompt}", "sh", "{args}"]
format = "claude"
resume = ["--resume", "{session}"]
"#;

/// `script`, then a result line naming session `s1`.
fn said(script: &str) -> String {
    format!(r#"{script} && echo '{{"type":"result","result":"done","session_id":"s1"}}'"#)
}

async fn send(engine: &Engine, to: &TaskId, script: &str) -> TaskId {
    let req = SendRequest {
        prompt: said(script),
        env: Some(TaskEnv::of_this_process()),
        ..SendRequest::default()
    };
    let sent = engine.svc.send(to.as_str(), req, &Caller::unknown()).await;
    sent.unwrap().task.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_holds_the_worktree_until_it_ran_or_was_canceled_before_running() {
    let engine = Engine::start(CHAT).await;
    let repo = Repo::init(&engine.path("repo"));
    let mut req = isolated(&repo.dir, &said("echo one > a.txt"));
    req.agent = "chat".into();
    let a = engine.submit_with(req).await.id;
    let a_task = engine.finished(std::slice::from_ref(&a)).await.remove(0);
    assert_eq!(a_task.status, Status::Succeeded, "{:?}", a_task.error);
    let path = a_task.worktree.unwrap().path.unwrap();

    // The only slot is taken: the follow-up waits in the queue.
    let go = engine.path("go");
    let blocker = engine.submit("sh", &held_until(&go)).await;
    let b = send(&engine, &a, "echo two >> a.txt").await;
    let a_task = engine.svc.get(a.as_str(), false).await.unwrap();
    assert_eq!(a_task.worktree.unwrap().continued_by.as_ref(), Some(&b));
    let e = engine
        .svc
        .merge(a.as_str(), MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFinished, "{e}");
    assert!(
        e.to_string().contains(&format!("task {b} is queued")),
        "{e}"
    );
    // Nor does a forced prune take the worktree from under it.
    let prune = PruneRequest {
        older_than_ms: 0,
        unacked: true,
        force: true,
    };
    let pruned = engine.svc.prune(&prune).await.unwrap();
    assert_eq!(pruned.kept_worktrees, vec![a.clone()]);
    assert!(std::path::Path::new(&path).join("a.txt").exists());

    // Canceled before it ran: the worktree is the first task's again.
    let cancel = CancelRequest {
        ids: vec![b.to_string()],
        ..CancelRequest::default()
    };
    engine.svc.cancel(&cancel).await.unwrap();
    let diff = engine
        .svc
        .diff(a.as_str(), DiffQuery::default())
        .await
        .unwrap();
    assert_eq!(diff.task, a);
    let c = send(&engine, &a, "echo three >> a.txt").await;
    std::fs::write(&go, "").unwrap();
    let done = engine.finished(&[blocker, c.clone()]).await;
    let w = done[1].worktree.clone().unwrap();
    assert_eq!(
        w.path.as_deref(),
        Some(path.as_str()),
        "the follow-up got another worktree"
    );
    assert_eq!(w.branch, Some(format!("legate/{a}")));
    let text = std::fs::read_to_string(std::path::Path::new(&path).join("a.txt")).unwrap();
    assert_eq!(text, "one\nthree\n");

    let merged = engine
        .svc
        .merge(a.as_str(), MergeRequest::default())
        .await
        .unwrap();
    assert_eq!(merged.task, c);
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("a.txt")).unwrap(),
        "one\nthree\n"
    );
    for id in [&a, &c] {
        let t = engine.svc.get(id.as_str(), false).await.unwrap();
        assert_eq!(
            t.worktree.unwrap().state,
            WorktreeState::Merged,
            "task {id}"
        );
    }
    // A follow-up of a merged task starts a new worktree from the checkout as it is now.
    let d = send(&engine, &c, "cat a.txt").await;
    let d = engine.finished(std::slice::from_ref(&d)).await.remove(0);
    let w = d.worktree.unwrap();
    assert_eq!(w.base, repo.head());
    assert_eq!(w.state, WorktreeState::Removed, "it changed nothing");
    assert_ne!(w.path.as_deref(), Some(path.as_str()));
}
