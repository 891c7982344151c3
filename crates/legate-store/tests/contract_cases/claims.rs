//! Claiming: order, caps and filters, alone and under concurrency.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use legate_domain::{EventKind, Status, TaskId};
use legate_store::{Claimed, Lease, Store, TaskFilter};

use super::support::{agents, claim_one, claim_req, count, get, insert, new_task, success};

fn claimed_ids(claimed: &[Claimed]) -> Vec<TaskId> {
    claimed.iter().map(|c| c.task.id.clone()).collect()
}

async fn running_of(s: &dyn Store, agent: &str) -> usize {
    s.list(&TaskFilter {
        statuses: vec![Status::Running],
        agent: Some(agent.into()),
        limit: 1000,
        ..Default::default()
    })
    .await
    .unwrap()
    .len()
}

pub async fn claim_takes_higher_priority_first_then_fifo(s: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for (i, priority) in [0, 5, -1, 5, 0, 10].into_iter().enumerate() {
        let mut t = new_task("a", &format!("task {i}"));
        t.priority = priority;
        ids.push(s.insert(t).await.unwrap().task.id);
    }

    let first = claim_one(&*s, &claim_req("w", 100, 1)).await;
    assert_eq!(first.task.id, ids[5], "highest priority first");
    assert_eq!(first.task.status, Status::Running);
    assert_eq!(first.task.attempt, 1);
    assert!(first.task.started_at.is_some());
    assert_eq!(
        first.task.prompt.as_deref(),
        Some("task 5"),
        "a claim carries the prompt"
    );
    assert_eq!(
        first.lease,
        Lease {
            task_id: ids[5].clone(),
            owner: "w".into(),
            attempt: 1
        }
    );
    assert_eq!(first.event.kind, EventKind::Started);
    assert_eq!(first.event.task_id, ids[5]);
    assert_eq!(get(&*s, &ids[5]).await.status, Status::Running);

    let rest = s.claim(&claim_req("w", 100, 100)).await.unwrap();
    assert_eq!(
        claimed_ids(&rest),
        [&ids[1], &ids[3], &ids[0], &ids[4], &ids[2]].map(Clone::clone),
        "priority descending, submission order within a priority"
    );
    let mut seq = first.event.seq;
    for c in &rest {
        assert!(c.event.seq > seq, "started events in claim order");
        seq = c.event.seq;
        assert_eq!(c.lease.attempt, 1);
        assert_eq!(c.lease.owner, "w");
    }
    assert!(s.claim(&claim_req("w", 100, 100)).await.unwrap().is_empty());
}

pub async fn claim_respects_max_claims(s: Arc<dyn Store>) {
    for i in 0..5 {
        insert(&*s, "a", &format!("task {i}")).await;
    }
    assert!(s.claim(&claim_req("w", 100, 0)).await.unwrap().is_empty());
    assert_eq!(count(&*s, Status::Running).await, 0);
    let mut seen = BTreeSet::new();
    for expected in [2, 2, 1, 0] {
        let claimed = s.claim(&claim_req("w", 100, 2)).await.unwrap();
        assert_eq!(claimed.len(), expected);
        seen.extend(claimed_ids(&claimed));
    }
    assert_eq!(seen.len(), 5, "each task claimed once");
    assert_eq!(count(&*s, Status::Running).await, 5);
}

pub async fn claim_respects_max_running_across_claims_and_owners(s: Arc<dyn Store>) {
    for i in 0..10 {
        insert(
            &*s,
            if i % 2 == 0 { "a" } else { "b" },
            &format!("task {i}"),
        )
        .await;
    }
    let first = s.claim(&claim_req("w1", 3, 10)).await.unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(count(&*s, Status::Running).await, 3);
    assert!(s.claim(&claim_req("w1", 3, 10)).await.unwrap().is_empty());
    assert!(
        s.claim(&claim_req("w2", 3, 10)).await.unwrap().is_empty(),
        "the cap counts every owner's runs"
    );
    assert_eq!(count(&*s, Status::Running).await, 3);

    s.finish(&first[0].lease, success()).await.unwrap();
    let one = s.claim(&claim_req("w2", 3, 10)).await.unwrap();
    assert_eq!(one.len(), 1, "one slot freed");
    assert_eq!(count(&*s, Status::Running).await, 3);

    let more = s.claim(&claim_req("w2", 5, 10)).await.unwrap();
    assert_eq!(more.len(), 2, "a higher cap admits the difference");
    assert_eq!(count(&*s, Status::Running).await, 5);
    assert_eq!(count(&*s, Status::Queued).await, 4);
    assert_eq!(count(&*s, Status::Succeeded).await, 1);
}

pub async fn claim_respects_per_agent_caps_and_still_serves_other_agents(s: Arc<dyn Store>) {
    let mut ids: BTreeMap<&str, Vec<TaskId>> = BTreeMap::new();
    for agent in ["a", "b", "c", "a", "b", "c", "a", "b", "a", "d"] {
        let id = insert(&*s, agent, agent).await;
        ids.entry(agent).or_default().push(id);
    }
    let mut req = claim_req("w1", 100, 100);
    req.agent_caps = BTreeMap::from([("a".into(), 1), ("b".into(), 2), ("d".into(), 0)]);

    let claimed = s.claim(&req).await.unwrap();
    assert_eq!(
        claimed_ids(&claimed),
        [
            &ids["a"][0],
            &ids["b"][0],
            &ids["c"][0],
            &ids["b"][1],
            &ids["c"][1]
        ]
        .map(Clone::clone),
        "capped agents stop at their cap, the others are still claimed in order"
    );
    assert_eq!(running_of(&*s, "a").await, 1);
    assert_eq!(running_of(&*s, "b").await, 2);
    assert_eq!(running_of(&*s, "c").await, 2);
    assert_eq!(running_of(&*s, "d").await, 0, "a cap of 0 blocks the agent");

    let mut other = req.clone();
    other.owner = "w2".into();
    assert!(
        s.claim(&other).await.unwrap().is_empty(),
        "agent caps count every owner's runs"
    );

    let a0 = claimed.iter().find(|c| c.task.id == ids["a"][0]).unwrap();
    s.finish(&a0.lease, success()).await.unwrap();
    let next = s.claim(&other).await.unwrap();
    assert_eq!(
        claimed_ids(&next),
        [ids["a"][1].clone()],
        "the freed slot of a"
    );
    assert_eq!(running_of(&*s, "a").await, 1);
    assert_eq!(get(&*s, &ids["d"][0]).await.status, Status::Queued);
}

pub async fn claim_agents_filter_restricts_to_those_agents(s: Arc<dyn Store>) {
    let a1 = insert(&*s, "a", "a1").await;
    let mut urgent = new_task("b", "b1");
    urgent.priority = 9;
    let b1 = s.insert(urgent).await.unwrap().task.id;
    let c1 = insert(&*s, "c", "c1").await;
    let a2 = insert(&*s, "a", "a2").await;

    let mut req = claim_req("w", 100, 100);
    req.agents = Some(agents(&["zzz"]));
    assert!(
        s.claim(&req).await.unwrap().is_empty(),
        "no task of that agent"
    );
    req.agents = Some(agents(&[]));
    assert!(
        s.claim(&req).await.unwrap().is_empty(),
        "an empty set allows no agent"
    );

    req.agents = Some(agents(&["a", "c"]));
    let claimed = s.claim(&req).await.unwrap();
    assert_eq!(claimed_ids(&claimed), [a1, c1, a2]);
    assert_eq!(get(&*s, &b1).await.status, Status::Queued, "b was skipped");

    req.agents = Some(agents(&["b"]));
    assert_eq!(claimed_ids(&s.claim(&req).await.unwrap()), [b1]);
    assert_eq!(count(&*s, Status::Queued).await, 0);
}

pub async fn concurrent_claimers_respect_the_cap_and_claim_each_task_once(s: Arc<dyn Store>) {
    const TASKS: usize = 100;
    const WORKERS: usize = 20;
    const CAP: u32 = 4;
    let mut all = BTreeSet::new();
    for i in 0..TASKS {
        all.insert(insert(&*s, ["a", "b", "c"][i % 3], &format!("task {i}")).await);
    }
    // Claims handed out and not yet being finished. Incremented after a claim commits and
    // decremented before its finish starts, so it never counts a task the store does not
    // hold as running: it exceeds the cap only if the store does.
    let outstanding = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(WORKERS));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (s, outstanding, peak, start) = (
            Arc::clone(&s),
            Arc::clone(&outstanding),
            Arc::clone(&peak),
            Arc::clone(&start),
        );
        workers.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let mut mine = Vec::new();
            start.wait().await;
            loop {
                let claimed = s.claim(&claim_req(&owner, CAP, 2)).await.unwrap();
                if claimed.is_empty() {
                    if count(&*s, Status::Queued).await == 0 {
                        return mine;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                let now = outstanding.fetch_add(claimed.len(), Ordering::SeqCst) + claimed.len();
                peak.fetch_max(now, Ordering::SeqCst);
                assert!(now <= CAP as usize, "{now} claims outstanding, cap {CAP}");
                let running = count(&*s, Status::Running).await;
                assert!(running <= u64::from(CAP), "{running} running, cap {CAP}");
                // Let other claimers in while these are held.
                tokio::task::yield_now().await;
                for c in claimed {
                    assert_eq!(c.lease.owner, owner);
                    assert_eq!(c.lease.attempt, 1, "claimed before: {}", c.task.id);
                    mine.push(c.task.id.clone());
                    outstanding.fetch_sub(1, Ordering::SeqCst);
                    s.finish(&c.lease, success()).await.unwrap();
                }
            }
        }));
    }
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.expect("a claimer panicked"));
    }
    eprintln!("peak outstanding claims: {}", peak.load(Ordering::SeqCst));

    assert_eq!(claimed.len(), TASKS, "every task claimed exactly once");
    let distinct: BTreeSet<_> = claimed.into_iter().collect();
    assert_eq!(distinct, all);
    assert_eq!(count(&*s, Status::Succeeded).await, TASKS as u64);
    assert_eq!(count(&*s, Status::Queued).await, 0);
    assert_eq!(count(&*s, Status::Running).await, 0);
    let started = s
        .events_after(0, 100_000, &legate_domain::EventFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Started)
        .count();
    assert_eq!(started, TASKS, "one started event per task");
}

/// Inserts a child of `parent` (one level deeper).
async fn insert_child(s: &dyn Store, agent: &str, parent: &TaskId, prompt: &str) -> TaskId {
    let mut t = new_task(agent, prompt);
    t.parent = Some(parent.clone());
    t.depth = 2;
    s.insert(t).await.unwrap().task.id
}

pub async fn a_running_task_lends_its_slot_to_one_child_at_a_time(s: Arc<dyn Store>) {
    // The only slot is taken by a task that then delegates two children and waits on them;
    // another task (no relation) is queued first.
    insert(&*s, "a", "delegates and waits").await;
    let parent = claim_one(&*s, &claim_req("w", 1, 10)).await;
    let stranger = insert(&*s, "a", "waiting for a free slot").await;
    let first = insert_child(&*s, "a", &parent.task.id, "first child").await;
    let second = insert_child(&*s, "a", &parent.task.id, "second child").await;

    let claimed = s.claim(&claim_req("w", 1, 10)).await.unwrap();
    assert_eq!(
        claimed_ids(&claimed),
        [first],
        "one child takes its parent's slot; its sibling and the stranger wait"
    );
    assert!(s.claim(&claim_req("w2", 1, 10)).await.unwrap().is_empty());
    assert_eq!(get(&*s, &second).await.status, Status::Queued);
    assert_eq!(get(&*s, &stranger).await.status, Status::Queued);

    // The child ends: the slot goes back to the parent, which lends it to the next child.
    s.finish(&claimed[0].lease, success()).await.unwrap();
    let next = s.claim(&claim_req("w", 1, 10)).await.unwrap();
    assert_eq!(claimed_ids(&next), [second]);
    s.finish(&next[0].lease, success()).await.unwrap();
    assert!(
        s.claim(&claim_req("w", 1, 10)).await.unwrap().is_empty(),
        "no child left: the parent holds its slot again"
    );
    s.finish(&parent.lease, success()).await.unwrap();
    assert_eq!(
        claimed_ids(&s.claim(&claim_req("w", 1, 10)).await.unwrap()),
        [stranger]
    );
}

pub async fn a_lent_slot_respects_the_childs_agent_cap_unless_it_is_the_parents(s: Arc<dyn Store>) {
    let mut req = claim_req("w", 1, 10);
    req.agent_caps = BTreeMap::from([("a".into(), 1), ("b".into(), 1)]);
    insert(&*s, "a", "delegates and waits").await;
    let parent = claim_one(&*s, &req).await;
    assert_eq!(parent.task.agent, "a");
    // Another task of b runs beside it under a higher global cap.
    let b_running = insert(&*s, "b", "b runs").await;
    let mut wider = req.clone();
    wider.max_running = 2;
    assert_eq!(claimed_ids(&s.claim(&wider).await.unwrap()), [b_running]);

    let child_b = insert_child(&*s, "b", &parent.task.id, "child of another agent").await;
    assert!(
        s.claim(&req).await.unwrap().is_empty(),
        "b is at its cap: the lent slot does not lift it"
    );
    let child_a = insert_child(&*s, "a", &parent.task.id, "child of the parent's agent").await;
    assert_eq!(
        claimed_ids(&s.claim(&req).await.unwrap()),
        [child_a],
        "the parent's own agent cap slot passes to its child"
    );
    assert_eq!(get(&*s, &child_b).await.status, Status::Queued);
}
