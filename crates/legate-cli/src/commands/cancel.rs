//! `legate cancel`.

use anyhow::Result;
use legate_domain::api::CancelRequest;

use crate::commands::print_json;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Cancels the given tasks, the unfinished ones with a label, or all unfinished ones.
pub async fn cancel(paths: &Paths, req: CancelRequest, json: bool) -> Result<i32> {
    let client = connect(paths).await?;
    let res = client.cancel(&req).await?;
    if json {
        print_json(&res.tasks)?;
    } else if res.tasks.is_empty() {
        outln!("nothing to cancel");
    } else {
        out!("{}", crate::render::task_lines(&res.tasks));
    }
    Ok(exit::OK)
}
