//! The scheduler, in-process: the global and per-agent caps are never exceeded, and queued
//! tasks start by priority, then in the order they were submitted.

mod support;

use std::collections::HashMap;

use legate_domain::api::SubmitRequest;
use legate_domain::{Event, EventKind, Status, TaskId};
use legate_engine::WorkSettings;
use support::{Engine, held_until};

const CAPS: &str = r#"
[limits]
max_running = 3

[agents.one]
command = ["sh", "-c", "{prompt}"]
max_running = 1
"#;

/// Each task's agent, from its `queued` event.
fn agents(events: &[Event]) -> HashMap<TaskId, String> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Queued)
        .map(|e| {
            (
                e.task_id.clone(),
                e.data["agent"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The most tasks running at once in the event log (of `agent`, or of any), replaying starts
/// and finishes in commit order.
fn most_running(events: &[Event], agent: Option<&str>) -> usize {
    let of = agents(events);
    let (mut now, mut most) = (0usize, 0usize);
    for e in events {
        if agent.is_some_and(|a| of.get(&e.task_id).map(String::as_str) != Some(a)) {
            continue;
        }
        match e.kind {
            EventKind::Started => now += 1,
            EventKind::Finished if now > 0 => now -= 1,
            _ => {}
        }
        most = most.max(now);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_and_per_agent_caps_hold() {
    let engine = Engine::start(CAPS).await;
    let go = engine.path("go");
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(engine.submit("one", &held_until(&go)).await);
        ids.push(engine.submit("sh", &held_until(&go)).await);
    }
    // The first wave fills the caps: one of `one`, two of `sh`.
    let first = engine
        .until_events("three tasks started", |evs| {
            evs.iter().filter(|e| e.kind == EventKind::Started).count() == 3
        })
        .await;
    let of = agents(&first);
    let started_one = first
        .iter()
        .filter(|e| e.kind == EventKind::Started && of[&e.task_id] == "one")
        .count();
    assert_eq!(started_one, 1, "{first:#?}");

    std::fs::write(&go, "").unwrap();
    let tasks = engine.finished(&ids).await;
    assert!(
        tasks.iter().all(|t| t.status == Status::Succeeded),
        "{tasks:#?}"
    );
    let events = engine.events().await;
    assert_eq!(most_running(&events, None), 3);
    assert_eq!(most_running(&events, Some("one")), 1);
    engine.svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_tasks_start_by_priority_then_in_submission_order() {
    let engine = Engine::start("[limits]\nmax_running = 1\n").await;
    let go = engine.path("go");
    let blocker = engine.submit("sh", &held_until(&go)).await;
    engine
        .until_events("the blocker started", |evs| {
            evs.iter().any(|e| e.kind == EventKind::Started)
        })
        .await;
    let mut submitted = Vec::new();
    for (name, priority) in [
        ("low", -5),
        ("first-mid", 5),
        ("high", 10),
        ("second-mid", 5),
    ] {
        let task = engine
            .submit_with(SubmitRequest {
                agent: "sh".into(),
                prompt: "true".into(),
                title: Some(name.into()),
                priority,
                ..SubmitRequest::default()
            })
            .await;
        submitted.push(task.id);
    }
    std::fs::write(&go, "").unwrap();
    let mut all = vec![blocker];
    all.extend(submitted.iter().cloned());
    engine.finished(&all).await;

    let titles: HashMap<TaskId, String> = engine
        .svc
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.title))
        .collect();
    let order: Vec<&str> = engine
        .events()
        .await
        .iter()
        .filter(|e| e.kind == EventKind::Started && submitted.contains(&e.task_id))
        .map(|e| titles[&e.task_id].as_str())
        .collect();
    assert_eq!(order, ["high", "first-mid", "second-mid", "low"]);
    engine.svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_task_names_the_daemon_setting_that_holds_it() {
    // Narrowed by --slots: the slots taken, and by whom.
    let engine = Engine::start_taking(
        "",
        WorkSettings {
            slots: Some(1),
            ..WorkSettings::default()
        },
    )
    .await;
    let go = engine.path("go");
    let first = engine.submit("sh", &held_until(&go)).await;
    engine
        .until_events("the first started", |evs| {
            evs.iter().any(|e| e.kind == EventKind::Started)
        })
        .await;
    let second = engine.submit("sh", "true").await;
    let why = engine
        .svc
        .queue_state(second.as_str())
        .await
        .unwrap()
        .reason;
    assert!(
        why.contains("--slots") && why.contains(first.as_str()),
        "{why}"
    );
    std::fs::write(&go, "").unwrap();
    engine.finished(&[first, second]).await;
    engine.svc.shutdown().await;

    // Narrowed by --agents: which agents this daemon runs.
    let engine = Engine::start_taking(
        "",
        WorkSettings {
            agents: Some(["claude".to_string()].into()),
            ..WorkSettings::default()
        },
    )
    .await;
    let waiting = engine.submit("sh", "true").await;
    let why = engine
        .svc
        .queue_state(waiting.as_str())
        .await
        .unwrap()
        .reason;
    assert!(
        why.contains("--agents") && why.contains("only agent claude") && why.contains("`sh`"),
        "{why}"
    );
    engine.svc.shutdown().await;
}
