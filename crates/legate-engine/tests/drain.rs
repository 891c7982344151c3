//! Draining and stopping, in-process: a draining engine refuses new work with `draining`,
//! reports itself drained once nothing is queued or running, and a stopping engine answers
//! the waits it holds with `shutting_down`. A real engine on a real SQLite file.

mod support;

use std::time::Duration;

use legate_domain::TaskEnv;
use legate_domain::api::{ErrorCode, SubmitRequest, WaitRequest};
use legate_engine::{Caller, Service};

async fn engine(dir: &std::path::Path) -> Service {
    support::open(dir, "[limits]\nmax_running = 1\n", 64).await
}

fn sh(script: &str) -> SubmitRequest {
    SubmitRequest {
        agent: "sh".into(),
        prompt: script.into(),
        origin: Some("test".into()),
        env: Some(TaskEnv::of_this_process()),
        ..SubmitRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_engine_refuses_new_work_and_is_drained_once_its_tasks_finish() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let svc = engine(dir.path()).await;
    let caller = Caller::unknown();
    let script = format!("while [ ! -e {} ]; do sleep 0.02; done", go.display());
    let running = svc.submit(sh(&script), &caller).await.unwrap().task.id;
    let queued = svc.submit(sh("true"), &caller).await.unwrap().task.id;

    svc.drain();
    assert!(svc.is_draining());
    let refused = svc.submit(sh("true"), &caller).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Draining, "{refused}");
    assert_eq!(svc.work_left().await.unwrap(), 2);

    let drained = tokio::spawn({
        let svc = svc.clone();
        async move { svc.drained().await }
    });
    std::fs::write(&go, "").unwrap();
    tokio::time::timeout(Duration::from_secs(60), drained)
        .await
        .expect("drained once both finished")
        .unwrap()
        .unwrap();
    for id in [running, queued] {
        let t = svc.get(id.as_str(), false).await.unwrap();
        assert_eq!(t.status, legate_domain::Status::Succeeded, "{}", t.id);
    }
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_engine_answers_its_waits_with_shutting_down() {
    let dir = tempfile::tempdir().unwrap();
    let svc = engine(dir.path()).await;
    let id = svc
        .submit(sh("sleep 600"), &Caller::unknown())
        .await
        .unwrap()
        .task
        .id;
    let waiting = tokio::spawn({
        let svc = svc.clone();
        let req = WaitRequest {
            ids: vec![id.to_string()],
            ..WaitRequest::default()
        };
        async move { svc.wait(&req).await }
    });
    svc.stopping();
    let answer = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("answered at once")
        .unwrap();
    assert_eq!(answer.unwrap_err().code, ErrorCode::ShuttingDown);
    let refused = svc
        .submit(sh("true"), &Caller::unknown())
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::ShuttingDown);
    svc.shutdown().await;
}
