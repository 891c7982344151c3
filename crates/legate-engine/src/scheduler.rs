//! The scheduler: claims queued tasks within the caps when woken by a submit or a task end,
//! and keeps its leases alive.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use legate_store::ClaimRequest;
use tracing::{error, warn};

use crate::service::Service;

/// How many tasks one claim transaction may take.
const CLAIM_BATCH: u32 = 64;

impl Service {
    pub(crate) fn spawn_scheduler(&self) {
        let svc = self.clone();
        tokio::spawn(async move { svc.schedule_loop().await });
    }

    async fn schedule_loop(&self) {
        let shutting = self.inner.stopping.clone();
        loop {
            if shutting.is_cancelled() {
                return;
            }
            let config = self.inner.config.last_good();
            let work = &self.inner.settings.work;
            let room = match work.slots {
                Some(slots) => slots.saturating_sub(self.running_here()),
                None => CLAIM_BATCH,
            };
            // A draining engine on a shared store leaves the queue to the others.
            if room == 0 || (work.shared && self.is_draining()) {
                // Every slot here is taken: a task end wakes us.
                self.idle(&shutting).await;
                continue;
            }
            let req = ClaimRequest {
                owner: self.inner.settings.owner.clone(),
                lease_ttl: self.inner.settings.lease_ttl,
                max_running: config.limits.max_running,
                agent_caps: config
                    .agents
                    .values()
                    .filter_map(|a| a.max_running.map(|m| (a.name.clone(), m)))
                    .collect::<BTreeMap<_, _>>(),
                agents: work.agents.clone(),
                max_claims: room.min(CLAIM_BATCH),
            };
            let mut stops = Vec::new();
            let claimed = self
                .commit_then(
                    |store| store.claim(&req),
                    async |claims: &Vec<legate_store::Claimed>| {
                        stops = claims.iter().map(|cl| self.register_running(cl)).collect();
                    },
                )
                .await
                .map(|claims| claims.into_iter().zip(stops).collect::<Vec<_>>());
            match claimed {
                Ok(claims) => {
                    // A claim can stop short of the batch (an agent's cap filled up inside
                    // it) while the queue still holds work for others: claim until one
                    // comes back empty.
                    let more = !claims.is_empty();
                    for (c, stop) in claims {
                        self.spawn_supervisor(c, stop);
                    }
                    if more {
                        continue;
                    }
                    self.idle(&shutting).await;
                }
                Err(e) => {
                    error!("claiming tasks failed: {e}; retrying");
                    tokio::select! {
                        _ = self.inner.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutting.cancelled() => {}
                    }
                }
            }
        }
    }

    /// Waits for a reason to claim again: a wake-up, shutdown, or on a shared store the slow
    /// poll (another engine's notice may have been lost).
    async fn idle(&self, shutting: &CancellationToken) {
        let poll = async {
            if self.inner.settings.work.shared {
                tokio::time::sleep(crate::shared::FALLBACK_POLL).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = self.inner.wake.notified() => {}
            _ = poll => {}
            _ = shutting.cancelled() => {}
        }
    }

    /// How many tasks run here now.
    pub(crate) fn running_here(&self) -> u32 {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len() as u32
    }

    pub(crate) fn spawn_heartbeat(&self) {
        let svc = self.clone();
        tokio::spawn(async move {
            let every = svc.inner.settings.lease_ttl / 3;
            let shutting = svc.inner.stopping.clone();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutting.cancelled() => return,
                }
                let s = &svc.inner;
                if let Err(e) = s
                    .store
                    .heartbeat(&s.settings.owner, s.settings.lease_ttl)
                    .await
                {
                    warn!("lease heartbeat failed: {e}");
                }
            }
        });
    }
}
