//! On-finish notifications. The notifier follows `finished` events from a durable cursor, so
//! a finish that happened while the daemon was down is announced when it comes back (at least
//! once). Each announcement runs in its own task with its own retries and timeout: a failing
//! or hanging target never delays the others, nor anything else the daemon does. On a store
//! shared by several engines, only the one holding the notifier role announces; another takes
//! over from the saved cursor when its holder stops or vanishes.

mod deliver;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use legate_domain::{Event, EventFilter, EventKind, NotifySettings, Task};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::service::Service;
use deliver::Target;

/// The notifier's cursor name in the store.
const CURSOR: &str = "notifier";
/// How often the cursor is saved while work moves it.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How long a stopping notifier lets deliveries under way end (shutdown waits 5 s for it).
const STOP_GRACE: Duration = Duration::from_secs(3);
/// The longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The role that only one engine on a shared store holds.
const ROLE: &str = "notifier";
/// How long the role outlives its holder's last renewal: how soon another engine takes over
/// from one that vanished.
const ROLE_TTL: Duration = Duration::from_secs(15);
/// How often the holder renews the role, and how often the others try to take it.
const ROLE_EVERY: Duration = Duration::from_secs(5);

impl Service {
    /// Starts the notifier on the current runtime.
    pub(crate) fn spawn_notifier(&self) {
        let svc = self.clone();
        let handle = tokio::spawn(async move { svc.notify_loop().await });
        *self
            .inner
            .notifier
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(handle);
    }

    async fn notify_loop(&self) {
        let stop = self.inner.stopping.clone();
        if !self.inner.settings.work.shared {
            // Alone on its store: nobody else can announce.
            return self.announce_finishes(&stop).await;
        }
        let owner = self.inner.settings.owner.clone();
        loop {
            match self.inner.store.hold_role(ROLE, &owner, ROLE_TTL).await {
                Ok(true) => {
                    info!("announcing finishes for every engine on this store");
                    self.announce_finishes(&stop).await;
                    if stop.is_cancelled() {
                        let _ = self.inner.store.release_role(ROLE, &owner).await;
                        return;
                    }
                    warn!("the notifier role was lost; another engine announces finishes now");
                }
                Ok(false) => {}
                Err(e) => warn!("cannot take the notifier role: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(ROLE_EVERY) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Whether this engine still holds the notifier role (always, alone on its store).
    async fn still_holds_role(&self) -> bool {
        let s = &self.inner.settings;
        !s.work.shared
            || matches!(
                self.inner.store.hold_role(ROLE, &s.owner, ROLE_TTL).await,
                Ok(true)
            )
    }

    /// Announces finishes from the saved cursor until shutdown, or until the role is lost on a
    /// shared store (then the cursor is left to the new holder).
    async fn announce_finishes(&self, stop: &CancellationToken) {
        let start = loop {
            match self.inner.store.cursor(CURSOR).await {
                Ok(c) => break c,
                Err(e) => {
                    error!("reading the notifier's cursor failed: {e}; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        };
        let http = reqwest::Client::new();
        let filter = EventFilter {
            kinds: vec![EventKind::Finished],
            ..EventFilter::default()
        };
        let mut follower = self.follow(start, filter.clone());
        let mut in_flight: BTreeSet<i64> = BTreeSet::new();
        let mut deliveries: JoinSet<i64> = JoinSet::new();
        let (mut seen, mut saved) = (start, start);
        let mut tick = tokio::time::interval(SAVE_EVERY);
        let mut renew = tokio::time::interval(ROLE_EVERY);
        loop {
            tokio::select! {
                next = follower.next() => match next {
                    Ok(ev) => {
                        seen = ev.seq;
                        if let Some(job) = self.announcement(&ev, &http).await {
                            in_flight.insert(ev.seq);
                            deliveries.spawn(job);
                        }
                    }
                    Err(_) if stop.is_cancelled() => break,
                    Err(e) => {
                        warn!("the notifier lost the event log: {e}; resuming");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        follower = self.follow(seen, filter.clone());
                    }
                },
                Some(done) = deliveries.join_next() => {
                    if let Ok(seq) = done {
                        in_flight.remove(&seq);
                    }
                }
                _ = tick.tick() => saved = self.save_cursor(&in_flight, seen, saved).await,
                _ = renew.tick() => if !self.still_holds_role().await {
                    return;
                },
                _ = stop.cancelled() => break,
            }
        }
        // A clean stop lets the deliveries under way end (briefly, within what shutdown waits
        // for the notifier), so they are not announced again by the next start.
        let grace = tokio::time::sleep(STOP_GRACE);
        tokio::pin!(grace);
        while !deliveries.is_empty() {
            tokio::select! {
                Some(done) = deliveries.join_next() => if let Ok(seq) = done {
                    in_flight.remove(&seq);
                },
                _ = &mut grace => break,
            }
        }
        self.save_cursor(&in_flight, seen, saved).await;
    }

    /// Saves the highest sequence number below which everything was announced.
    async fn save_cursor(&self, in_flight: &BTreeSet<i64>, seen: i64, saved: i64) -> i64 {
        let safe = in_flight.first().map_or(seen, |s| s - 1);
        if safe == saved {
            return saved;
        }
        match self.inner.store.set_cursor(CURSOR, safe).await {
            Ok(()) => safe,
            Err(e) => {
                warn!("saving the notifier's cursor failed: {e}");
                saved
            }
        }
    }

    /// The delivery job for a finish, if anything is to be announced.
    async fn announcement(
        &self,
        ev: &Event,
        http: &reqwest::Client,
    ) -> Option<impl Future<Output = i64> + Send + 'static> {
        let config = self.inner.config.last_good();
        // Most finishes have nowhere to go: skip them without reading the task.
        let own = ev.data["notify"].as_bool().unwrap_or(true);
        let agent_has = ev.data["agent"]
            .as_str()
            .and_then(|a| config.agents.get(a))
            .is_none_or(|a| !a.notify.is_empty());
        if !own && !agent_has && config.notify.targets.is_empty() && !config.notify.desktop {
            return None;
        }
        let task = match self.get_by_id(&ev.task_id, false).await {
            Ok(t) => t,
            // Pruned since: nothing left to announce.
            Err(_) => return None,
        };
        let mut targets: Vec<Target> = Vec::new();
        let agent_targets = config.agents.get(&task.agent).map(|a| a.notify.clone());
        for t in config
            .notify
            .targets
            .iter()
            .chain(agent_targets.iter().flatten())
            .chain(task.notify.iter())
        {
            targets.push(Target::Configured(t.clone()));
        }
        if config.notify.desktop
            && let Ok(p) = which::which("notify-send")
        {
            targets.push(Target::Desktop(p));
        }
        let mut unique = HashSet::new();
        targets.retain(|t| unique.insert(t.clone()));
        if targets.is_empty() {
            return None;
        }
        let settings = config.notify.clone();
        // Receivers see the task, not where else it is announced: one target's URL or
        // command is none of another's business.
        let payload = Task {
            notify: Vec::new(),
            ..task.clone()
        };
        let body: Arc<[u8]> = serde_json::to_vec(&payload).unwrap_or_default().into();
        let (http, seq, task) = (http.clone(), ev.seq, Arc::new(task));
        Some(async move {
            let mut each = JoinSet::new();
            for t in targets {
                each.spawn(announce(
                    t,
                    task.clone(),
                    body.clone(),
                    settings.clone(),
                    http.clone(),
                ));
            }
            while each.join_next().await.is_some() {}
            seq
        })
    }
}

/// Announces one finish to one target, retrying with doubling pauses.
async fn announce(
    target: Target,
    task: Arc<Task>,
    body: Arc<[u8]>,
    settings: NotifySettings,
    http: reqwest::Client,
) {
    let mut pause = settings.backoff;
    for attempt in 0..=settings.retries {
        match deliver::attempt(&target, &task, &body, settings.timeout, &http).await {
            Ok(()) => {
                if attempt > 0 {
                    info!(task = %task.id, "{} delivered on attempt {}", target.describe(), attempt + 1);
                }
                return;
            }
            Err(e) if attempt < settings.retries => {
                warn!(task = %task.id, "{} failed: {e}; retrying in {pause:?}", target.describe());
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
            }
            Err(e) => error!(
                task = %task.id,
                "{} failed: {e}; gave up after {} attempts",
                target.describe(),
                attempt + 1
            ),
        }
    }
}
