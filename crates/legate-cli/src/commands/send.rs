//! `legate send`: continue a finished task's agent session.

use anyhow::Result;
use legate_domain::api::{SendRequest, new_idempotency_key, parse_task_ref};
use legate_domain::{Delegation, TaskEnv};

use crate::cli::SendArgs;
use crate::commands::run::{submitted, timeout_ms, unanswered};
use crate::connect::connect;
use crate::paths::Paths;

/// Submits the follow-up; prints its id (or, with `--wait`, its result).
pub async fn send(paths: &Paths, args: SendArgs, json: bool) -> Result<i32> {
    let req = SendRequest {
        prompt: args.text.read()?,
        title: args.title.clone(),
        origin: None,
        timeout_ms: timeout_ms(args.timeout.as_deref())?,
        env: Some(TaskEnv::of_this_process()),
        idempotency_key: Some(new_idempotency_key()),
    };
    Delegation::from_env()?;
    let client = connect(paths).await?;
    parse_task_ref(&args.id)?;
    let res = client.send(&args.id, &req).await.map_err(unanswered)?;
    submitted(paths, client, res, args.wait, json).await
}
