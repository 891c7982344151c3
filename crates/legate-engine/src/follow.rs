//! Following the event log: history from the store, then live events from the bus, with no
//! event lost or repeated in between.

use crate::EngineError;
use std::collections::VecDeque;

use legate_domain::api::ErrorCode;
use legate_domain::{Event, EventFilter};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;
use crate::service::Service;

/// How many events one store read brings back while catching up.
const PAGE: u32 = 1000;

/// On a shared store, how long a hole in the sequence is waited for before it counts as a
/// transaction that rolled back: Postgres hands out sequence numbers before commit, so an
/// event can become visible after a later one.
const HOLE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// On a shared store, how often a follower reads the log even if nothing woke it.
const SHARED_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// A resumable cursor over the event log. It subscribes to the bus before it reads any history,
/// so an event committed while it catches up reaches it one way or the other; events at or
/// below its cursor are dropped, so none arrives twice. A follower that falls behind the bus
/// (a slow reader) goes back to the store from its cursor: it never blocks the daemon and
/// never misses an event.
pub struct Follower {
    service: Service,
    rx: broadcast::Receiver<Event>,
    stopping: CancellationToken,
    filter: EventFilter,
    cursor: i64,
    backlog: VecDeque<Event>,
    live: bool,
    /// On a shared store: the last sequence number seen in order (filtered or not), and since
    /// when the next one has been missing.
    shared: Option<(i64, Option<tokio::time::Instant>)>,
}

impl Service {
    /// Follows events after `after` that pass `filter`.
    pub fn follow(&self, after: i64, filter: EventFilter) -> Follower {
        Follower {
            rx: self.inner.bus.subscribe(),
            stopping: self.inner.stopping.clone(),
            service: self.clone(),
            filter,
            cursor: after,
            backlog: VecDeque::new(),
            live: false,
            shared: self.inner.settings.work.shared.then_some((after, None)),
        }
    }
}

impl Follower {
    /// The sequence number of the last event returned (or the starting point).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next event, waiting for one as long as it takes. Fails when the store fails or the
    /// daemon shuts down; resume with a new follower from [`Follower::cursor`].
    pub async fn next(&mut self) -> Result<Event, ServiceError> {
        if let Some(state) = self.shared {
            return self.next_shared(state).await;
        }
        loop {
            if let Some(e) = self.backlog.pop_front() {
                self.cursor = e.seq;
                return Ok(e);
            }
            if !self.live {
                let page = self
                    .service
                    .inner
                    .store
                    .events_after(self.cursor, PAGE, &self.filter)
                    .await?;
                self.live = page.is_empty();
                self.backlog.extend(page);
                continue;
            }
            if self.stopping.is_cancelled() {
                return Err(shutting_down());
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                _ = self.stopping.cancelled() => return Err(shutting_down()),
            };
            match received {
                Ok(e) if e.seq > self.cursor && self.filter.matches(&e) => {
                    self.cursor = e.seq;
                    return Ok(e);
                }
                Ok(_) => {}
                // Fell behind the bus: catch up from the store, then listen again.
                Err(broadcast::error::RecvError::Lagged(_)) => self.live = false,
                Err(broadcast::error::RecvError::Closed) => return Err(shutting_down()),
            }
        }
    }
}

impl Follower {
    /// On a store other engines write too, the bus holds only part of the log: read the store
    /// in sequence order, wait briefly at a hole (a commit still on its way), and treat the bus
    /// as a wake-up only.
    async fn next_shared(
        &mut self,
        (mut seen, mut hole): (i64, Option<tokio::time::Instant>),
    ) -> Result<Event, ServiceError> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                self.cursor = e.seq;
                self.shared = Some((seen, hole));
                return Ok(e);
            }
            let page = self
                .service
                .inner
                .store
                .events_after(seen, PAGE, &EventFilter::default())
                .await?;
            for e in page {
                if e.seq != seen + 1 {
                    let since = *hole.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() < HOLE_WAIT {
                        break;
                    }
                }
                hole = None;
                seen = e.seq;
                if e.seq > self.cursor && self.filter.matches(&e) {
                    self.backlog.push_back(e);
                }
            }
            if !self.backlog.is_empty() {
                continue;
            }
            tokio::select! {
                r = self.rx.recv() => if let Err(broadcast::error::RecvError::Closed) = r {
                    return Err(shutting_down());
                },
                _ = tokio::time::sleep(SHARED_POLL) => {}
                _ = self.stopping.cancelled() => return Err(shutting_down()),
            }
        }
    }
}

fn shutting_down() -> ServiceError {
    EngineError::refused(
        ErrorCode::Internal,
        "the daemon is shutting down",
        "follow again from your last sequence number once it is back",
    )
}
