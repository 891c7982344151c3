//! Group commit for the writes every run makes: its process record, its output for other
//! machines and its finish. On Postgres each commit waits for the write-ahead log to reach the
//! disk (milliseconds), so the writes that arrive while one transaction commits go together in
//! the next one; each caller still gets its own answer. Under light load a batch is one write.

use legate_domain::{Event, Outcome, ProcessInfo, Task};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use crate::sql;
use crate::{Lease, StoreError};

/// The most writes one transaction carries.
const MAX_BATCH: usize = 256;

/// A write waiting for its transaction, with where its answer goes.
pub(crate) enum Write {
    /// Record the process running a claimed task.
    Process(Lease, ProcessInfo, oneshot::Sender<Result<(), StoreError>>),
    /// Store a run's newest output.
    Output(Lease, u64, Vec<u8>, oneshot::Sender<Result<(), StoreError>>),
    /// End a run.
    Finish(
        Lease,
        Outcome,
        oneshot::Sender<Result<(Task, Event), StoreError>>,
    ),
}

/// One write's answer, before it is sent.
enum Answer {
    Process(Result<(), StoreError>),
    Output(Result<(), StoreError>),
    /// Boxed: a task and its event dwarf the other answers.
    Finish(Box<Result<(Task, Event), StoreError>>),
}

/// Starts the writer; it ends when every sender is dropped.
pub(crate) fn spawn(pool: PgPool) -> mpsc::UnboundedSender<Write> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            commit(&pool, std::mem::take(&mut batch)).await;
        }
    });
    tx
}

/// Commits a batch in one transaction; if that fails (a broken connection, a bad row), each
/// write is tried alone so one cannot sink the others.
async fn commit(pool: &PgPool, batch: Vec<Write>) {
    if batch.len() > 1
        && let Ok(answers) = together(pool, &batch).await
    {
        for (write, answer) in batch.into_iter().zip(answers) {
            write.answer(answer);
        }
        return;
    }
    for write in batch {
        let answer = match alone(pool, &write).await {
            Ok(answer) => answer,
            Err(e) => write.failure(e),
        };
        write.answer(answer);
    }
}

async fn together(pool: &PgPool, batch: &[Write]) -> Result<Vec<Answer>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut answers = Vec::with_capacity(batch.len());
    for write in batch {
        answers.push(apply(&mut tx, write).await?);
    }
    tx.commit().await?;
    Ok(answers)
}

async fn alone(pool: &PgPool, write: &Write) -> Result<Answer, StoreError> {
    let mut tx = pool.begin().await?;
    let answer = apply(&mut tx, write).await?;
    tx.commit().await?;
    Ok(answer)
}

/// Applies one write. A refusal (lease lost, no such task, a forbidden transition) changes
/// nothing and is that write's answer; any other error aborts the transaction.
async fn apply(conn: &mut PgConnection, write: &Write) -> Result<Answer, StoreError> {
    match write {
        Write::Process(lease, process, _) => {
            refusal_or_abort(sql::record_process(conn, lease, *process).await).map(Answer::Process)
        }
        Write::Output(lease, total, tail, _) => {
            refusal_or_abort(sql::put_output(conn, lease, *total, tail).await).map(Answer::Output)
        }
        Write::Finish(lease, outcome, _) => {
            refusal_or_abort(sql::finish(conn, lease, outcome.clone()).await)
                .map(|a| Answer::Finish(Box::new(a)))
        }
    }
}

fn refusal_or_abort<T>(r: Result<T, StoreError>) -> Result<Result<T, StoreError>, StoreError> {
    match r {
        Err(e @ (StoreError::Database(_) | StoreError::Corrupt(_) | StoreError::Migrate(_))) => {
            Err(e)
        }
        other => Ok(other),
    }
}

impl Write {
    /// This write's answer when its transaction failed with `e`.
    fn failure(&self, e: StoreError) -> Answer {
        match self {
            Write::Process(..) => Answer::Process(Err(e)),
            Write::Output(..) => Answer::Output(Err(e)),
            Write::Finish(..) => Answer::Finish(Box::new(Err(e))),
        }
    }

    /// Sends the answer; a caller that stopped waiting is no concern.
    fn answer(self, answer: Answer) {
        match (self, answer) {
            (Write::Process(.., to), Answer::Process(a)) => {
                let _ = to.send(a);
            }
            (Write::Output(.., to), Answer::Output(a)) => {
                let _ = to.send(a);
            }
            (Write::Finish(.., to), Answer::Finish(a)) => {
                let _ = to.send(*a);
            }
            // `apply` and `failure` answer each write in its own kind.
            _ => unreachable!("a write answered in another kind"),
        }
    }
}
