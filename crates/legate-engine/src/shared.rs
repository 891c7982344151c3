//! Working on a store shared with other engines (daemons and `legate worker`s on any number of
//! machines): wake up when another one queues or frees work, and take back tasks whose
//! runner's lease lapsed (a worker killed, a machine gone, a network cut).

use std::time::Duration;

use legate_domain::EventKind;
use legate_store::{Change, RescueScope};
use tracing::{info, warn};

use crate::service::Service;

/// How often the scheduler looks at the queue when nothing woke it: the safety net under
/// `LISTEN/NOTIFY`, whose notices can be lost across a reconnect.
pub(crate) const FALLBACK_POLL: Duration = Duration::from_secs(2);

impl Service {
    /// Wakes the scheduler whenever another engine commits a change that can free or add work.
    pub(crate) async fn spawn_change_listener(&self) {
        let changes = match self.inner.store.changes().await {
            Ok(Some(rx)) => rx,
            Ok(None) => return,
            Err(e) => {
                warn!(
                    "cannot listen for store changes ({e}); relying on the {FALLBACK_POLL:?} poll"
                );
                return;
            }
        };
        let mut cursor = self.inner.store.last_seq().await.unwrap_or(0);
        let svc = self.clone();
        tokio::spawn(async move {
            let mut changes = changes;
            let shutting = svc.inner.stopping.clone();
            loop {
                let first = tokio::select! {
                    change = changes.recv() => match change {
                        None => return,
                        Some(change) => change,
                    },
                    // The poll: anything may have changed unannounced.
                    _ = tokio::time::sleep(FALLBACK_POLL) => Change::Unknown,
                    _ = shutting.cancelled() => return,
                };
                // Notices come in bursts (one per event): act once per burst.
                let mut frees = frees_work(first);
                while let Ok(change) = changes.try_recv() {
                    frees |= frees_work(change);
                }
                if frees {
                    svc.inner.wake.notify_one();
                    cursor = svc.relay_endings(cursor).await;
                }
            }
        });
    }

    /// Publishes on this engine's bus the endings other engines committed since `cursor`, so
    /// `wait` here sees a task finish wherever it ran. Returns the new cursor.
    async fn relay_endings(&self, cursor: i64) -> i64 {
        let filter = legate_domain::EventFilter {
            kinds: vec![
                EventKind::Finished,
                EventKind::Interrupted,
                EventKind::Requeued,
            ],
            ..Default::default()
        };
        match self.inner.store.events_after(cursor, 1000, &filter).await {
            Ok(events) => {
                let last = events.last().map_or(cursor, |e| e.seq);
                for ev in events {
                    self.inner.bus.publish(ev);
                }
                last
            }
            Err(e) => {
                warn!("reading other engines' events failed: {e}");
                cursor
            }
        }
    }

    /// Every half lease, takes back running tasks whose lease expired: they become
    /// `interrupted`, and go back to the queue (attempt + 1 at the next claim) when their agent
    /// says `retry_interrupted`.
    pub(crate) fn spawn_lease_rescue(&self) {
        let svc = self.clone();
        tokio::spawn(async move {
            let every = (svc.inner.settings.lease_ttl / 2).max(Duration::from_millis(200));
            let shutting = svc.inner.stopping.clone();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutting.cancelled() => return,
                }
                match svc
                    .rescue(
                        &RescueScope::Expired,
                        "its runner's lease lapsed (worker killed, machine gone or cut off)",
                    )
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => info!("took back {n} task(s) whose lease lapsed"),
                    Err(e) => warn!("taking back lapsed leases failed: {e}"),
                }
            }
        });
    }
}

/// Whether a change can free a slot or add work (an unknown one, from a poll, a reconnect or
/// a notice this version does not understand, might hide anything).
fn frees_work(change: Change) -> bool {
    match change {
        Change::Unknown => true,
        Change::Event(kind) => match kind {
            EventKind::Queued
            | EventKind::Finished
            | EventKind::Interrupted
            | EventKind::Requeued => true,
            EventKind::Started
            | EventKind::CancelRequested
            | EventKind::Progress
            | EventKind::Output
            | EventKind::Stalled
            | EventKind::Permission => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_that_can_free_or_add_work_wake_the_scheduler() {
        let waking: Vec<EventKind> = EventKind::ALL
            .iter()
            .copied()
            .filter(|&k| frees_work(Change::Event(k)))
            .collect();
        assert_eq!(
            waking,
            [
                EventKind::Queued,
                EventKind::Finished,
                EventKind::Interrupted,
                EventKind::Requeued
            ]
        );
        assert!(frees_work(Change::Unknown));
    }
}
