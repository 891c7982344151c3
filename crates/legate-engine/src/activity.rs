//! What a running task shows of itself: progress steps and output lines become events, and
//! silence past the agent's `stall_timeout` becomes a `stalled` event (and a cancel, by policy).

use std::convert::Infallible;
use std::time::Duration;

use legate_domain::{AgentSpec, EventKind, StallPolicy};
use legate_runner::{LatestOutput, RunNote, StopReason};
use legate_store::Lease;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::service::Service;

/// How often a running task's latest output line becomes an `output` event.
const OUTPUT_EVERY: Duration = Duration::from_secs(1);

impl Service {
    /// Records one event of a running task (fenced on its lease) and publishes it.
    async fn record_running(&self, lease: &Lease, kind: EventKind, data: serde_json::Value) {
        let recorded = self
            .commit(|store| store.record_event(lease, kind, data))
            .await;
        match recorded {
            Ok(_) => {}
            Err(e) => {
                warn!(task = %lease.task_id, "recording a {} event failed: {e}", kind.as_str())
            }
        }
    }

    /// Publishes an `output` event with the latest line at most once per interval while the
    /// task runs, and only when something new was printed: a task shorter than the interval
    /// costs nothing. On a shared store the newest output is stored too, for readers of the
    /// log on other machines. Runs until the task ends (the caller drops it then).
    pub(crate) async fn report_output(
        &self,
        lease: &Lease,
        mut latest: watch::Receiver<LatestOutput>,
    ) -> Infallible {
        let mut tick = tokio::time::interval(OUTPUT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if !latest.has_changed().unwrap_or(false) {
                continue;
            }
            // Only a shared store needs the tail: copy it out only then.
            let (line, bytes, tail) = {
                let now = latest.borrow_and_update();
                let tail = self.inner.settings.work.shared.then(|| now.tail().to_vec());
                (now.line.clone(), now.bytes, tail)
            };
            if let Some(tail) = tail {
                self.store_output(lease, bytes, &tail).await;
            }
            let data = json!({"line": line, "bytes": bytes});
            self.record_running(lease, EventKind::Output, data).await;
        }
    }

    /// On a shared store, stores a running task's newest output where any engine can read it
    /// (`legate logs` from another machine); the full log stays in the task's directory here.
    pub(crate) async fn store_output(&self, lease: &Lease, total: u64, tail: &[u8]) {
        // Nothing printed, nothing to show: most quick tasks skip the write.
        if !self.inner.settings.work.shared || total == 0 {
            return;
        }
        if let Err(e) = self.inner.store.put_output(lease, total, tail).await {
            warn!(task = %lease.task_id, "storing the task's output for other machines failed: {e}");
        }
    }

    /// Publishes what the agent reports (steps, permission answers) as events, in order,
    /// until the runner drops its end of the channel (when the run is over). Runs as a task of
    /// its own, so a note is never half-recorded when the run ends.
    pub(crate) async fn report_notes(
        self,
        lease: Lease,
        mut notes: mpsc::UnboundedReceiver<RunNote>,
    ) {
        while let Some(note) = notes.recv().await {
            self.record_note(&lease, note).await;
        }
    }

    async fn record_note(&self, lease: &Lease, note: RunNote) {
        let (kind, data) = match note {
            RunNote::Progress(step) => (
                EventKind::Progress,
                serde_json::to_value(&step).unwrap_or_default(),
            ),
            RunNote::Permission(data) => (EventKind::Permission, data),
        };
        self.record_running(lease, kind, data).await;
    }

    /// Watches for silence: no output and no progress for the agent's `stall_timeout`. Reports
    /// it once per silence, and asks the run to stop when the policy is `cancel`.
    pub(crate) async fn watch_stall(
        &self,
        lease: &Lease,
        spec: &AgentSpec,
        mut latest: watch::Receiver<LatestOutput>,
    ) -> Infallible {
        let Some(limit) = spec.stall_timeout else {
            return std::future::pending().await;
        };
        let mut reported = false;
        loop {
            match tokio::time::timeout(limit, latest.changed()).await {
                Ok(Ok(())) => reported = false,
                Ok(Err(_)) => return std::future::pending().await,
                Err(_) if reported => {}
                Err(_) => {
                    reported = true;
                    let action = spec.on_stall.as_str();
                    let data = json!({"idle_ms": limit.as_millis() as u64, "action": action});
                    self.record_running(lease, EventKind::Stalled, data).await;
                    if spec.on_stall == StallPolicy::Cancel {
                        self.stop_running(&lease.task_id, StopReason::Stall);
                    }
                }
            }
        }
    }

    /// Asks a running task's runner to stop, if it is still running here.
    pub(crate) fn stop_running(&self, id: &legate_domain::TaskId, reason: StopReason) {
        let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = running.get(id) {
            tx.send_if_modified(|r| {
                let first = r.is_none();
                if first {
                    *r = Some(reason);
                }
                first
            });
        }
    }
}
