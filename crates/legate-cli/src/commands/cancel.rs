//! `legate cancel`.

use anyhow::Result;
use legate_domain::api::{CancelRequest, CancelResponse};

use crate::commands::print_json;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Cancels the given tasks, or all unfinished ones.
pub async fn cancel(paths: &Paths, ids: Vec<String>, all: bool, json: bool) -> Result<i32> {
    let client = connect(paths).await?;
    let res: CancelResponse = client
        .post("/v1/tasks/cancel", &CancelRequest { ids, all })
        .await?;
    if json {
        print_json(&res.tasks)?;
    } else if res.tasks.is_empty() {
        println!("nothing to cancel");
    } else {
        for t in &res.tasks {
            println!("{}\t{}", t.id, t.status);
        }
    }
    Ok(exit::OK)
}
