//! The service: the single entry point for every frontend.

use crate::EngineError;
use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use legate_domain::api::{ErrorCode, ListQuery, parse_task_ref};
use legate_domain::{EventFilter, Status, Task, TaskId, Timestamp};
use legate_runner::StopReason;
use legate_store::{Store, TaskFilter};
use tokio::sync::{Mutex as AsyncMutex, Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::EventBus;
use crate::config_source::ConfigSource;
use crate::error::ServiceError;

/// Where the engine keeps files and how it leases work.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// One directory per task under here holds its logs.
    pub logs_dir: PathBuf,
    /// The git worktrees of isolated tasks, one directory per task (`worktrees/` in legate's
    /// data directory); made when the first is needed.
    pub worktrees_dir: PathBuf,
    /// This engine's instance id (lease owner).
    pub owner: String,
    /// How long a claim lasts without a heartbeat.
    pub lease_ttl: Duration,
    /// Which running tasks to take back at start: on a store of its own, every one it does not
    /// own; on a shared store, only its predecessors' on this machine.
    pub recovery: legate_store::RescueScope,
    /// How many live events the bus holds for each follower; one that falls further behind
    /// catches up from the store instead of holding the daemon back.
    pub event_buffer: usize,
    /// How this engine takes work from the store.
    pub work: WorkSettings,
}

/// What work an engine takes: on a shared store several engines (daemons, `legate worker`s)
/// take from one queue.
#[derive(Debug, Clone, Default)]
pub struct WorkSettings {
    /// Only tasks of these agents (`None`: any).
    pub agents: Option<std::collections::BTreeSet<String>>,
    /// At most this many tasks running here at once (`None`: only the store-wide caps).
    pub slots: Option<u32>,
    /// The store is shared with other engines: listen for their changes, poll slowly as a
    /// safety net, and take back tasks whose lease lapsed.
    pub shared: bool,
}

/// The bus size the daemon uses.
pub const DEFAULT_EVENT_BUFFER: usize = 4096;

/// How many agents may be starting at once (directory, log files, `fork`/`exec`).
const STARTS_AT_ONCE: usize = 2;

/// The engine's shared state.
pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub bus: EventBus,
    /// Held across every event-producing write and its publication, so events reach the bus
    /// in sequence order and only after their commit: taken only by `Service::commit`.
    pub write_lock: AsyncMutex<()>,
    pub config: ConfigSource,
    pub settings: EngineSettings,
    pub wake: Notify,
    pub running: Mutex<HashMap<TaskId, watch::Sender<Option<StopReason>>>>,
    /// The agent processes of the tasks running here, to recognise their delegations.
    pub agents: Mutex<crate::lineage::LocalAgents>,
    /// The supervisors of the runs here, awaited at shutdown.
    pub supervisors: TaskTracker,
    /// Turns to start an agent (see `Service::start_agent`).
    pub starting: tokio::sync::Semaphore,
    /// Cancelled when the engine begins stopping.
    pub stopping: CancellationToken,
    /// Draining: no new task accepted (see `drain.rs`).
    pub draining: watch::Sender<bool>,
    pub started_at: Timestamp,
    /// Validated submissions on their way to a group commit.
    pub intake: mpsc::Sender<crate::intake::Pending>,
    /// How many times in a row each origin's stop was blocked (see `stop_gate`).
    pub stop_blocks: Mutex<HashMap<String, u32>>,
    /// The notifier, awaited at shutdown so its cursor is saved.
    pub notifier: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Agent versions already asked for, by version command and program file time.
    pub versions: Mutex<HashMap<String, crate::agents::Checked>>,
    /// Each repository's turn to change its worktrees.
    pub repo_locks: crate::worktree::RepoLocks,
}

/// The engine facade. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(crate) inner: Arc<Inner>,
}

impl Service {
    /// Builds the engine, takes back what a previous daemon left running, and starts the
    /// scheduler and heartbeat on the current tokio runtime.
    pub async fn start(
        store: Arc<dyn Store>,
        config: ConfigSource,
        settings: EngineSettings,
    ) -> Result<Service, ServiceError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&settings.logs_dir)
            .map_err(|e| {
                EngineError::refused(
                    ErrorCode::StoreUnavailable,
                    format!(
                        "cannot create the logs directory {}: {e}",
                        settings.logs_dir.display()
                    ),
                    "check the permissions of legate's data directory, or set LEGATE_HOME",
                )
            })?;
        let (draining, _) = watch::channel(false);
        let (intake, intake_rx) = mpsc::channel(1024);
        let service = Service {
            inner: Arc::new(Inner {
                store,
                bus: EventBus::new(settings.event_buffer.max(1)),
                write_lock: AsyncMutex::new(()),
                starting: tokio::sync::Semaphore::new(STARTS_AT_ONCE),
                config,
                settings,
                wake: Notify::new(),
                running: Mutex::new(HashMap::new()),
                agents: Mutex::new(HashMap::new()),
                supervisors: TaskTracker::new(),
                stopping: CancellationToken::new(),
                draining,
                started_at: Timestamp(chrono_now()),
                intake,
                stop_blocks: Mutex::new(HashMap::new()),
                notifier: Mutex::new(None),
                versions: Mutex::new(HashMap::new()),
                repo_locks: Default::default(),
            }),
        };
        service.recover().await?;
        service.spawn_intake(intake_rx);
        service.spawn_scheduler();
        service.spawn_heartbeat();
        service.spawn_notifier();
        service.spawn_retention();
        if service.inner.settings.work.shared {
            service.spawn_change_listener().await;
            service.spawn_lease_rescue();
        }
        Ok(service)
    }

    /// The event bus, for followers.
    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    /// The store's description.
    pub fn store_description(&self) -> String {
        self.inner.store.describe()
    }

    /// When the engine started.
    pub fn started_at(&self) -> Timestamp {
        self.inner.started_at
    }

    /// Resolves an id or unique prefix.
    pub async fn resolve(&self, reference: &str) -> Result<TaskId, ServiceError> {
        let prefix = parse_task_ref(reference)?;
        if prefix.is_complete() {
            // A whole id needs no prefix search; the read that follows finds it or says so.
            return TaskId::parse(prefix.as_str())
                .map_err(|e| EngineError::refused(ErrorCode::InvalidRequest, e.to_string(), ""));
        }
        let ids = self.inner.store.ids_with_prefix(&prefix, 6).await?;
        match ids.as_slice() {
            [] => Err(EngineError::refused(
                ErrorCode::NotFound,
                format!("no task matches '{reference}'"),
                "list tasks with `legate ls`",
            )),
            [one] => Ok(one.clone()),
            many => {
                let shown: Vec<String> = many.iter().take(5).map(|i| i.to_string()).collect();
                Err(EngineError::refused(
                    ErrorCode::AmbiguousId,
                    format!(
                        "'{reference}' matches several tasks: {}{}",
                        shown.join(", "),
                        if many.len() > 5 { ", …" } else { "" }
                    ),
                    "type more characters of the id",
                ))
            }
        }
    }

    /// One task by id or prefix.
    pub async fn get(&self, reference: &str, with_prompt: bool) -> Result<Task, ServiceError> {
        let id = self.resolve(reference).await?;
        self.get_by_id(&id, with_prompt).await
    }

    pub(crate) async fn get_by_id(
        &self,
        id: &TaskId,
        with_prompt: bool,
    ) -> Result<Task, ServiceError> {
        self.inner
            .store
            .get(id, with_prompt)
            .await?
            .ok_or_else(|| EngineError::from(legate_store::StoreError::NotFound(id.clone())))
    }

    /// Tasks matching a filter, oldest first.
    pub async fn list(&self, q: &ListQuery) -> Result<Vec<Task>, ServiceError> {
        let parent = match &q.parent {
            Some(p) => Some(self.resolve(p).await?),
            None => None,
        };
        let filter = TaskFilter {
            statuses: q.status.clone(),
            agent: q.agent.clone(),
            label: q.label.clone(),
            origin: q.origin.clone(),
            parent,
            limit: q.limit.unwrap_or(100).clamp(1, 100_000),
        };
        self.inner
            .store
            .list(&filter)
            .await
            .map_err(EngineError::from)
    }

    /// Events after a sequence number that pass the filter, oldest first.
    pub async fn events_after(
        &self,
        after: i64,
        limit: u32,
        filter: &EventFilter,
    ) -> Result<Vec<legate_domain::Event>, ServiceError> {
        self.inner
            .store
            .events_after(after, limit, filter)
            .await
            .map_err(EngineError::from)
    }

    /// Counts of tasks by status.
    pub async fn counts(&self) -> Result<Vec<(Status, u64)>, ServiceError> {
        self.inner.store.counts().await.map_err(EngineError::from)
    }

    /// The directory holding a task's logs.
    pub fn task_dir(&self, id: &TaskId) -> PathBuf {
        self.inner.settings.logs_dir.join(id.as_str())
    }

    /// Stops the engine: ends every running agent's process tree, marks those tasks
    /// interrupted (requeued by policy at the next start), and stops scheduling.
    pub async fn shutdown(&self) {
        self.inner.stopping.cancel();
        self.inner.wake.notify_one();
        let senders: Vec<_> = self
            .inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for s in senders {
            let _ = s.send(Some(StopReason::Shutdown));
        }
        self.inner.supervisors.close();
        self.inner.supervisors.wait().await;
        self.interrupt_own("the daemon was stopped while the task ran")
            .await;
        let notifier = self
            .inner
            .notifier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(n) = notifier {
            // It saves its cursor and ends as soon as it sees the shutdown.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), n).await;
        }
    }
}

/// Milliseconds since the epoch.
pub(crate) fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
