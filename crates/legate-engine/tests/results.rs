//! The inbox and retention, in-process: finished tasks wait unread in their origin's inbox in
//! the order they finished; acknowledging is scoped to the origin and idempotent; a reading
//! that acknowledges empties it; a prune removes acknowledged finished tasks with their logs
//! and keeps unread results and unfinished tasks.

mod support;

use legate_domain::api::{AckRequest, ErrorCode, InboxQuery, PruneRequest, SubmitRequest};
use legate_domain::{Status, TaskId};
use support::{Engine, held_until};

fn read(origin: &str, ack: bool) -> InboxQuery {
    InboxQuery {
        origin: origin.into(),
        ack,
        limit: None,
        scope: None,
        orphans: false,
    }
}

async fn submit_from(engine: &Engine, origin: &str, prompt: &str) -> TaskId {
    engine
        .submit_with(SubmitRequest {
            agent: "sh".into(),
            prompt: prompt.into(),
            origin: Some(origin.into()),
            ..SubmitRequest::default()
        })
        .await
        .id
}

fn ack(origin: &str, ids: &[&TaskId]) -> AckRequest {
    AckRequest {
        origin: origin.into(),
        ids: ids.iter().map(ToString::to_string).collect(),
        all: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_holds_each_origins_unread_results_in_finish_order() {
    // One at a time, so the finish order is the submission order.
    let engine = Engine::start("[limits]\nmax_running = 1\n").await;
    let mut mine = Vec::new();
    for n in 0..3 {
        mine.push(submit_from(&engine, "a", &format!("echo a{n}")).await);
    }
    let theirs = submit_from(&engine, "b", "echo b").await;
    let mut all = mine.clone();
    all.push(theirs.clone());
    engine.finished(&all).await;

    let inbox = engine.svc.inbox(&read("a", false)).await.unwrap();
    let ids: Vec<TaskId> = inbox.tasks.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, mine);
    assert_eq!(inbox.tasks[0].result.as_deref().map(str::trim), Some("a0"));

    // Another origin cannot acknowledge them (it is told whose they are); their own can, once.
    let foreign = engine.svc.ack(&ack("b", &[&mine[0]])).await.unwrap_err();
    assert_eq!(foreign.code(), ErrorCode::InvalidRequest, "{foreign}");
    assert!(
        foreign.to_string().contains("delegated by 'a'"),
        "{foreign}"
    );
    assert_eq!(
        engine
            .svc
            .inbox(&read("a", false))
            .await
            .unwrap()
            .tasks
            .len(),
        3
    );
    let acked = engine.svc.ack(&ack("a", &[&mine[0]])).await.unwrap();
    assert_eq!(acked.acked, [mine[0].clone()]);
    let again = engine.svc.ack(&ack("a", &[&mine[0]])).await.unwrap();
    assert!(again.acked.is_empty(), "{again:?}");

    // A reading that acknowledges returns the rest, then the inbox is empty.
    let taken = engine.svc.inbox(&read("a", true)).await.unwrap();
    let ids: Vec<TaskId> = taken.tasks.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, mine[1..]);
    assert!(
        engine
            .svc
            .inbox(&read("a", false))
            .await
            .unwrap()
            .tasks
            .is_empty()
    );
    let b = engine.svc.inbox(&read("b", false)).await.unwrap();
    assert_eq!(b.tasks.len(), 1);
    engine.svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_removes_read_results_and_their_logs_and_keeps_the_rest() {
    let engine = Engine::start("").await;
    let go = engine.path("go");
    let read_one = submit_from(&engine, "a", "echo read").await;
    let unread = submit_from(&engine, "a", "echo unread").await;
    let running = submit_from(&engine, "a", &held_until(&go)).await;
    engine.finished(&[read_one.clone(), unread.clone()]).await;
    engine.svc.ack(&ack("a", &[&read_one])).await.unwrap();
    let logs = engine.svc.task_dir(&read_one);
    assert!(logs.exists(), "{}", logs.display());

    let report = engine
        .svc
        .prune(&PruneRequest {
            older_than_ms: 0,
            unacked: false,
            force: false,
        })
        .await
        .unwrap();
    assert_eq!(report.tasks, 1, "{report:?}");
    assert_eq!(report.kept_unacked, 1, "{report:?}");
    assert!(report.events >= 3, "queued, started, finished: {report:?}");
    assert!(!logs.exists(), "{} was kept", logs.display());
    assert!(engine.svc.get(read_one.as_str(), false).await.is_err());
    assert_eq!(
        engine.svc.get(unread.as_str(), false).await.unwrap().status,
        Status::Succeeded
    );
    assert_eq!(
        engine
            .svc
            .get(running.as_str(), false)
            .await
            .unwrap()
            .status,
        Status::Running
    );
    std::fs::write(&go, "").unwrap();
    engine.finished(&[running]).await;
    engine.svc.shutdown().await;
}
