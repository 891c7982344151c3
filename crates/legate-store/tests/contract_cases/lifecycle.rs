//! A claimed or queued task's changes: finish, process records, cancels.

use std::sync::Arc;

use legate_domain::{ErrorKind, EventKind, Outcome, Status, TaskError, TaskId, TransitionError};
use legate_store::{Lease, Store, StoreError};
use serde_json::json;

use super::support::{
    all_events, claim_one, claim_req, events_of, get, insert, kinds, new_task, process, success,
    without_prompt,
};

/// A lease-lost error for exactly this task.
fn assert_lease_lost<T: std::fmt::Debug>(result: Result<T, StoreError>, id: &TaskId, what: &str) {
    match result {
        Err(StoreError::LeaseLost(lost)) => assert_eq!(&lost, id, "{what}"),
        other => panic!("{what}: expected LeaseLost({id}), got {other:?}"),
    }
}

pub async fn finish_with_the_current_lease_records_the_outcome(s: Arc<dyn Store>) {
    let mut t = new_task("a", "fails");
    t.metadata = json!({"keep": true});
    let failing = s.insert(t).await.unwrap().task.id;
    let succeeding = insert(&*s, "a", "succeeds").await;
    let timing_out = insert(&*s, "a", "times out").await;
    let claimed = s.claim(&claim_req("w", 10, 10)).await.unwrap();
    assert_eq!(claimed.len(), 3);

    let failed = Outcome {
        status: Status::Failed,
        exit_code: Some(3),
        signal: None,
        result: Some("partial".into()),
        error: Some(TaskError {
            kind: ErrorKind::ExitNonzero,
            message: "exited with code 3".into(),
        }),
        metadata: [("output_truncated".to_string(), json!(true))]
            .into_iter()
            .collect(),
    };
    let (t, ev) = s.finish(&claimed[0].lease, failed).await.unwrap();
    assert_eq!(t.id, failing);
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.exit_code, Some(3));
    assert_eq!(t.signal, None);
    assert_eq!(t.result.as_deref(), Some("partial"));
    assert_eq!(
        t.error,
        Some(TaskError {
            kind: ErrorKind::ExitNonzero,
            message: "exited with code 3".into()
        })
    );
    assert_eq!(t.attempt, 1);
    assert_eq!(
        t.metadata,
        json!({"keep": true, "output_truncated": true}),
        "outcome metadata merges into the task's"
    );
    let (started, finished) = (t.started_at.unwrap(), t.finished_at.unwrap());
    assert!(finished >= started);
    assert_eq!(ev.kind, EventKind::Finished);
    assert_eq!(ev.task_id, failing);
    assert_eq!(ev.data["status"], "failed");
    assert!(ev.seq > claimed[2].event.seq);
    assert_eq!(
        get(&*s, &failing).await,
        without_prompt(t.clone()),
        "the returned task is the stored one"
    );
    let log = events_of(&*s, &failing).await;
    assert_eq!(
        kinds(&log),
        [EventKind::Queued, EventKind::Started, EventKind::Finished]
    );
    assert_eq!(log.last(), Some(&ev));

    let (t, ev) = s.finish(&claimed[1].lease, success()).await.unwrap();
    assert_eq!(t.id, succeeding);
    assert_eq!(t.status, Status::Succeeded);
    assert_eq!((t.exit_code, t.result.as_deref()), (Some(0), Some("ok")));
    assert_eq!(t.error, None);
    assert_eq!(ev.data["status"], "succeeded");

    let mut timed_out = Outcome::failed(Status::TimedOut, ErrorKind::TimedOut, "ran 10s");
    timed_out.signal = Some(9);
    let (t, ev) = s.finish(&claimed[2].lease, timed_out).await.unwrap();
    assert_eq!(t.id, timing_out);
    assert_eq!(t.status, Status::TimedOut);
    assert_eq!(t.signal, Some(9));
    assert_eq!(t.error.unwrap().kind, ErrorKind::TimedOut);
    assert_eq!(ev.data["status"], "timed_out");

    let before = get(&*s, &failing).await;
    assert_lease_lost(
        s.finish(&claimed[0].lease, success()).await,
        &failing,
        "finishing twice",
    );
    assert_eq!(
        get(&*s, &failing).await,
        before,
        "the refused finish changed nothing"
    );
}

pub async fn finish_is_fenced_on_owner_and_attempt(s: Arc<dyn Store>) {
    let id = insert(&*s, "a", "x").await;
    let c = claim_one(&*s, &claim_req("w1", 10, 1)).await;
    let snapshot = s.get(&id, true).await.unwrap();
    let events = all_events(&*s).await;

    let wrong_owner = Lease {
        owner: "w2".into(),
        ..c.lease.clone()
    };
    let old_attempt = Lease {
        attempt: c.lease.attempt - 1,
        ..c.lease.clone()
    };
    let future_attempt = Lease {
        attempt: c.lease.attempt + 1,
        ..c.lease.clone()
    };
    for (lease, what) in [
        (&wrong_owner, "another owner"),
        (&old_attempt, "an older attempt"),
        (&future_attempt, "a later attempt"),
    ] {
        assert_lease_lost(s.finish(lease, success()).await, &id, what);
        assert_eq!(
            s.get(&id, true).await.unwrap(),
            snapshot,
            "{what} changed the task"
        );
        assert_eq!(all_events(&*s).await, events, "{what} wrote an event");
    }

    let (t, _) = s.finish(&c.lease, success()).await.unwrap();
    assert_eq!(t.status, Status::Succeeded);
    assert_lease_lost(s.finish(&c.lease, success()).await, &id, "finishing again");
    assert_lease_lost(
        s.finish(&wrong_owner, success()).await,
        &id,
        "another owner after the finish",
    );
    assert_eq!(get(&*s, &id).await, without_prompt(t));

    let mut unknown = TaskId::generate();
    while unknown == id {
        unknown = TaskId::generate();
    }
    let ghost = Lease {
        task_id: unknown,
        ..c.lease.clone()
    };
    assert!(matches!(
        s.finish(&ghost, success()).await,
        Err(StoreError::LeaseLost(_) | StoreError::NotFound(_))
    ));
}

pub async fn finish_to_a_non_terminal_status_is_a_transition_error(s: Arc<dyn Store>) {
    let id = insert(&*s, "a", "x").await;
    let c = claim_one(&*s, &claim_req("w", 10, 1)).await;
    let snapshot = get(&*s, &id).await;
    let events = all_events(&*s).await;
    for to in [Status::Queued, Status::Running] {
        let outcome = Outcome {
            status: to,
            ..success()
        };
        match s.finish(&c.lease, outcome).await {
            Err(StoreError::Transition(e)) => {
                assert_eq!(
                    e,
                    TransitionError {
                        from: Status::Running,
                        to
                    }
                )
            }
            other => panic!("finish to {to}: expected a transition error, got {other:?}"),
        }
        assert_eq!(
            get(&*s, &id).await,
            snapshot,
            "finish to {to} changed the task"
        );
        assert_eq!(
            all_events(&*s).await,
            events,
            "finish to {to} wrote an event"
        );
    }
    let (t, _) = s.finish(&c.lease, success()).await.unwrap();
    assert_eq!(
        t.status,
        Status::Succeeded,
        "the lease survived the refused finishes"
    );
}

pub async fn record_process_is_fenced_on_the_lease(s: Arc<dyn Store>) {
    let id = insert(&*s, "a", "x").await;
    let c = claim_one(&*s, &claim_req("w", 10, 1)).await;
    assert_eq!(get(&*s, &id).await.process, None);
    let events = all_events(&*s).await;

    s.record_process(&c.lease, process(4242)).await.unwrap();
    assert_eq!(get(&*s, &id).await.process, Some(process(4242)));
    assert_eq!(
        all_events(&*s).await,
        events,
        "recording a process writes no event"
    );

    let wrong_owner = Lease {
        owner: "intruder".into(),
        ..c.lease.clone()
    };
    let old_attempt = Lease {
        attempt: 0,
        ..c.lease.clone()
    };
    for (lease, what) in [
        (&wrong_owner, "another owner"),
        (&old_attempt, "an older attempt"),
    ] {
        assert_lease_lost(s.record_process(lease, process(1)).await, &id, what);
        assert_eq!(
            get(&*s, &id).await.process,
            Some(process(4242)),
            "{what} changed the process"
        );
    }

    s.finish(&c.lease, success()).await.unwrap();
    assert_lease_lost(
        s.record_process(&c.lease, process(7)).await,
        &id,
        "recording after the finish",
    );
}

pub async fn cancel_queued_cancels_only_queued_tasks(s: Arc<dyn Store>) {
    let running = insert(&*s, "a", "runs").await;
    let queued = insert(&*s, "a", "waits").await;
    let c = claim_one(&*s, &claim_req("w", 1, 1)).await;
    assert_eq!(c.task.id, running);

    assert!(
        s.cancel_queued(&running).await.unwrap().is_none(),
        "running is not queued"
    );
    assert_eq!(get(&*s, &running).await.status, Status::Running);

    let (t, ev) = s
        .cancel_queued(&queued)
        .await
        .unwrap()
        .expect("queued cancels");
    assert_eq!(t.id, queued);
    assert_eq!(t.status, Status::Canceled);
    assert_eq!(t.error.as_ref().map(|e| e.kind), Some(ErrorKind::Canceled));
    assert!(t.finished_at.is_some());
    assert_eq!(t.attempt, 0, "it never ran");
    assert_eq!(ev.kind, EventKind::Finished);
    assert_eq!(ev.task_id, queued);
    assert_eq!(ev.data["status"], "canceled");
    assert_eq!(get(&*s, &queued).await, without_prompt(t));
    assert_eq!(
        kinds(&events_of(&*s, &queued).await),
        [EventKind::Queued, EventKind::Finished]
    );

    assert!(
        s.cancel_queued(&queued).await.unwrap().is_none(),
        "not queued any more"
    );
    s.finish(&c.lease, success()).await.unwrap();
    assert!(
        s.claim(&claim_req("w", 10, 10)).await.unwrap().is_empty(),
        "nothing left to run"
    );
    assert!(
        s.cancel_queued(&running).await.unwrap().is_none(),
        "finished"
    );
}

pub async fn request_cancel_marks_a_running_task_once(s: Arc<dyn Store>) {
    let running = insert(&*s, "a", "runs").await;
    let queued = insert(&*s, "a", "waits").await;
    let c = claim_one(&*s, &claim_req("w", 1, 1)).await;
    assert_eq!(c.task.id, running);
    assert!(!c.task.cancel_requested);

    assert!(
        s.request_cancel(&queued).await.unwrap().is_none(),
        "queued is not running"
    );
    assert!(!get(&*s, &queued).await.cancel_requested);

    let ev = s
        .request_cancel(&running)
        .await
        .unwrap()
        .expect("running asks once");
    assert_eq!(ev.kind, EventKind::CancelRequested);
    assert_eq!(ev.task_id, running);
    assert!(ev.seq > c.event.seq);
    let t = get(&*s, &running).await;
    assert!(t.cancel_requested);
    assert_eq!(t.status, Status::Running, "only asked; the runner ends it");

    assert!(
        s.request_cancel(&running).await.unwrap().is_none(),
        "only once"
    );
    let asked = events_of(&*s, &running)
        .await
        .into_iter()
        .filter(|e| e.kind == EventKind::CancelRequested)
        .collect::<Vec<_>>();
    assert_eq!(asked, [ev]);

    let canceled = Outcome::failed(Status::Canceled, ErrorKind::Canceled, "canceled");
    let (t, _) = s.finish(&c.lease, canceled).await.unwrap();
    assert_eq!(t.status, Status::Canceled);
    assert!(
        s.request_cancel(&running).await.unwrap().is_none(),
        "finished"
    );
}
