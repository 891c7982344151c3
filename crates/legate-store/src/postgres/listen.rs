//! `LISTEN` for event commits: how a worker learns at once that another one queued, finished
//! or requeued a task.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tracing::warn;

use crate::StoreError;

/// Starts listening on `channel`; each notice (an event kind) arrives on the receiver. The
/// listener reconnects by itself after a lost connection; notices sent meanwhile are lost,
/// which callers cover with a slow poll. It ends when the receiver is dropped.
pub(crate) async fn changes(
    pool: &PgPool,
    channel: &str,
) -> Result<mpsc::UnboundedReceiver<String>, StoreError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                // The connection was lost: it reconnects at the next call. Say so, since
                // notices may have been missed.
                Ok(None) => {
                    if tx.send(String::new()).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!("listening for store changes failed: {e}; retrying");
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(rx)
}
