//! Listing agents with their availability.

use legate_domain::agent::AgentView;
use legate_domain::api::{ApiError, ErrorCode};
use legate_runner::exec::resolve_program;

use crate::error::ServiceError;
use crate::service::Service;

impl Service {
    /// Every configured and built-in agent, with whether its program is found.
    pub async fn agents(&self) -> Result<Vec<AgentView>, ServiceError> {
        let config = self.inner.config.current().map_err(|e| {
            ApiError::new(
                ErrorCode::ConfigInvalid,
                e.to_string(),
                "fix the config file",
            )
        })?;
        Ok(config
            .agents
            .values()
            .map(|a| {
                let found = resolve_program(a, a.cwd.as_deref().map(std::path::Path::new));
                AgentView {
                    name: a.name.clone(),
                    kind: a.kind,
                    command: a.command.clone(),
                    prompt: a.prompt,
                    env_keys: a.env.keys().cloned().collect(),
                    description: a.description.clone(),
                    max_running: a.max_running,
                    timeout_ms: a.timeout.map(|d| d.as_millis() as u64),
                    for_models: a.for_models,
                    builtin: a.builtin,
                    available: found.is_ok(),
                    program: match found {
                        Ok(p) => p.display().to_string(),
                        Err(m) => m,
                    },
                }
            })
            .collect())
    }
}
