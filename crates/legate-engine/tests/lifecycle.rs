//! What happens to running tasks beyond their own end, in-process: recovery takes back what a
//! lost engine left running (requeued when the agent allows it, else interrupted), a silent
//! task is reported or ended as stalled, and the notifier announces each finish once, even
//! across a restart (its cursor is durable).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use legate_domain::{ErrorKind, EventKind, Status};
use legate_store::sqlite::SqliteStore;
use legate_store::{ClaimRequest, Store};
use support::{DEADLINE, Engine, new_task};

const AGAIN: &str = r#"
[agents.again]
command = ["sh", "-c", "{prompt}"]
retry_interrupted = true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_requeues_or_interrupts_what_a_lost_engine_left_running() {
    let dir = Engine::start(AGAIN).await.stop().await;
    // Another engine claimed two tasks and was lost before it ran them.
    let store = SqliteStore::open(&dir.path().join("legate.db"))
        .await
        .unwrap();
    let plain = store
        .insert(new_task("sh", "echo plain"))
        .await
        .unwrap()
        .task
        .id;
    let again = store
        .insert(new_task("again", "echo again"))
        .await
        .unwrap()
        .task
        .id;
    let claimed = store
        .claim(&ClaimRequest {
            owner: "lost-engine".into(),
            lease_ttl: Duration::from_secs(3600),
            max_running: 10,
            agent_caps: Default::default(),
            agents: None::<BTreeSet<String>>,
            max_claims: 10,
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    store.close().await;

    let engine = Engine::start_in(dir, AGAIN).await;
    let tasks = engine.finished(&[plain, again]).await;
    assert_eq!(tasks[0].status, Status::Interrupted, "{:?}", tasks[0]);
    assert_eq!(
        tasks[0].error.as_ref().unwrap().kind,
        ErrorKind::Interrupted
    );
    assert_eq!(tasks[1].status, Status::Succeeded, "{:?}", tasks[1]);
    assert_eq!(tasks[1].attempt, 2, "{:?}", tasks[1]);
    assert_eq!(tasks[1].result.as_deref().map(str::trim), Some("again"));
    let events = engine.events().await;
    let kinds = |id: &legate_domain::TaskId| -> Vec<EventKind> {
        events
            .iter()
            .filter(|e| &e.task_id == id)
            .map(|e| e.kind)
            .collect()
    };
    // Followers of `finished` learn of the interrupted one too.
    let plain = kinds(&tasks[0].id);
    assert!(
        plain.ends_with(&[EventKind::Interrupted, EventKind::Finished]),
        "{plain:?}"
    );
    let again = kinds(&tasks[1].id);
    assert!(again.contains(&EventKind::Requeued), "{again:?}");
    engine.svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_task_is_reported_or_ended_as_stalled() {
    let engine = Engine::start(
        r#"
[agents.reported]
command = ["sh", "-c", "{prompt}"]
stall_timeout = "200ms"
on_stall = "report"

[agents.ended]
command = ["sh", "-c", "{prompt}"]
stall_timeout = "200ms"
on_stall = "cancel"
"#,
    )
    .await;
    let go = engine.path("go");
    // Silent until the test has seen its `stalled` event, then done.
    let reported = engine.submit("reported", &support::held_until(&go)).await;
    let ended = engine.submit("ended", "sleep 600").await;
    let stalled = |id: &legate_domain::TaskId| {
        let id = id.clone();
        move |evs: &[legate_domain::Event]| {
            evs.iter()
                .any(|e| e.kind == EventKind::Stalled && e.task_id == id)
        }
    };
    engine
        .until_events("the reported stall", stalled(&reported))
        .await;
    std::fs::write(&go, "").unwrap();
    let tasks = engine.finished(&[reported.clone(), ended.clone()]).await;
    assert_eq!(tasks[0].status, Status::Succeeded, "{:?}", tasks[0]);
    assert_eq!(tasks[1].status, Status::Failed, "{:?}", tasks[1]);
    assert_eq!(tasks[1].error.as_ref().unwrap().kind, ErrorKind::Stalled);
    engine
        .until_events("the ended task's stall", stalled(&ended))
        .await;
    engine.svc.shutdown().await;
}

/// The ids the notify command recorded, one line each.
fn notified(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits (up to [`DEADLINE`]) until the notify command recorded every id in `ids`.
async fn until_notified(file: &std::path::Path, ids: &[legate_domain::TaskId]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let seen = notified(file);
        let all = ids.iter().all(|id| seen.contains(&id.to_string()));
        if all || tokio::time::Instant::now() >= deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifier_announces_each_finish_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notified");
    let config = format!(
        "[notify]\ntargets = [{{ command = [\"sh\", \"-c\", \"echo $LEGATE_TASK_ID >> '{}'\"] }}]\n",
        file.display()
    );
    let engine = Engine::start(&config).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(engine.submit("sh", &format!("echo {n}")).await);
    }
    engine.finished(&ids).await;
    let first = until_notified(&file, &ids).await;
    assert_eq!(first.len(), 3, "{first:?}");

    // The notifier goes through finishes in order: once the later one is announced, an
    // earlier one announced again would be there already.
    let engine = engine.restart(&config).await;
    let later = engine.submit("sh", "echo later").await;
    engine.finished(std::slice::from_ref(&later)).await;
    ids.push(later);
    let all = until_notified(&file, &ids).await;
    let mut expected: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let mut got = all.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "each finish announced once: {all:?}");
    engine.svc.shutdown().await;
}
