//! The in-process engine fixture: a real [`Service`] on a real SQLite file in a temporary
//! directory, configured from TOML, running real processes (the built-in `sh` agent, or exec
//! agents the configuration adds). Tests wait on the engine's own answers and events, never on
//! sleeps.

#![allow(dead_code)]

pub mod repo;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use legate_domain::api::{SubmitRequest, WaitRequest};
use legate_domain::task::default_title;
use legate_domain::{Config, Event, EventFilter, NewTask, Task, TaskEnv, TaskId};
use legate_engine::{Caller, ConfigSource, EngineSettings, Service, WorkSettings};
use legate_store::RescueScope;
use legate_store::sqlite::SqliteStore;

/// The longest a test waits for the engine to reach a state.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The event bus of the fixture's engines: small, so followers that fall behind are tested too.
const BUS: usize = 64;

/// The owner name of the fixture's engine (its leases and recovery scope).
pub const OWNER: &str = "test-engine";

/// An engine on a store in a directory of its own.
pub struct Engine {
    /// Holds the store, the logs and anything a test writes.
    pub dir: tempfile::TempDir,
    /// The engine.
    pub svc: Service,
}

impl Engine {
    /// An engine configured by `toml` (a legate config file's text) on a fresh store.
    pub async fn start(toml: &str) -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let svc = open(dir.path(), toml, BUS).await;
        Engine { dir, svc }
    }

    /// An engine configured by `toml` on a fresh store that takes only the work `work` allows
    /// (as a daemon started with `--agents` / `--slots`).
    pub async fn start_taking(toml: &str, work: WorkSettings) -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let svc = open_taking(dir.path(), toml, BUS, work).await;
        Engine { dir, svc }
    }

    /// An engine configured by `toml` on the store a stopped engine left in `dir`.
    pub async fn start_in(dir: tempfile::TempDir, toml: &str) -> Engine {
        let svc = open(dir.path(), toml, BUS).await;
        Engine { dir, svc }
    }

    /// Shuts the engine down; its directory, store and logs stay.
    pub async fn stop(self) -> tempfile::TempDir {
        self.svc.shutdown().await;
        self.dir
    }

    /// Shuts this engine down and starts another on the same store, configured by `toml`: as a
    /// daemon restart does.
    pub async fn restart(self, toml: &str) -> Engine {
        Engine::start_in(self.stop().await, toml).await
    }

    /// A path inside the fixture's directory.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Submits `prompt` to `agent` from origin `test`; the task's id.
    pub async fn submit(&self, agent: &str, prompt: &str) -> TaskId {
        self.submit_with(SubmitRequest {
            agent: agent.into(),
            prompt: prompt.into(),
            ..SubmitRequest::default()
        })
        .await
        .id
    }

    /// Submits `req` (origin `test` and this process's environment unless it names its own).
    pub async fn submit_with(&self, mut req: SubmitRequest) -> Task {
        req.origin.get_or_insert_with(|| "test".into());
        req.env.get_or_insert_with(TaskEnv::of_this_process);
        self.svc.submit(req, &Caller::unknown()).await.unwrap().task
    }

    /// Waits until every task in `ids` has finished; each as it ended.
    pub async fn finished(&self, ids: &[TaskId]) -> Vec<Task> {
        let req = WaitRequest {
            ids: ids.iter().map(ToString::to_string).collect(),
            mode: legate_domain::api::WaitMode::All,
            timeout_ms: Some(DEADLINE.as_millis() as u64),
            ..WaitRequest::default()
        };
        let answer = self.svc.wait(&req).await.unwrap();
        assert!(!answer.timed_out, "tasks did not finish: {ids:?}");
        let mut tasks = Vec::new();
        for id in ids {
            tasks.push(self.svc.get(id.as_str(), false).await.unwrap());
        }
        tasks
    }

    /// Every event in the store so far, oldest first.
    pub async fn events(&self) -> Vec<Event> {
        self.svc
            .events_after(0, 100_000, &EventFilter::default())
            .await
            .unwrap()
    }

    /// Waits (up to [`DEADLINE`]) until `cond` holds for the store's events.
    pub async fn until_events(&self, what: &str, cond: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let mut follower = self.svc.follow(0, EventFilter::default());
        let mut seen = Vec::new();
        let done = tokio::time::timeout(DEADLINE, async {
            loop {
                if cond(&seen) {
                    return;
                }
                seen.push(follower.next().await.unwrap());
            }
        })
        .await;
        assert!(done.is_ok(), "never saw {what}; events: {seen:#?}");
        seen
    }
}

/// A submission as the store takes it: `prompt` for `agent`, origin `test`, depth 1, this
/// process's environment, nothing else.
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
        env: Some(TaskEnv::of_this_process()),
        idempotency_key: None,
    }
}

/// A `while` loop in `sh` that ends once `file` exists: a task held until the test lets it go.
pub fn held_until(file: &Path) -> String {
    format!("while [ ! -e '{}' ]; do sleep 0.01; done", file.display())
}

/// An engine configured by `toml` on the store in `dir` (made if missing), its logs there too,
/// with an event bus of `event_buffer` events.
pub async fn open(dir: &Path, toml: &str, event_buffer: usize) -> Service {
    open_taking(dir, toml, event_buffer, WorkSettings::default()).await
}

/// [`open`], taking only the work `work` allows.
pub async fn open_taking(
    dir: &Path,
    toml: &str,
    event_buffer: usize,
    work: WorkSettings,
) -> Service {
    let store = SqliteStore::open(&dir.join("legate.db")).await.unwrap();
    let config = Config::parse(toml, None).unwrap();
    let settings = EngineSettings {
        logs_dir: dir.join("logs"),
        worktrees_dir: dir.join("worktrees"),
        owner: OWNER.into(),
        lease_ttl: Duration::from_secs(30),
        recovery: RescueScope::NotOwnedBy(OWNER.into()),
        event_buffer,
        work,
    };
    Service::start(Arc::new(store), ConfigSource::fixed(config), settings)
        .await
        .unwrap()
}

/// Polls `cond` every 10 ms until it holds; panics after [`DEADLINE`] naming `what`.
pub async fn poll_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never saw {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
