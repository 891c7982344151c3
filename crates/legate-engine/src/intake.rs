//! Intake: validated submissions are stored in groups, one durable commit for every
//! submission that arrived while the previous commit was under way (group commit). A lone
//! submitter pays one fsync as before; many concurrent submitters share them.

use legate_domain::NewTask;
use legate_store::Inserted;
use tokio::sync::{mpsc, oneshot};

use crate::error::{EngineError, ServiceError};
use crate::service::Service;

/// The most submissions one commit takes.
const MAX_GROUP: usize = 64;

/// One submission waiting for its commit.
pub(crate) type Pending = (NewTask, oneshot::Sender<Result<Inserted, ServiceError>>);

impl Service {
    /// Runs the intake loop until the channel closes.
    pub(crate) fn spawn_intake(&self, mut rx: mpsc::Receiver<Pending>) {
        let svc = self.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(p) => group.push(p),
                        Err(_) => break,
                    }
                }
                let (tasks, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                let stored = svc.commit(|store| store.insert_batch(tasks)).await;
                match stored {
                    Ok(list) => {
                        for (ins, reply) in list.into_iter().zip(replies) {
                            let _ = reply.send(Ok(ins));
                        }
                        svc.inner.wake.notify_one();
                    }
                    Err(e) => {
                        let err = EngineError::from(e);
                        for reply in replies {
                            let _ = reply.send(Err(err.clone()));
                        }
                    }
                }
            }
        });
    }
}
