//! `LISTEN` for event commits: how a worker learns at once that another one queued, finished
//! or requeued a task.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::{Change, StoreError};

/// Starts listening on `channel`; each notice arrives on the receiver, its payload (an event
/// kind's name) parsed here, once. The listener reconnects by itself after a lost connection
/// and then sends [`Change::Unknown`], since notices sent meanwhile are lost (callers cover
/// that with a slow poll); a payload that names no kind is logged and sent as
/// [`Change::Unknown`] too. It ends when the receiver is dropped.
pub(crate) async fn changes(
    pool: &PgPool,
    channel: &str,
) -> Result<mpsc::UnboundedReceiver<Change>, StoreError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut warned = false;
        loop {
            let change = match listener.try_recv().await {
                Ok(Some(n)) => Change::from_payload(n.payload()).unwrap_or_else(|e| {
                    // Once per listener: a newer engine would send such notices with every
                    // event of its new kind.
                    if warned {
                        debug!("a store change notice was not understood: {e}");
                    } else {
                        warn!("a store change notice was not understood: {e}");
                        warned = true;
                    }
                    Change::Unknown
                }),
                // The connection was lost: it reconnects at the next call. Say so, since
                // notices may have been missed.
                Ok(None) => Change::Unknown,
                Err(e) => {
                    warn!("listening for store changes failed: {e}; retrying");
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if tx.send(change).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}
