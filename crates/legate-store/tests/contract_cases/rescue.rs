//! Rescuing runs whose runner was lost, by owner or by lapsed lease, and heartbeats.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use legate_domain::{ErrorKind, EventKind, Status, TaskId};
use legate_store::{ClaimRequest, RescueScope, Rescued, Store, StoreError};

use super::support::{
    agents, claim_one, claim_req, events_of, get, insert, kinds, poll_until, process, success,
};

fn find<'a>(rescued: &'a [Rescued], id: &TaskId) -> &'a Rescued {
    rescued
        .iter()
        .find(|r| &r.task.id == id)
        .unwrap_or_else(|| panic!("{id} was not rescued"))
}

fn short_lease(owner: &str) -> ClaimRequest {
    ClaimRequest {
        lease_ttl: Duration::from_millis(1),
        ..claim_req(owner, 100, 1)
    }
}

pub async fn rescue_not_owned_by_interrupts_or_requeues_other_owners_runs(s: Arc<dyn Store>) {
    let lost = insert(&*s, "plain", "lost").await;
    let again = insert(&*s, "retry", "again").await;
    let mine = insert(&*s, "plain", "mine").await;
    let waiting = insert(&*s, "retry", "waiting").await;
    let dead = s.claim(&claim_req("dead", 10, 2)).await.unwrap();
    assert_eq!(dead.len(), 2);
    s.record_process(&dead[0].lease, process(101))
        .await
        .unwrap();
    s.record_process(&dead[1].lease, process(102))
        .await
        .unwrap();
    let alive = claim_one(&*s, &claim_req("alive", 10, 1)).await;
    assert_eq!(alive.task.id, mine);
    s.record_process(&alive.lease, process(103)).await.unwrap();

    let scope = RescueScope::NotOwnedBy("alive".into());
    let requeue = agents(&["retry"]);
    let rescued = s
        .rescue(&scope, &requeue, "daemon restarted")
        .await
        .unwrap();
    assert_eq!(rescued.len(), 2, "only the other owner's runs");

    let r = find(&rescued, &lost);
    assert_eq!(r.task.status, Status::Interrupted);
    assert_eq!(r.process, Some(process(101)), "the process to clean up");
    let error = r
        .task
        .error
        .as_ref()
        .expect("an interrupted task has an error");
    assert_eq!(error.kind, ErrorKind::Interrupted);
    assert_eq!(error.message, "daemon restarted");
    assert!(r.task.finished_at.is_some());
    assert_eq!(
        kinds(&r.events),
        [EventKind::Interrupted, EventKind::Finished]
    );
    assert_eq!(r.events[1].data["status"], "interrupted");
    assert!(r.events.iter().all(|e| e.task_id == lost));
    assert_eq!(get(&*s, &lost).await.status, Status::Interrupted);
    assert!(
        events_of(&*s, &lost).await.ends_with(&r.events),
        "returned = stored"
    );

    let r = find(&rescued, &again);
    assert_eq!(r.task.status, Status::Queued);
    assert_eq!(r.task.error, None);
    assert_eq!(r.task.finished_at, None);
    assert_eq!(r.process, Some(process(102)));
    assert_eq!(
        kinds(&r.events),
        [EventKind::Interrupted, EventKind::Requeued]
    );
    assert!(r.events.iter().all(|e| e.task_id == again));
    assert!(r.events[0].seq < r.events[1].seq);
    assert_eq!(get(&*s, &again).await.status, Status::Queued);
    assert!(events_of(&*s, &again).await.ends_with(&r.events));

    let untouched = get(&*s, &mine).await;
    assert_eq!(
        untouched.status,
        Status::Running,
        "the given owner's run stays"
    );
    assert_eq!(untouched.process, Some(process(103)));
    assert_eq!(get(&*s, &waiting).await.status, Status::Queued);
    assert_eq!(
        kinds(&events_of(&*s, &waiting).await),
        [EventKind::Queued],
        "queued tasks are not rescued"
    );

    assert!(
        s.rescue(&scope, &requeue, "again")
            .await
            .unwrap()
            .is_empty(),
        "nothing left to rescue"
    );
    let (t, _) = s.finish(&alive.lease, success()).await.unwrap();
    assert_eq!(
        t.status,
        Status::Succeeded,
        "the untouched lease still holds"
    );
}

pub async fn requeued_task_gets_a_new_attempt_and_the_old_lease_is_dead(s: Arc<dyn Store>) {
    let id = insert(&*s, "retry", "x").await;
    let old = claim_one(&*s, &claim_req("w", 10, 1)).await;
    assert_eq!(old.lease.attempt, 1);
    let rescued = s
        .rescue(
            &RescueScope::NotOwnedBy("other".into()),
            &agents(&["retry"]),
            "lost",
        )
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].task.status, Status::Queued);
    assert!(
        matches!(
            s.finish(&old.lease, success()).await,
            Err(StoreError::LeaseLost(ref lost)) if lost == &id
        ),
        "the old lease cannot finish a requeued task"
    );
    assert!(matches!(
        s.record_process(&old.lease, process(5)).await,
        Err(StoreError::LeaseLost(_))
    ));

    // The same owner claims it again: only the attempt tells the leases apart.
    let new = claim_one(&*s, &claim_req("w", 10, 1)).await;
    assert_eq!(new.task.id, id);
    assert_eq!(new.lease.attempt, 2, "the attempt is the fencing token");
    assert_eq!(new.task.attempt, 2);
    assert!(
        matches!(
            s.finish(&old.lease, success()).await,
            Err(StoreError::LeaseLost(_))
        ),
        "a stale runner's late finish"
    );
    assert_eq!(get(&*s, &id).await.status, Status::Running);

    let (t, ev) = s.finish(&new.lease, success()).await.unwrap();
    assert_eq!((t.status, t.attempt), (Status::Succeeded, 2));
    assert_eq!(ev.data["status"], "succeeded");
    assert_eq!(
        kinds(&events_of(&*s, &id).await),
        [
            EventKind::Queued,
            EventKind::Started,
            EventKind::Interrupted,
            EventKind::Requeued,
            EventKind::Started,
            EventKind::Finished
        ]
    );
}

pub async fn rescue_expired_takes_lapsed_leases(s: Arc<dyn Store>) {
    let lapsing = insert(&*s, "a", "lapses").await;
    let healthy = insert(&*s, "a", "healthy").await;
    let c = claim_one(&*s, &short_lease("w1")).await;
    assert_eq!(c.task.id, lapsing);
    claim_one(&*s, &claim_req("w2", 100, 1)).await;

    let rescued = poll_until("the lapsed lease to be rescued", async || {
        let r = s
            .rescue(&RescueScope::Expired, &BTreeSet::new(), "lease lapsed")
            .await
            .unwrap();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].task.id, lapsing);
    assert_eq!(rescued[0].task.status, Status::Interrupted);
    assert_eq!(
        rescued[0].task.error.as_ref().map(|e| e.message.as_str()),
        Some("lease lapsed")
    );
    assert_eq!(get(&*s, &healthy).await.status, Status::Running);
    assert!(matches!(
        s.finish(&c.lease, success()).await,
        Err(StoreError::LeaseLost(_))
    ));
    assert_eq!(
        s.heartbeat("w1", Duration::from_secs(60)).await.unwrap(),
        0,
        "the rescued lease is gone"
    );
}

pub async fn heartbeat_keeps_a_lease_from_expiring(s: Arc<dyn Store>) {
    let kept = insert(&*s, "a", "kept").await;
    let lapsed = insert(&*s, "a", "lapsed").await;
    let k = claim_one(&*s, &short_lease("keeper")).await;
    assert_eq!(k.task.id, kept);
    claim_one(&*s, &short_lease("sleeper")).await;
    assert_eq!(
        s.heartbeat("keeper", Duration::from_secs(60))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.heartbeat("nobody", Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );

    // Both leases were 1 ms long; by the time the unrenewed one is rescued, the renewed one
    // would have lapsed too without its heartbeat.
    let mut seen: Vec<TaskId> = Vec::new();
    poll_until("the unrenewed lease to be rescued", async || {
        let r = s
            .rescue(&RescueScope::Expired, &BTreeSet::new(), "lease lapsed")
            .await
            .unwrap();
        seen.extend(r.iter().map(|r| r.task.id.clone()));
        seen.contains(&lapsed).then_some(())
    })
    .await;
    assert_eq!(seen, [lapsed], "the renewed lease was never rescued");
    assert_eq!(get(&*s, &kept).await.status, Status::Running);
    let (t, _) = s.finish(&k.lease, success()).await.unwrap();
    assert_eq!(t.status, Status::Succeeded);
    assert_eq!(
        s.heartbeat("keeper", Duration::from_secs(60))
            .await
            .unwrap(),
        0,
        "finished runs hold no lease"
    );
}

pub async fn rescue_owned_by_takes_only_that_owners_runs(s: Arc<dyn Store>) {
    let leaving = insert(&*s, "a", "leaving").await;
    let staying = insert(&*s, "a", "staying").await;
    claim_one(&*s, &claim_req("w1", 10, 1)).await;
    let other = claim_one(&*s, &claim_req("w2", 10, 1)).await;
    assert_eq!(other.task.id, staying);

    let rescued = s
        .rescue(
            &RescueScope::OwnedBy("w1".into()),
            &BTreeSet::new(),
            "shutdown",
        )
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].task.id, leaving);
    assert_eq!(rescued[0].task.status, Status::Interrupted);
    assert_eq!(get(&*s, &staying).await.status, Status::Running);
    assert!(
        s.rescue(
            &RescueScope::OwnedBy("w1".into()),
            &BTreeSet::new(),
            "again"
        )
        .await
        .unwrap()
        .is_empty()
    );
}

pub async fn rescue_owned_by_prefix_takes_only_that_machines_runs(s: Arc<dyn Store>) {
    let old_here = insert(&*s, "a", "old here").await;
    let elsewhere = insert(&*s, "a", "elsewhere").await;
    let lookalike = insert(&*s, "a", "lookalike").await;
    claim_one(&*s, &claim_req("daemon-hosta-0-111", 10, 1)).await;
    claim_one(&*s, &claim_req("daemon-hostb-0-222", 10, 1)).await;
    claim_one(&*s, &claim_req("daemon-hosta-01-333", 10, 1)).await;
    let rescued = s
        .rescue(
            &RescueScope::OwnedByPrefix("daemon-hosta-0-".into()),
            &BTreeSet::new(),
            "restart",
        )
        .await
        .unwrap();
    let ids: Vec<_> = rescued.iter().map(|r| r.task.id.clone()).collect();
    assert_eq!(ids, [old_here]);
    assert_eq!(get(&*s, &elsewhere).await.status, Status::Running);
    assert_eq!(get(&*s, &lookalike).await.status, Status::Running);
}
