//! The in-process event bus: committed events fan out to live subscribers.

use legate_domain::Event;
use tokio::sync::broadcast;

/// Live events, published only after the commit that made them true, in sequence order (all
/// publishing happens under the engine's write lock). A subscriber that falls behind by more
/// than the buffer gets `Lagged` and must resume from the store with its cursor.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    /// A bus buffering up to `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        EventBus { tx }
    }

    /// Subscribes from now on; replay older events from the store and skip duplicates by seq.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Publishes a committed event (no-op without subscribers).
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(event);
    }
}
