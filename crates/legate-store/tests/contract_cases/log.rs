//! The event log (order, paging, per-task filter) and pruning.

use std::collections::BTreeSet;
use std::sync::Arc;

use legate_domain::{ErrorKind, Event, EventFilter, EventKind, Outcome, Status, TaskId, Timestamp};
use legate_store::{Change, Lease, RescueScope, Store};

use super::support::{
    agents, all_events, claim_agent, claim_one, claim_req, events_of, for_task, get, insert, kinds,
    new_task, now, poll_until, process, prune, success,
};

fn assert_gapless(events: &[Event]) {
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq + 1,
            "seq must increase by one: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

pub async fn events_are_strictly_increasing_and_gapless_across_operations(s: Arc<dyn Store>) {
    let mut returned: Vec<Event> = Vec::new();
    let mut ids = Vec::new();
    for (agent, key) in [("plain", None), ("retry", None), ("plain", Some("k"))] {
        let mut t = new_task(agent, "x");
        t.dedupe_key = key.map(String::from);
        let ins = s.insert(t).await.unwrap();
        returned.push(ins.event.unwrap());
        ids.push(ins.task.id);
    }
    let mut dup = new_task("plain", "dup");
    dup.dedupe_key = Some("k".into());
    assert!(s.insert(dup).await.unwrap().event.is_none());

    let claimed = s.claim(&claim_req("w", 10, 2)).await.unwrap();
    returned.extend(claimed.iter().map(|c| c.event.clone()));
    s.record_process(&claimed[0].lease, process(9))
        .await
        .unwrap();
    returned.push(s.request_cancel(&ids[0]).await.unwrap().unwrap());
    s.heartbeat("w", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    returned.push(s.cancel_queued(&ids[2]).await.unwrap().unwrap().1);
    let canceled = Outcome::failed(Status::Canceled, ErrorKind::Canceled, "asked");
    returned.push(s.finish(&claimed[0].lease, canceled).await.unwrap().1);
    let refused = Lease {
        owner: "nobody".into(),
        ..claimed[1].lease.clone()
    };
    assert!(s.finish(&refused, success()).await.is_err());
    let rescued = s
        .rescue(
            &RescueScope::NotOwnedBy("new".into()),
            &agents(&["retry"]),
            "lost",
        )
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    returned.extend(rescued[0].events.iter().cloned());
    let again = claim_one(&*s, &claim_req("new", 10, 1)).await;
    returned.push(again.event.clone());
    returned.push(s.finish(&again.lease, success()).await.unwrap().1);

    let log = all_events(&*s).await;
    assert_eq!(log.len(), 12);
    assert_eq!(
        log, returned,
        "the log holds exactly the events returned, in commit order"
    );
    assert!(log[0].seq > 0);
    assert_gapless(&log);
    assert!(log.iter().all(|e| ids.contains(&e.task_id)));
}

pub async fn events_after_honours_limit_and_pages(s: Arc<dyn Store>) {
    for i in 0..4 {
        insert(&*s, "a", &format!("task {i}")).await;
    }
    for c in s.claim(&claim_req("w", 10, 3)).await.unwrap() {
        s.finish(&c.lease, success()).await.unwrap();
    }
    let all = all_events(&*s).await;
    assert_eq!(all.len(), 10);
    assert_gapless(&all);

    assert_eq!(
        s.events_after(0, 3, &EventFilter::default()).await.unwrap(),
        all[..3]
    );
    assert_eq!(
        s.events_after(all[2].seq, 3, &EventFilter::default())
            .await
            .unwrap(),
        all[3..6]
    );
    assert_eq!(
        s.events_after(all[8].seq, 3, &EventFilter::default())
            .await
            .unwrap(),
        all[9..]
    );
    assert!(
        s.events_after(all[9].seq, 3, &EventFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.events_after(0, 0, &EventFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "limit 0"
    );

    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .events_after(after, 4, &EventFilter::default())
            .await
            .unwrap();
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        after = last.seq;
        paged.extend(page);
    }
    assert_eq!(paged, all, "resuming from the last seq misses nothing");
}

pub async fn events_after_filters_by_task(s: Arc<dyn Store>) {
    let a = insert(&*s, "a", "a").await;
    let b = insert(&*s, "a", "b").await;
    let claimed = s.claim(&claim_req("w", 10, 2)).await.unwrap();
    s.request_cancel(&b).await.unwrap().unwrap();
    s.finish(&claimed[0].lease, success()).await.unwrap();
    s.finish(&claimed[1].lease, success()).await.unwrap();
    let all = all_events(&*s).await;

    let of_a = events_of(&*s, &a).await;
    let expected: Vec<Event> = all.iter().filter(|e| e.task_id == a).cloned().collect();
    assert_eq!(of_a, expected);
    assert_eq!(
        kinds(&of_a),
        [EventKind::Queued, EventKind::Started, EventKind::Finished]
    );
    let of_b = events_of(&*s, &b).await;
    assert_eq!(
        kinds(&of_b),
        [
            EventKind::Queued,
            EventKind::Started,
            EventKind::CancelRequested,
            EventKind::Finished
        ]
    );
    assert!(of_b.windows(2).all(|p| p[0].seq < p[1].seq));

    // `after` and `limit` apply within the filter, across the other task's events.
    let next = s.events_after(of_a[0].seq, 1, &for_task(&a)).await.unwrap();
    assert_eq!(next, of_a[1..2]);
    let rest = s
        .events_after(of_a[1].seq, 10, &for_task(&a))
        .await
        .unwrap();
    assert_eq!(rest, of_a[2..]);

    let mut unknown = TaskId::generate();
    while unknown == a || unknown == b {
        unknown = TaskId::generate();
    }
    assert!(events_of(&*s, &unknown).await.is_empty());
}

pub async fn prune_removes_only_old_terminal_tasks_and_their_events(s: Arc<dyn Store>) {
    // Old runs, ending in each terminal status.
    let old: Vec<TaskId> = {
        let mut ids = Vec::new();
        for agent in ["ok", "fail", "slow", "lost", "retry"] {
            ids.push(insert(&*s, agent, agent).await);
        }
        ids
    };
    let runs = s.claim(&claim_req("dead", 100, 5)).await.unwrap();
    assert_eq!(runs.len(), 5);
    s.finish(&runs[0].lease, success()).await.unwrap();
    let fail = Outcome::failed(Status::Failed, ErrorKind::ExitNonzero, "exit 1");
    s.finish(&runs[1].lease, fail).await.unwrap();
    let slow = Outcome::failed(Status::TimedOut, ErrorKind::TimedOut, "too slow");
    s.finish(&runs[2].lease, slow).await.unwrap();
    let rescued = s
        .rescue(
            &RescueScope::NotOwnedBy("alive".into()),
            &agents(&["retry"]),
            "lost",
        )
        .await
        .unwrap();
    assert_eq!(rescued.len(), 2);
    let canceled = insert(&*s, "cancel", "cancel").await;
    s.cancel_queued(&canceled).await.unwrap().unwrap();
    let requeued = old[4].clone();
    assert_eq!(get(&*s, &requeued).await.status, Status::Queued);

    let mut doomed: Vec<TaskId> = old[..4].to_vec();
    doomed.push(canceled);
    let mut cutoff = 0;
    for id in &doomed {
        let t = get(&*s, id).await;
        assert!(t.status.is_terminal());
        cutoff = cutoff.max(t.finished_at.unwrap().millis() + 1);
    }
    let cutoff = Timestamp(cutoff);
    // Everything from here on finishes at or after the cutoff.
    poll_until("the clock to reach the cutoff", async || {
        (now() >= cutoff).then_some(())
    })
    .await;

    let late = insert(&*s, "late", "late").await;
    let c = claim_one(&*s, &claim_agent("alive", "late", 1)).await;
    s.finish(&c.lease, success()).await.unwrap();
    assert!(get(&*s, &late).await.finished_at.unwrap() >= cutoff);
    let queued = insert(&*s, "idle", "idle").await;
    let running = insert(&*s, "busy", "busy").await;
    claim_one(&*s, &claim_agent("alive", "busy", 1)).await;

    let mut doomed_events = 0;
    for id in &doomed {
        doomed_events += events_of(&*s, id).await.len() as u64;
    }
    let kept = [late.clone(), requeued, queued, running];
    let mut kept_events = Vec::new();
    for id in &kept {
        kept_events.push(events_of(&*s, id).await);
    }
    let total = all_events(&*s).await.len() as u64;

    let nothing = prune(&*s, Timestamp(0), true).await;
    assert!(nothing.tasks.is_empty());
    assert_eq!(nothing.events, 0);

    let pruned = prune(&*s, cutoff, true).await;
    let got: BTreeSet<TaskId> = pruned.tasks.iter().cloned().collect();
    assert_eq!(got.len(), pruned.tasks.len(), "each id once");
    assert_eq!(got, doomed.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(pruned.events, doomed_events);
    for id in &doomed {
        assert!(
            s.get(id, false).await.unwrap().is_none(),
            "{id} should be gone"
        );
        assert!(
            events_of(&*s, id).await.is_empty(),
            "{id}'s events should be gone"
        );
    }
    for (id, events) in kept.iter().zip(&kept_events) {
        assert!(
            s.get(id, false).await.unwrap().is_some(),
            "{id} should stay"
        );
        assert_eq!(
            &events_of(&*s, id).await,
            events,
            "{id}'s events should stay"
        );
    }
    assert_eq!(all_events(&*s).await.len() as u64, total - doomed_events);
    assert!(
        prune(&*s, cutoff, true).await.tasks.is_empty(),
        "already pruned"
    );

    let later = prune(&*s, Timestamp(i64::MAX), true).await;
    assert_eq!(
        later.tasks,
        [late],
        "queued and running tasks are never pruned"
    );
    assert_eq!(later.events, kept_events[0].len() as u64);
}

pub async fn last_seq_is_the_newest_event_and_changes_announce_commits(s: Arc<dyn Store>) {
    assert_eq!(s.last_seq().await.unwrap(), 0);
    let mut changes = s.changes().await.unwrap();
    let t = insert(s.as_ref(), "plain", "x").await;
    let newest = all_events(s.as_ref()).await.last().unwrap().seq;
    assert_eq!(s.last_seq().await.unwrap(), newest);
    // A shared store announces the commit (the queued event) to listeners; a private one has
    // nobody to tell.
    if let Some(rx) = changes.as_mut() {
        let change = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("a notice within 10 s")
            .expect("the listener is alive");
        assert_eq!(change, Change::Event(EventKind::Queued), "for task {t}");
    }
}
