//! Builders and small queries shared by the contract cases.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use legate_domain::task::default_title;
use legate_domain::{
    Event, EventFilter, EventKind, NewTask, Outcome, ProcessInfo, Status, Task, TaskId, Timestamp,
};
use legate_store::{ClaimRequest, Claimed, Pruned, Store, TaskFilter};

/// How long a poll waits for a condition before the case fails.
const POLL_DEADLINE: Duration = Duration::from_secs(5);
/// How long a poll pauses between tries.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A submission with sensible defaults: origin `test`, depth 1, no labels, empty metadata.
pub fn new_task(agent: &str, prompt: &str) -> NewTask {
    NewTask {
        agent: agent.into(),
        prompt: prompt.into(),
        title: default_title(prompt),
        cwd: None,
        labels: vec![],
        priority: 0,
        timeout_ms: None,
        dedupe_key: None,
        parent: None,
        origin: "test".into(),
        depth: 1,
        metadata: serde_json::json!({}),
        notify: vec![],
        env: None,
        idempotency_key: None,
    }
}

/// A claim for any agent, without per-agent caps, with a minute-long lease.
pub fn claim_req(owner: &str, max_running: u32, max_claims: u32) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        lease_ttl: Duration::from_secs(60),
        max_running,
        agent_caps: BTreeMap::new(),
        agents: None,
        max_claims,
    }
}

/// A claim for one agent only.
pub fn claim_agent(owner: &str, agent: &str, max_claims: u32) -> ClaimRequest {
    ClaimRequest {
        agents: Some(BTreeSet::from([agent.to_string()])),
        ..claim_req(owner, 1000, max_claims)
    }
}

/// A set of agent names.
pub fn agents(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A successful run.
pub fn success() -> Outcome {
    Outcome {
        status: Status::Succeeded,
        exit_code: Some(0),
        signal: None,
        result: Some("ok".into()),
        error: None,
        metadata: serde_json::Map::new(),
    }
}

/// Process details for `record_process`.
pub fn process(pid: i32) -> ProcessInfo {
    ProcessInfo {
        pid,
        pgid: pid,
        start_time: (1 << 40) | pid as u64,
    }
}

/// Inserts a task and returns its id.
pub async fn insert(s: &dyn Store, agent: &str, prompt: &str) -> TaskId {
    s.insert(new_task(agent, prompt)).await.unwrap().task.id
}

/// Claims exactly one task.
pub async fn claim_one(s: &dyn Store, req: &ClaimRequest) -> Claimed {
    let mut claimed = s.claim(req).await.unwrap();
    assert_eq!(claimed.len(), 1, "expected exactly one claim");
    claimed.remove(0)
}

/// A task, which must exist, without its prompt.
pub async fn get(s: &dyn Store, id: &TaskId) -> Task {
    s.get(id, false)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("task {id} is missing"))
}

/// The status of a task, which must exist.
pub async fn status_of(s: &dyn Store, id: &TaskId) -> Status {
    get(s, id).await.status
}

/// `counts()` as a map, checking no status is reported twice; absent statuses count 0.
pub async fn counts(s: &dyn Store) -> HashMap<Status, u64> {
    let mut map = HashMap::new();
    for (status, n) in s.counts().await.unwrap() {
        assert!(
            map.insert(status, n).is_none(),
            "{status} reported twice by counts()"
        );
    }
    map
}

/// How many tasks are in one status.
pub async fn count(s: &dyn Store, status: Status) -> u64 {
    counts(s).await.get(&status).copied().unwrap_or(0)
}

/// Every event in the log.
pub async fn all_events(s: &dyn Store) -> Vec<Event> {
    s.events_after(0, 100_000, &EventFilter::default())
        .await
        .unwrap()
}

/// Every event of one task.
pub async fn events_of(s: &dyn Store, id: &TaskId) -> Vec<Event> {
    s.events_after(0, 100_000, &for_task(id)).await.unwrap()
}

/// The kinds of some events, in order.
pub fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

/// The ids of some tasks, in order.
pub fn ids(tasks: &[Task]) -> Vec<TaskId> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

/// The ids of a listing.
pub async fn list_ids(s: &dyn Store, filter: TaskFilter) -> Vec<TaskId> {
    ids(&s.list(&filter).await.unwrap())
}

/// A task as `get` without prompt shows it.
pub fn without_prompt(mut task: Task) -> Task {
    task.prompt = None;
    task
}

/// The wall clock, as the store stamps it.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    Timestamp(ms as i64)
}

/// Retries `attempt` every few milliseconds until it yields a value; fails the case after a
/// deadline. The only way these cases wait for time to pass.
pub async fn poll_until<T>(what: &str, mut attempt: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + POLL_DEADLINE;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {POLL_DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A filter for one task's events.
pub fn for_task(id: &TaskId) -> EventFilter {
    EventFilter {
        task: Some(id.clone()),
        ..EventFilter::default()
    }
}

/// Prunes what finished before `before` the way the engine does: candidates, then removal.
pub async fn prune(s: &dyn Store, before: Timestamp, unacked: bool) -> Pruned {
    let c = s.prune_candidates(Some(before), unacked).await.unwrap();
    let ids: Vec<TaskId> = c.tasks.into_iter().map(|(id, _)| id).collect();
    s.remove(&ids, unacked).await.unwrap()
}
