//! The one way the engine writes what announces itself: under the write lock, through the
//! store, and only once the store committed, onto the bus, in commit order. So followers see
//! events in sequence order and never one that was rolled back (see ARCHITECTURE.md).

use std::future::Future;

use legate_domain::{Event, Task};
use legate_store::{Claimed, Inserted, Pruned, Rescued, Store, StoreError};

use crate::service::Service;

/// What a store write returns, with the events it committed.
pub(crate) trait Committed {
    /// The committed events, in commit order.
    fn events(&self) -> Vec<&Event>;
}

impl Committed for Event {
    fn events(&self) -> Vec<&Event> {
        vec![self]
    }
}

impl Committed for (Task, Event) {
    fn events(&self) -> Vec<&Event> {
        vec![&self.1]
    }
}

impl Committed for Inserted {
    fn events(&self) -> Vec<&Event> {
        self.event.iter().collect()
    }
}

impl Committed for Claimed {
    fn events(&self) -> Vec<&Event> {
        vec![&self.event]
    }
}

impl Committed for Rescued {
    fn events(&self) -> Vec<&Event> {
        self.events.iter().collect()
    }
}

impl Committed for Pruned {
    fn events(&self) -> Vec<&Event> {
        Vec::new()
    }
}

impl<T: Committed> Committed for Option<T> {
    fn events(&self) -> Vec<&Event> {
        self.iter().flat_map(Committed::events).collect()
    }
}

impl<T: Committed> Committed for Vec<T> {
    fn events(&self) -> Vec<&Event> {
        self.iter().flat_map(Committed::events).collect()
    }
}

impl Service {
    /// Runs `write` on the store under the write lock, then publishes the events it committed.
    /// Errors: the store's; nothing is published then.
    pub(crate) async fn commit<'s, T, F>(
        &'s self,
        write: impl FnOnce(&'s dyn Store) -> F,
    ) -> Result<T, StoreError>
    where
        T: Committed,
        F: Future<Output = Result<T, StoreError>>,
    {
        self.commit_then(write, async |_| {}).await
    }

    /// [`Service::commit`], with `also` run on what committed while the lock is still held,
    /// before the events are published: a claim registers its run there, so a cancel that
    /// follows its `started` event always finds it; a rescue kills the leftovers of what it
    /// took back, so its `interrupted` event means they are gone.
    pub(crate) async fn commit_then<'s, T, F>(
        &'s self,
        write: impl FnOnce(&'s dyn Store) -> F,
        also: impl AsyncFnOnce(&T),
    ) -> Result<T, StoreError>
    where
        T: Committed,
        F: Future<Output = Result<T, StoreError>>,
    {
        let _w = self.inner.write_lock.lock().await;
        let out = write(&*self.inner.store).await?;
        also(&out).await;
        for ev in out.events() {
            self.inner.bus.publish(ev.clone());
        }
        Ok(out)
    }

    /// A finish: [`Service::commit`] on a store of this engine's own; on a shared store
    /// followers read events in sequence order anyway, so finishes commit side by side, and
    /// only their publication is in this engine's order.
    pub(crate) async fn commit_finish<'s, F>(
        &'s self,
        write: impl FnOnce(&'s dyn Store) -> F,
    ) -> Result<(Task, Event), StoreError>
    where
        F: Future<Output = Result<(Task, Event), StoreError>>,
    {
        if !self.inner.settings.work.shared {
            return self.commit(write).await;
        }
        let out = write(&*self.inner.store).await?;
        self.inner.bus.publish(out.1.clone());
        Ok(out)
    }
}
