//! Resources: a task (status and whole result) and its output log, for clients that read
//! resources instead of calling tools.

use legate_api::{ClientError, LogRead};
use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ReadResourceResult, ResourceContents, ResourceTemplate,
};

use crate::server::LegateMcp;

/// The largest log tail a resource read returns.
const LOG_TAIL: usize = 1 << 20;

/// The two resource templates.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new("legate://tasks/{id}", "task")
            .with_title("A delegated task")
            .with_description("Status, timing and the whole result of a task, as JSON")
            .with_mime_type("application/json"),
        ResourceTemplate::new("legate://tasks/{id}/log", "task-log")
            .with_title("A task's output log")
            .with_description("What the agent printed (stdout and stderr), the last 1 MiB")
            .with_mime_type("text/plain"),
    ])
}

impl LegateMcp {
    /// Reads `legate://tasks/{id}` or `legate://tasks/{id}/log`.
    pub(crate) async fn read(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let not_found = || {
            ErrorData::resource_not_found(
                format!("no resource {uri}: use legate://tasks/ID or legate://tasks/ID/log"),
                None,
            )
        };
        let rest = uri.strip_prefix("legate://tasks/").ok_or_else(not_found)?;
        let (id, log) = match rest.strip_suffix("/log") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        let task = self
            .task(id)
            .await
            .map_err(|e| ErrorData::resource_not_found(e.0, None))?;
        let text = if log {
            let mut bytes = Vec::new();
            self.client
                .log(task.id.as_str(), &mut LogRead::default(), |chunk| {
                    bytes.extend_from_slice(chunk);
                    if bytes.len() > 2 * LOG_TAIL {
                        bytes.drain(..bytes.len() - LOG_TAIL);
                    }
                    Ok(())
                })
                .await
                .map_err(|e: ClientError| ErrorData::internal_error(e.to_string(), None))?;
            let start = bytes.len().saturating_sub(LOG_TAIL);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        } else {
            serde_json::to_string_pretty(&task).unwrap_or_default()
        };
        let mime = if log {
            "text/plain"
        } else {
            "application/json"
        };
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, uri).with_mime_type(mime),
        ]))
    }
}
