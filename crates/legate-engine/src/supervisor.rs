//! A supervisor runs one claimed task: runner in, outcome recorded, scheduler woken.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::time::Duration;

use legate_domain::{AgentSpec, ErrorKind, Outcome, Status, Task};
use legate_runner::{AgentRun, RunSettings, StopReason};
use legate_store::{Claimed, Lease, StoreError};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::service::Service;

/// How long the end of a run waits for its remaining progress notes to be recorded.
const NOTES_GRACE: Duration = Duration::from_secs(10);

/// The longest pause between two tries to store an outcome the store refused.
const FINISH_RETRY_MAX: Duration = Duration::from_secs(5);

impl Service {
    /// Makes a claimed task cancelable: called under the write lock that claimed it, so a
    /// cancel (which takes the same lock) always finds its stop channel.
    pub(crate) fn register_running(
        &self,
        claimed: &Claimed,
    ) -> watch::Receiver<Option<StopReason>> {
        let already_stopping = self.inner.stopping.is_cancelled();
        let (stop_tx, stop_rx) = watch::channel(already_stopping.then_some(StopReason::Shutdown));
        self.inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(claimed.task.id.clone(), stop_tx);
        stop_rx
    }

    pub(crate) fn spawn_supervisor(
        &self,
        claimed: Claimed,
        stop_rx: watch::Receiver<Option<StopReason>>,
    ) {
        let svc = self.clone();
        self.inner
            .supervisors
            .spawn(async move { svc.supervise(claimed, stop_rx).await });
    }

    async fn supervise(&self, claimed: Claimed, stop: watch::Receiver<Option<StopReason>>) {
        let Claimed {
            task, lease, env, ..
        } = claimed;
        let mut outcome = self.run(&task, &lease, env, stop.clone()).await;
        self.untrack_agent(&task.id);
        self.inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&task.id);
        if *stop.borrow() == Some(StopReason::Shutdown) {
            // Left running in the store: shutdown marks it interrupted (and requeues by policy).
            return;
        }
        outcome.metadata.extend(self.report_worktree(&task).await);
        self.record_finish(&lease, outcome).await;
        self.inner.wake.notify_one();
    }

    async fn run(
        &self,
        task: &legate_domain::Task,
        lease: &Lease,
        env: Option<legate_domain::TaskEnv>,
        stop: watch::Receiver<Option<StopReason>>,
    ) -> Outcome {
        let config = self.inner.config.last_good();
        let Some(spec) = config.agents.get(&task.agent) else {
            return Outcome::failed(
                Status::Failed,
                ErrorKind::SpawnFailed,
                format!("agent '{}' is no longer configured", task.agent),
            );
        };
        let dir = self.task_dir(&task.id);
        let settings = RunSettings {
            task_dir: dir.clone(),
            log_cap: config.limits.log_cap,
            result_cap: config.limits.result_cap,
            kill_grace: config.limits.kill_grace,
            timeout: task.timeout_ms.map(Duration::from_millis),
            depth: task.depth,
            attempt: lease.attempt,
            resume_session: task.metadata[crate::followup::RESUME_KEY]
                .as_str()
                .map(str::to_string),
            resume_session_created: task.metadata[crate::followup::RESUME_CREATED_KEY]
                .as_str()
                .and_then(legate_domain::Timestamp::parse_rfc3339),
            env,
        };
        // A slow checkout (a large repository, a filter fetching files) gives way to a
        // cancel or a shutdown.
        let mut stopped = stop.clone();
        let prepared = tokio::select! {
            prepared = self.prepare_worktree(task) => Some(prepared),
            _ = stopped.wait_for(Option::is_some) => None,
        };
        let Some(prepared) = prepared else {
            // Given up half way: what git made so far goes (a shutdown leaves it to the next
            // start's recovery, which does the same).
            let shutdown = *stop.borrow() == Some(StopReason::Shutdown);
            if let Some(record) = task.worktree.as_ref().filter(|_| !shutdown) {
                let _turn = self.inner.repo_locks.turn(&record.repo).await;
                self.clear_unmade(task).await;
            }
            return Outcome::failed(
                Status::Canceled,
                ErrorKind::Canceled,
                "canceled while its worktree was being made",
            );
        };
        let cwd = match prepared {
            Ok(Some(dir)) => Some(dir),
            Ok(None) => task.cwd.clone().map(PathBuf::from),
            Err(outcome) => return *outcome,
        };
        match self.start_agent(spec.clone(), task, cwd, settings).await {
            Err(outcome) => {
                // Why it did not start is in the log: let other machines read it too.
                let log = std::fs::read(dir.join("output.log")).unwrap_or_default();
                let tail = &log[log.len().saturating_sub(legate_runner::TAIL_KEEP)..];
                self.store_output(lease, log.len() as u64, tail).await;
                *outcome
            }
            Ok(mut spawned) => {
                if let Err(e) = self
                    .inner
                    .store
                    .record_process(lease, spawned.process())
                    .await
                {
                    warn!(task = %task.id, "recording the agent's process failed: {e}");
                }
                let latest = spawned.latest_output();
                let last = latest.clone();
                let notes = spawned
                    .take_notes()
                    .map(|n| tokio::spawn(self.clone().report_notes(lease.clone(), n)));
                let waiting = spawned.wait(task.id.as_str(), stop);
                let outcome = tokio::select! {
                    outcome = waiting => outcome,
                    never = self.report_output(lease, latest.clone()) => match never {},
                    never = self.watch_stall(lease, spec, latest) => match never {},
                };
                // The final output is stored before the finish, so a reader that sees the
                // task ended reads all of it.
                let end = self.inner.settings.work.shared.then(|| {
                    let end = last.borrow();
                    (end.bytes, end.tail().to_vec())
                });
                if let Some((bytes, tail)) = end {
                    self.store_output(lease, bytes, &tail).await;
                }
                // Every note precedes `finished`: the runner has dropped its sender by now.
                if let Some(notes) = notes
                    && tokio::time::timeout(NOTES_GRACE, notes).await.is_err()
                {
                    warn!(task = %task.id, "the agent's last progress notes were not recorded in time");
                }
                outcome
            }
        }
    }

    /// Creates the task's directory and starts its agent in `cwd`. Files and `fork`/`exec` block, so
    /// they run on the blocking pool, a few at a time: the scheduler, heartbeats and the
    /// store's connections stay responsive while hundreds of tasks start.
    async fn start_agent(
        &self,
        spec: AgentSpec,
        task: &Task,
        cwd: Option<PathBuf>,
        settings: RunSettings,
    ) -> Result<Box<dyn AgentRun>, Box<Outcome>> {
        let id = task.id.to_string();
        let prompt = task.prompt.clone().unwrap_or_default();
        let _turn = self.inner.starting.acquire().await;
        let svc = self.clone();
        let (task_id, depth) = (task.id.clone(), task.depth);
        let started = tokio::task::spawn_blocking(move || {
            let dir = &settings.task_dir;
            let made = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
            if let Err(e) = made {
                return Err(Box::new(Outcome::failed(
                    Status::Failed,
                    ErrorKind::LogWriteFailed,
                    format!(
                        "cannot create the task's log directory {}: {e}",
                        dir.display()
                    ),
                )));
            }
            let run = legate_runner::start(&spec, &id, &prompt, cwd.as_deref(), settings)?;
            // Known before the agent can have started anything: its delegations are its own.
            svc.track_agent(&task_id, run.process(), depth);
            Ok(run)
        })
        .await;
        started.unwrap_or_else(|e| {
            Err(Box::new(Outcome::failed(
                Status::Failed,
                ErrorKind::SpawnFailed,
                format!("starting the agent failed inside legate: {e}"),
            )))
        })
    }

    /// Stores the outcome. A store that fails (a full disk, an I/O error, a lock held too
    /// long) is retried until it takes the outcome — every 50 ms at first, doubling to
    /// [`FINISH_RETRY_MAX`] — so a task never stays `running` with no process once the store
    /// works again. Only a shutdown ends the retries: the task is then still `running` in the
    /// store, and the next start's recovery marks it `interrupted` (requeued by policy). A
    /// lost lease means someone else owns the task now, so the outcome is dropped.
    async fn record_finish(&self, lease: &Lease, outcome: Outcome) {
        let mut delay = Duration::from_millis(50);
        let shutting = self.inner.stopping.clone();
        for attempt in 1u64.. {
            let res = self
                .commit_finish(|store| store.finish(lease, outcome.clone()))
                .await;
            match res {
                Ok(_) => {
                    if attempt > 1 {
                        info!(task = %lease.task_id, "the outcome was recorded after {attempt} attempts");
                    }
                    return;
                }
                Err(StoreError::LeaseLost(id)) => {
                    warn!(task = %id, "finished a task whose lease was lost; the outcome is dropped");
                    return;
                }
                Err(e) => {
                    // Said once, then about once a minute: the daemon's log may be on the
                    // full disk too.
                    if attempt == 1 || attempt % 12 == 0 {
                        error!(task = %lease.task_id, "recording the outcome failed: {e}; retrying until the store takes it");
                    }
                    if shutting.is_cancelled() {
                        warn!(task = %lease.task_id, "the daemon is stopping before the outcome could be recorded; the next start marks the task interrupted");
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutting.cancelled() => {}
                    }
                    delay = (delay * 2).min(FINISH_RETRY_MAX);
                }
            }
        }
    }
}
