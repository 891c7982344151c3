//! A follower that falls behind the live bus catches up from the store: it sees every event
//! once, in order, and never holds the engine back. Runs a real engine on a real SQLite file
//! with a bus of only 8 events.

mod support;

use std::collections::HashSet;

use legate_domain::api::{SubmitRequest, WaitRequest};
use legate_domain::{EventFilter, EventKind};
use legate_engine::Service;

async fn engine(dir: &std::path::Path, buffer: usize) -> Service {
    support::open(dir, "[limits]\nmax_running = 8\n", buffer).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_catches_up_from_the_store_without_loss_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let svc = engine(dir.path(), 8).await;
    // Subscribed before anything happens, then not read while 60 tasks (180+ events) pass
    // through a bus that holds 8.
    let mut all = svc.follow(0, EventFilter::default());
    let mut finished = svc.follow(
        0,
        EventFilter {
            kinds: vec![EventKind::Finished],
            ..EventFilter::default()
        },
    );
    let mut ids = Vec::new();
    for i in 0..60 {
        let res = svc
            .submit(
                SubmitRequest {
                    agent: "sh".into(),
                    prompt: format!("echo {i}"),
                    origin: Some("test".into()),
                    ..SubmitRequest::default()
                },
                &legate_engine::Caller::unknown(),
            )
            .await
            .unwrap();
        ids.push(res.task.id.to_string());
    }
    let done = svc
        .wait(&WaitRequest {
            ids: ids.clone(),
            timeout_ms: Some(60_000),
            ..WaitRequest::default()
        })
        .await
        .unwrap();
    assert!(
        !done.timed_out,
        "the engine was held back by an unread follower"
    );

    let stored = svc
        .events_after(0, 100_000, &EventFilter::default())
        .await
        .unwrap();
    assert!(stored.len() >= 180, "only {} events", stored.len());
    let mut seen = Vec::new();
    while seen.len() < stored.len() {
        seen.push(all.next().await.unwrap());
    }
    assert_eq!(seen, stored, "every event once, in order");

    let mut finishes = HashSet::new();
    let mut last = 0;
    while finishes.len() < ids.len() {
        let e = finished.next().await.unwrap();
        assert_eq!(e.kind, EventKind::Finished);
        assert!(e.seq > last, "in sequence order");
        last = e.seq;
        assert!(
            finishes.insert(e.task_id.to_string()),
            "{} twice",
            e.task_id
        );
    }
    assert_eq!(finishes, ids.into_iter().collect::<HashSet<_>>());
    svc.shutdown().await;
    assert!(
        all.next().await.is_err(),
        "a follower ends when the engine stops"
    );
}
