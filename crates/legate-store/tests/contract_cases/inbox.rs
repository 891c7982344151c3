//! Results coming back: the inbox and its acknowledgements, events carrying their origin and
//! labels, progress fenced on the lease, retention sparing unread entries, durable cursors.

use std::sync::Arc;

use legate_domain::{ErrorKind, EventFilter, EventKind, Outcome, Status, TaskId, Timestamp};
use legate_store::{Lease, RescueScope, Store, StoreError};
use serde_json::json;

use super::support::{agents, all_events, claim_req, get, new_task, prune, success};

/// Inserts a task of `origin` with `labels`, returning its id.
async fn insert_from(s: &dyn Store, origin: &str, labels: &[&str]) -> TaskId {
    let mut t = new_task("a", origin);
    t.origin = origin.into();
    t.labels = labels.iter().map(|l| l.to_string()).collect();
    s.insert(t).await.unwrap().task.id
}

/// Claims everything queued and finishes it, in claim order (so in submission order).
async fn run_all(s: &dyn Store) -> Vec<TaskId> {
    let claimed = s.claim(&claim_req("w", 1000, 1000)).await.unwrap();
    let mut ids = Vec::new();
    for c in claimed {
        s.finish(&c.lease, success()).await.unwrap();
        ids.push(c.task.id);
    }
    ids
}

fn ids(tasks: &[legate_domain::Task]) -> Vec<TaskId> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

pub async fn inbox_holds_an_origins_finished_tasks_in_finish_order(s: Arc<dyn Store>) {
    let a1 = insert_from(&*s, "ann", &[]).await;
    let b1 = insert_from(&*s, "bob", &[]).await;
    let a2 = insert_from(&*s, "ann", &[]).await;
    assert!(
        s.inbox("ann", 10).await.unwrap().is_empty(),
        "nothing finished yet"
    );
    let queued = insert_from(&*s, "ann", &[]).await;
    // Finish in the order a2, a1 so finish order differs from submission order.
    let claimed = s.claim(&claim_req("w", 10, 3)).await.unwrap();
    for id in [&a2, &a1, &b1] {
        let c = claimed.iter().find(|c| &c.task.id == id).unwrap();
        s.finish(&c.lease, success()).await.unwrap();
    }
    assert_eq!(
        ids(&s.inbox("ann", 10).await.unwrap()),
        [a2.clone(), a1.clone()]
    );
    assert_eq!(
        ids(&s.inbox("bob", 10).await.unwrap()),
        std::slice::from_ref(&b1)
    );
    assert!(s.inbox("carol", 10).await.unwrap().is_empty());
    assert_eq!(
        ids(&s.inbox("ann", 1).await.unwrap()),
        std::slice::from_ref(&a2)
    );
    // Reading does not acknowledge.
    assert_eq!(s.inbox("ann", 10).await.unwrap().len(), 2);
    // A canceled queued task is finished too: it arrives in the inbox.
    s.cancel_queued(&queued).await.unwrap().unwrap();
    let ann = s.inbox("ann", 10).await.unwrap();
    assert_eq!(ids(&ann), [a2, a1, queued]);
    assert_eq!(ann[2].status, Status::Canceled);
    assert!(ann.iter().all(|t| t.acked_at.is_none()));
}

pub async fn ack_is_idempotent_and_scoped_to_its_origin(s: Arc<dyn Store>) {
    let a1 = insert_from(&*s, "ann", &[]).await;
    let a2 = insert_from(&*s, "ann", &[]).await;
    let b1 = insert_from(&*s, "bob", &[]).await;
    run_all(&*s).await;
    let running = insert_from(&*s, "ann", &[]).await;
    s.claim(&claim_req("w", 10, 10)).await.unwrap();

    // Another origin's task and an unfinished one are not acknowledged.
    let acked = s
        .ack("ann", Some(&[a1.clone(), b1.clone(), running.clone()]))
        .await
        .unwrap();
    assert_eq!(acked, std::slice::from_ref(&a1));
    assert!(get(&*s, &a1).await.acked_at.is_some());
    assert!(get(&*s, &b1).await.acked_at.is_none());
    assert!(get(&*s, &running).await.acked_at.is_none());
    // Again: nothing new, no error.
    assert!(
        s.ack("ann", Some(std::slice::from_ref(&a1)))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&s.inbox("ann", 10).await.unwrap()),
        std::slice::from_ref(&a2)
    );
    // All of an origin's inbox at once.
    assert_eq!(s.ack("ann", None).await.unwrap(), [a2]);
    assert!(s.ack("ann", None).await.unwrap().is_empty());
    assert_eq!(ids(&s.inbox("bob", 10).await.unwrap()), [b1]);
}

pub async fn orphans_are_unread_results_of_a_scope_finished_before_a_time(s: Arc<dyn Store>) {
    let scoped = |origin: &str, scope: Option<&str>| {
        let mut t = new_task("a", origin);
        t.origin = origin.into();
        if let Some(scope) = scope {
            t.metadata = json!({ legate_domain::api::SCOPE_KEY: scope });
        }
        t
    };
    let p1 = s
        .insert(scoped("ann", Some("project:/p")))
        .await
        .unwrap()
        .task
        .id;
    let q1 = s
        .insert(scoped("bob", Some("project:/q")))
        .await
        .unwrap()
        .task
        .id;
    let none = s.insert(scoped("cid", None)).await.unwrap().task.id;
    let p2 = s
        .insert(scoped("dan", Some("project:/p")))
        .await
        .unwrap()
        .task
        .id;
    let running = s
        .insert(scoped("eve", Some("project:/p")))
        .await
        .unwrap()
        .task
        .id;
    let claimed = s.claim(&claim_req("w", 10, 10)).await.unwrap();
    for c in &claimed {
        if c.task.id != running {
            s.finish(&c.lease, success()).await.unwrap();
        }
    }
    let now = Timestamp(i64::MAX);
    assert!(
        s.orphans(Some("project:/p"), Timestamp(0), 10)
            .await
            .unwrap()
            .is_empty(),
        "none finished before then"
    );
    assert_eq!(
        ids(&s.orphans(Some("project:/p"), now, 10).await.unwrap()),
        [p1.clone(), p2.clone()]
    );
    assert_eq!(
        ids(&s.orphans(None, now, 10).await.unwrap()),
        [p1.clone(), q1.clone(), none, p2.clone()]
    );
    assert_eq!(
        ids(&s.orphans(Some("project:/p"), now, 1).await.unwrap()),
        std::slice::from_ref(&p1)
    );
    // A read result is no orphan.
    s.ack("ann", Some(std::slice::from_ref(&p1))).await.unwrap();
    assert_eq!(
        ids(&s.orphans(Some("project:/p"), now, 10).await.unwrap()),
        [p2]
    );
}

pub async fn take_inbox_reads_and_acknowledges_at_once(s: Arc<dyn Store>) {
    let a1 = insert_from(&*s, "ann", &[]).await;
    let a2 = insert_from(&*s, "ann", &[]).await;
    let a3 = insert_from(&*s, "ann", &[]).await;
    run_all(&*s).await;
    assert_eq!(ids(&s.take_inbox("ann", 2).await.unwrap()), [a1, a2]);
    assert_eq!(ids(&s.take_inbox("ann", 10).await.unwrap()), [a3]);
    assert!(s.take_inbox("ann", 10).await.unwrap().is_empty());
}

pub async fn a_requeued_task_reenters_the_inbox_when_it_ends_again(s: Arc<dyn Store>) {
    let mut t = new_task("retry", "x");
    t.origin = "ann".into();
    let id = s.insert(t).await.unwrap().task.id;
    let first = s.claim(&claim_req("old", 10, 1)).await.unwrap();
    // Acknowledging an unfinished task does nothing.
    assert!(
        s.ack("ann", Some(std::slice::from_ref(&id)))
            .await
            .unwrap()
            .is_empty()
    );
    s.rescue(
        &RescueScope::NotOwnedBy("new".into()),
        &agents(&["retry"]),
        "lost",
    )
    .await
    .unwrap();
    assert_eq!(get(&*s, &id).await.status, Status::Queued);
    assert!(s.inbox("ann", 10).await.unwrap().is_empty());
    let second = s.claim(&claim_req("new", 10, 1)).await.unwrap();
    assert_eq!(second[0].lease.attempt, first[0].lease.attempt + 1);
    let fail = Outcome::failed(Status::Failed, ErrorKind::ExitNonzero, "exit 1");
    s.finish(&second[0].lease, fail).await.unwrap();
    let inbox = s.inbox("ann", 10).await.unwrap();
    assert_eq!(ids(&inbox), [id]);
    assert_eq!(inbox[0].status, Status::Failed);
}

pub async fn events_carry_origin_and_labels_and_filter_by_them(s: Arc<dyn Store>) {
    let a = insert_from(&*s, "ann", &["ci", "nightly"]).await;
    let b = insert_from(&*s, "bob", &["ci"]).await;
    let c = insert_from(&*s, "ann", &[]).await;
    run_all(&*s).await;
    let all = all_events(&*s).await;
    for e in &all {
        let want = if e.task_id == b { "bob" } else { "ann" };
        assert_eq!(e.origin, want, "{e:?}");
        let labels: &[&str] = if e.task_id == a {
            &["ci", "nightly"]
        } else if e.task_id == b {
            &["ci"]
        } else {
            &[]
        };
        assert_eq!(e.labels, labels, "{e:?}");
    }
    let filters = [
        EventFilter {
            origin: Some("ann".into()),
            ..Default::default()
        },
        EventFilter {
            label: Some("ci".into()),
            ..Default::default()
        },
        EventFilter {
            label: Some("nightly".into()),
            kinds: vec![EventKind::Finished],
            ..Default::default()
        },
        EventFilter {
            kinds: vec![EventKind::Started, EventKind::Finished],
            ..Default::default()
        },
        EventFilter {
            origin: Some("ann".into()),
            task: Some(c.clone()),
            ..Default::default()
        },
        EventFilter {
            label: Some("c".into()),
            ..Default::default()
        },
    ];
    for f in filters {
        let expected: Vec<_> = all.iter().filter(|e| f.matches(e)).cloned().collect();
        let got = s.events_after(0, 1000, &f).await.unwrap();
        assert_eq!(
            got, expected,
            "store and live filtering must agree for {f:?}"
        );
        // Paging within a filter.
        if expected.len() > 1 {
            let rest = s.events_after(expected[0].seq, 1000, &f).await.unwrap();
            assert_eq!(rest, expected[1..]);
        }
    }
    let finished_of_nightly = s
        .events_after(
            0,
            1000,
            &EventFilter {
                label: Some("nightly".into()),
                kinds: vec![EventKind::Finished],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(finished_of_nightly.len(), 1);
    assert_eq!(finished_of_nightly[0].task_id, a);
    assert_eq!(finished_of_nightly[0].data["title"], json!("ann"));
}

pub async fn progress_events_are_fenced_on_the_lease(s: Arc<dyn Store>) {
    let id = insert_from(&*s, "ann", &["x"]).await;
    let c = s.claim(&claim_req("w", 10, 1)).await.unwrap().remove(0);
    let ev = s
        .record_event(&c.lease, EventKind::Output, json!({"line": "step 1"}))
        .await
        .unwrap();
    assert_eq!((ev.kind, ev.origin.as_str()), (EventKind::Output, "ann"));
    assert_eq!(ev.labels, ["x"]);
    assert_eq!(ev.data["line"], "step 1");
    let stale = Lease {
        attempt: c.lease.attempt + 1,
        ..c.lease.clone()
    };
    let err = s
        .record_event(&stale, EventKind::Progress, json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)), "{err:?}");
    let other = Lease {
        owner: "x".into(),
        ..c.lease.clone()
    };
    assert!(
        s.record_event(&other, EventKind::Progress, json!({}))
            .await
            .is_err()
    );
    s.finish(&c.lease, success()).await.unwrap();
    assert!(
        s.record_event(&c.lease, EventKind::Output, json!({}))
            .await
            .is_err()
    );
    let kinds: Vec<EventKind> = all_events(&*s)
        .await
        .iter()
        .filter(|e| e.task_id == id)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Queued,
            EventKind::Started,
            EventKind::Output,
            EventKind::Finished
        ]
    );
}

pub async fn prune_spares_unread_inbox_entries_unless_asked(s: Arc<dyn Store>) {
    let read = insert_from(&*s, "ann", &[]).await;
    let unread = insert_from(&*s, "ann", &[]).await;
    let waiting = insert_from(&*s, "ann", &[]).await;
    let claimed = s.claim(&claim_req("w", 10, 2)).await.unwrap();
    for c in &claimed {
        s.finish(&c.lease, success()).await.unwrap();
    }
    s.ack("ann", Some(std::slice::from_ref(&read)))
        .await
        .unwrap();
    let all = Timestamp(i64::MAX);
    let c = s.prune_candidates(Some(all), false).await.unwrap();
    assert_eq!(
        c.tasks.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&read)
    );
    assert_eq!(c.kept_unacked, 1);
    // Removing an unread entry without `unacked` is refused silently (it stays).
    let none = s
        .remove(&[unread.clone(), waiting.clone()], false)
        .await
        .unwrap();
    assert!(none.tasks.is_empty());
    assert_eq!(
        prune(&*s, all, false).await.tasks,
        std::slice::from_ref(&read)
    );
    assert!(s.get(&read, false).await.unwrap().is_none());
    assert_eq!(prune(&*s, all, true).await.tasks, [unread]);
    assert_eq!(
        get(&*s, &waiting).await.status,
        Status::Queued,
        "unfinished tasks stay"
    );
    let c = s.prune_candidates(None, true).await.unwrap();
    assert!(c.tasks.is_empty());
}

pub async fn cursors_start_at_zero_and_keep_their_position(s: Arc<dyn Store>) {
    assert_eq!(s.cursor("notifier").await.unwrap(), 0);
    s.set_cursor("notifier", 41).await.unwrap();
    s.set_cursor("notifier", 42).await.unwrap();
    s.set_cursor("other", 7).await.unwrap();
    assert_eq!(s.cursor("notifier").await.unwrap(), 42);
    assert_eq!(s.cursor("other").await.unwrap(), 7);
}
