//! The store contract, run against every backend (SQLite now; Postgres joins by adding a
//! constructor to `backends`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use legate_domain::id::IdPrefix;
use legate_domain::{ErrorKind, EventKind, NewTask, Outcome, Status, TaskError, Timestamp};
use legate_store::sqlite::SqliteStore;
use legate_store::{ClaimRequest, Claimed, RescueScope, Store, StoreError, TaskFilter};

/// One store per backend, each in a fresh place; the guard keeps its files alive.
async fn backends() -> Vec<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("legate.db"))
        .await
        .unwrap();
    vec![(Arc::new(sqlite), dir)]
}

fn task(agent: &str, prompt: &str) -> NewTask {
    NewTask {
        agent: agent.into(),
        prompt: prompt.into(),
        title: prompt.chars().take(20).collect(),
        cwd: None,
        labels: vec![],
        priority: 0,
        timeout_ms: None,
        dedupe_key: None,
        parent: None,
        origin: "test".into(),
        depth: 1,
        metadata: serde_json::json!({}),
    }
}

fn claim_req(owner: &str, max_running: u32, max_claims: u32) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        lease_ttl: Duration::from_secs(60),
        max_running,
        agent_caps: BTreeMap::new(),
        agents: None,
        max_claims,
    }
}

fn success() -> Outcome {
    Outcome {
        status: Status::Succeeded,
        exit_code: Some(0),
        signal: None,
        result: Some("ok".into()),
        error: None,
        metadata: Default::default(),
    }
}

async fn running(s: &dyn Store) -> u64 {
    s.counts()
        .await
        .unwrap()
        .iter()
        .find(|(st, _)| *st == Status::Running)
        .unwrap()
        .1
}

#[tokio::test]
async fn insert_get_prefix_and_big_prompts() {
    for (s, _g) in backends().await {
        let big = "p".repeat(4 << 20);
        let ins = s.insert(task("a", &big)).await.unwrap();
        assert!(!ins.deduplicated);
        assert_eq!(ins.task.status, Status::Queued);
        assert_eq!(ins.task.id.as_str().len(), 8);
        let ev = ins.event.unwrap();
        assert_eq!(ev.kind, EventKind::Queued);
        assert!(ev.seq > 0);
        let got = s.get(&ins.task.id, true).await.unwrap().unwrap();
        assert_eq!(got.prompt.as_deref(), Some(big.as_str()));
        assert_eq!(
            s.get(&ins.task.id, false).await.unwrap().unwrap().prompt,
            None
        );
        let id = ins.task.id.as_str();
        for n in [1, 3, 8] {
            let p = IdPrefix::parse(&id[..n]).unwrap();
            assert!(
                s.ids_with_prefix(&p, 10)
                    .await
                    .unwrap()
                    .contains(&ins.task.id)
            );
        }
        for _ in 0..300 {
            s.insert(task("a", "x")).await.unwrap();
        }
        let p = IdPrefix::parse(&id[..1]).unwrap();
        let found = s.ids_with_prefix(&p, 3).await.unwrap();
        assert_eq!(
            found.len(),
            3,
            "300 ids share first characters; the limit applies"
        );
        assert!(found.iter().all(|f| f.as_str().starts_with(&id[..1])));
    }
}

#[tokio::test]
async fn dedupe_returns_the_unfinished_task_only() {
    for (s, _g) in backends().await {
        let mut t = task("a", "x");
        t.dedupe_key = Some("k".into());
        let first = s.insert(t.clone()).await.unwrap();
        let again = s.insert(t.clone()).await.unwrap();
        assert!(again.deduplicated && again.event.is_none());
        assert_eq!(again.task.id, first.task.id);
        let c = s.claim(&claim_req("w", 4, 4)).await.unwrap();
        assert_eq!(
            s.insert(t.clone()).await.unwrap().task.id,
            first.task.id,
            "running counts as unfinished"
        );
        s.finish(&c[0].lease, success()).await.unwrap();
        let fresh = s.insert(t).await.unwrap();
        assert!(!fresh.deduplicated);
        assert_ne!(fresh.task.id, first.task.id);
    }
}

#[tokio::test]
async fn claims_follow_priority_then_fifo_within_caps() {
    for (s, _g) in backends().await {
        let mut ids = Vec::new();
        for (agent, prio) in [("a", 0), ("a", 5), ("b", 0), ("a", 5), ("c", 0)] {
            let mut t = task(agent, "x");
            t.priority = prio;
            ids.push(s.insert(t).await.unwrap().task.id);
        }
        let one = s.claim(&claim_req("w", 10, 1)).await.unwrap();
        assert_eq!(one.len(), 1, "max_claims");
        assert_eq!(one[0].task.id, ids[1], "highest priority first");
        assert_eq!(one[0].lease.attempt, 1);
        assert_eq!(one[0].event.kind, EventKind::Started);
        assert!(one[0].task.prompt.is_some(), "a claim carries the prompt");
        let mut req = claim_req("w", 10, 10);
        req.agent_caps.insert("a".into(), 1);
        let more = s.claim(&req).await.unwrap();
        let got: Vec<_> = more.iter().map(|c| c.task.id.clone()).collect();
        assert_eq!(
            got,
            vec![ids[2].clone(), ids[4].clone()],
            "agent a is at its cap; FIFO for the rest"
        );
        assert_eq!(running(&*s).await, 3);
        let blocked = s.claim(&claim_req("w", 3, 10)).await.unwrap();
        assert!(blocked.is_empty(), "global cap reached");
        let mut only = claim_req("w", 10, 10);
        only.agents = Some(BTreeSet::from(["zzz".to_string()]));
        assert!(s.claim(&only).await.unwrap().is_empty(), "agent filter");
        only.agents = Some(BTreeSet::from(["a".to_string()]));
        assert_eq!(s.claim(&only).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn concurrent_claimers_never_exceed_the_cap_and_claim_each_task_once() {
    for (s, _g) in backends().await {
        for _ in 0..100 {
            s.insert(task("a", "x")).await.unwrap();
        }
        let mut workers = Vec::new();
        for w in 0..20 {
            let s = s.clone();
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let c: Vec<Claimed> =
                        s.claim(&claim_req(&format!("w{w}"), 4, 2)).await.unwrap();
                    let now = running(&*s).await;
                    assert!(now <= 4, "cap exceeded: {now} running");
                    if c.is_empty() {
                        if s.counts().await.unwrap()[0].1 == 0 {
                            return mine;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    for cl in c {
                        mine.push(cl.task.id.clone());
                        s.finish(&cl.lease, success()).await.unwrap();
                    }
                }
            }));
        }
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        assert_eq!(all.len(), 100);
        assert_eq!(
            all.iter().collect::<BTreeSet<_>>().len(),
            100,
            "a task was claimed twice"
        );
    }
}

#[tokio::test]
async fn finish_is_fenced_on_the_lease() {
    for (s, _g) in backends().await {
        s.insert(task("a", "x")).await.unwrap();
        let c = s.claim(&claim_req("w1", 4, 1)).await.unwrap().remove(0);
        let mut wrong = c.lease.clone();
        wrong.owner = "w2".into();
        assert!(matches!(
            s.finish(&wrong, success()).await,
            Err(StoreError::LeaseLost(_))
        ));
        let mut old = c.lease.clone();
        old.attempt = 0;
        assert!(matches!(
            s.finish(&old, success()).await,
            Err(StoreError::LeaseLost(_))
        ));
        let mut bad = success();
        bad.status = Status::Queued;
        assert!(matches!(
            s.finish(&c.lease, bad).await,
            Err(StoreError::Transition(_))
        ));
        let proc_ = legate_domain::ProcessInfo {
            pid: 42,
            pgid: 42,
            start_time: 7,
        };
        s.record_process(&c.lease, proc_).await.unwrap();
        assert!(matches!(
            s.record_process(&wrong, proc_).await,
            Err(StoreError::LeaseLost(_))
        ));
        let failed = Outcome {
            status: Status::Failed,
            exit_code: Some(3),
            signal: None,
            result: Some("partial".into()),
            error: Some(TaskError {
                kind: ErrorKind::ExitNonzero,
                message: "code 3".into(),
            }),
            metadata: [("k".to_string(), serde_json::json!(1))]
                .into_iter()
                .collect(),
        };
        let (t, ev) = s.finish(&c.lease, failed).await.unwrap();
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.exit_code, Some(3));
        assert_eq!(t.error.unwrap().kind, ErrorKind::ExitNonzero);
        assert_eq!(t.process, Some(proc_));
        assert_eq!(t.metadata["k"], 1);
        assert!(t.finished_at.is_some());
        assert_eq!(ev.kind, EventKind::Finished);
        assert_eq!(ev.data["status"], "failed");
        assert!(
            matches!(
                s.finish(&c.lease, success()).await,
                Err(StoreError::LeaseLost(_))
            ),
            "finishing twice"
        );
    }
}

#[tokio::test]
async fn cancel_queued_and_request_cancel() {
    for (s, _g) in backends().await {
        let q = s.insert(task("a", "x")).await.unwrap().task.id;
        let r = s.insert(task("a", "y")).await.unwrap().task.id;
        let c = s.claim(&claim_req("w", 1, 1)).await.unwrap().remove(0);
        assert_eq!(c.task.id, q);
        assert!(
            s.cancel_queued(&q).await.unwrap().is_none(),
            "running is not queued"
        );
        let (t, ev) = s.cancel_queued(&r).await.unwrap().unwrap();
        assert_eq!(t.status, Status::Canceled);
        assert_eq!(t.error.unwrap().kind, ErrorKind::Canceled);
        assert_eq!(ev.kind, EventKind::Finished);
        assert!(s.request_cancel(&r).await.unwrap().is_none(), "not running");
        let ev = s.request_cancel(&q).await.unwrap().unwrap();
        assert_eq!(ev.kind, EventKind::CancelRequested);
        assert!(s.request_cancel(&q).await.unwrap().is_none(), "only once");
        assert!(s.get(&q, false).await.unwrap().unwrap().cancel_requested);
    }
}

#[tokio::test]
async fn rescue_interrupts_or_requeues_lost_runs() {
    for (s, _g) in backends().await {
        let lost = s.insert(task("plain", "x")).await.unwrap().task.id;
        let again = s.insert(task("retry", "y")).await.unwrap().task.id;
        let mine = s.insert(task("plain", "z")).await.unwrap().task.id;
        let old = s.claim(&claim_req("dead", 2, 2)).await.unwrap();
        let pinfo = legate_domain::ProcessInfo {
            pid: 99,
            pgid: 99,
            start_time: 1,
        };
        s.record_process(&old[0].lease, pinfo).await.unwrap();
        s.claim(&claim_req("alive", 3, 1)).await.unwrap();
        let requeue = BTreeSet::from(["retry".to_string()]);
        let rescued = s
            .rescue(
                &RescueScope::NotOwnedBy("alive".into()),
                &requeue,
                "daemon died",
            )
            .await
            .unwrap();
        assert_eq!(rescued.len(), 2);
        let r_lost = rescued.iter().find(|r| r.task.id == lost).unwrap();
        assert_eq!(r_lost.task.status, Status::Interrupted);
        assert_eq!(r_lost.process, Some(pinfo));
        let kinds: Vec<_> = r_lost.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::Interrupted, EventKind::Finished]);
        let r_again = rescued.iter().find(|r| r.task.id == again).unwrap();
        assert_eq!(r_again.task.status, Status::Queued);
        let kinds: Vec<_> = r_again.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::Interrupted, EventKind::Requeued]);
        assert_eq!(
            s.get(&mine, false).await.unwrap().unwrap().status,
            Status::Running
        );
        let stale = old
            .iter()
            .find(|c| c.task.id == again)
            .unwrap()
            .lease
            .clone();
        let next = s.claim(&claim_req("alive", 3, 1)).await.unwrap().remove(0);
        assert_eq!(next.task.id, again);
        assert_eq!(next.lease.attempt, 2);
        assert!(
            matches!(
                s.finish(&stale, success()).await,
                Err(StoreError::LeaseLost(_))
            ),
            "a stale worker's late finish"
        );
        s.finish(&next.lease, success()).await.unwrap();
        let own = s
            .rescue(&RescueScope::OwnedBy("alive".into()), &requeue, "stop")
            .await
            .unwrap();
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].task.id, mine);
    }
}

#[tokio::test]
async fn expired_leases_are_rescued_and_heartbeats_prevent_it() {
    for (s, _g) in backends().await {
        s.insert(task("a", "x")).await.unwrap();
        let mut req = claim_req("w", 4, 1);
        req.lease_ttl = Duration::from_millis(1);
        let c = s.claim(&req).await.unwrap().remove(0);
        assert_eq!(s.heartbeat("w", Duration::from_secs(60)).await.unwrap(), 1);
        let none = s
            .rescue(&RescueScope::Expired, &BTreeSet::new(), "lapsed")
            .await
            .unwrap();
        assert!(none.is_empty(), "a heartbeat renews the lease");
        assert_eq!(s.heartbeat("w", Duration::from_millis(1)).await.unwrap(), 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let rescued = loop {
            let r = s
                .rescue(&RescueScope::Expired, &BTreeSet::new(), "lapsed")
                .await
                .unwrap();
            if !r.is_empty() || std::time::Instant::now() > deadline {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(rescued.len(), 1);
        assert_eq!(rescued[0].task.id, c.task.id);
        assert_eq!(rescued[0].task.status, Status::Interrupted);
    }
}

#[tokio::test]
async fn events_are_gapless_ordered_and_filterable() {
    for (s, _g) in backends().await {
        let a = s.insert(task("a", "x")).await.unwrap().task.id;
        let b = s.insert(task("a", "y")).await.unwrap().task.id;
        let c = s.claim(&claim_req("w", 4, 1)).await.unwrap().remove(0);
        s.cancel_queued(&b).await.unwrap();
        s.finish(&c.lease, success()).await.unwrap();
        let all = s.events_after(0, 100, None).await.unwrap();
        assert_eq!(all.len(), 5);
        for w in all.windows(2) {
            assert_eq!(w[1].seq, w[0].seq + 1, "gap in the event log");
        }
        let of_a = s.events_after(0, 100, Some(&a)).await.unwrap();
        let kinds: Vec<_> = of_a.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![EventKind::Queued, EventKind::Started, EventKind::Finished]
        );
        let tail = s.events_after(all[2].seq, 1, None).await.unwrap();
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].seq, all[3].seq);
    }
}

#[tokio::test]
async fn list_filters_counts_and_prune() {
    for (s, _g) in backends().await {
        let mut l = task("b", "labelled");
        l.labels = vec!["review".into()];
        l.origin = "mcp:1".into();
        let labelled = s.insert(l).await.unwrap().task.id;
        for _ in 0..4 {
            s.insert(task("a", "x")).await.unwrap();
        }
        let c = s.claim(&claim_req("w", 1, 1)).await.unwrap().remove(0);
        s.finish(&c.lease, success()).await.unwrap();
        let by_label = s
            .list(&TaskFilter {
                label: Some("review".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(by_label.len(), 1);
        assert_eq!(by_label[0].id, labelled);
        assert!(by_label[0].prompt.is_none());
        let by_origin = s
            .list(&TaskFilter {
                origin: Some("mcp:1".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(by_origin.len(), 1);
        let by_agent = s
            .list(&TaskFilter {
                agent: Some("a".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(by_agent.len(), 4);
        let newest = s
            .list(&TaskFilter {
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(newest.len(), 2);
        assert!(newest[0].created_at <= newest[1].created_at, "oldest first");
        let done = s
            .list(&TaskFilter {
                statuses: vec![Status::Succeeded],
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(done.len(), 1);
        let counts: BTreeMap<_, _> = s
            .counts()
            .await
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        assert_eq!(counts["queued"], 4);
        assert_eq!(counts["succeeded"], 1);

        let nothing = s.prune(Timestamp(0)).await.unwrap();
        assert!(nothing.tasks.is_empty());
        let pruned = s.prune(Timestamp(i64::MAX)).await.unwrap();
        assert_eq!(
            pruned.tasks,
            vec![c.task.id.clone()],
            "only finished tasks go"
        );
        assert_eq!(pruned.events, 3);
        assert!(s.get(&c.task.id, false).await.unwrap().is_none());
        assert!(
            s.events_after(0, 100, Some(&c.task.id))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.list(&TaskFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
            4
        );
    }
}
