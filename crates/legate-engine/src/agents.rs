//! Listing agents with whether their program is found and which version it is.

use crate::EngineError;
use std::time::SystemTime;

use legate_domain::AgentSpec;
use legate_domain::agent::AgentView;
use legate_domain::api::ErrorCode;
use legate_runner::environment::listing_search_path;
use legate_runner::exec::resolve_program;

use crate::error::ServiceError;
use crate::service::Service;

/// Which versions a listing carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// None: no agent program is run (what the MCP server's lookups use).
    Skip,
    /// Each program's version, asked once per program file and then remembered.
    Cached,
    /// Asked again now (`legate agents --check`).
    Fresh,
}

/// A version answer, kept until the program file changes.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    modified: Option<SystemTime>,
    answer: Result<String, String>,
}

impl Service {
    /// Every configured and built-in agent, with whether its program is found and, as asked,
    /// its version.
    pub async fn agents(
        &self,
        versions: Versions,
        path: Option<&str>,
    ) -> Result<Vec<AgentView>, ServiceError> {
        let config = self.inner.config.current().map_err(|e| {
            EngineError::refused(
                ErrorCode::ConfigInvalid,
                e.to_string(),
                "fix the config file",
            )
        })?;
        let found: Vec<_> = config
            .agents
            .values()
            .map(|a| {
                resolve_program(
                    a,
                    a.cwd.as_deref().map(std::path::Path::new),
                    listing_search_path(a, path),
                )
            })
            .collect();
        let probes = config
            .agents
            .values()
            .zip(&found)
            .map(|(a, program)| self.version_of(a, program.as_ref().ok(), versions, path));
        let versions = futures_util::future::join_all(probes).await;
        Ok(config
            .agents
            .values()
            .zip(found)
            .zip(versions)
            .map(|((a, found), version)| view(a, found, version))
            .collect())
    }

    async fn version_of(
        &self,
        spec: &AgentSpec,
        program: Option<&std::path::PathBuf>,
        versions: Versions,
        path: Option<&str>,
    ) -> Option<String> {
        let program = program?;
        if spec.version_command.is_empty() || versions == Versions::Skip {
            return None;
        }
        let check = versions == Versions::Fresh;
        let modified = std::fs::metadata(program).and_then(|m| m.modified()).ok();
        let key = format!(
            "{}\u{0}{}",
            program.display(),
            spec.version_command.join("\u{0}")
        );
        let cached = self
            .inner
            .versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|c| c.modified == modified && !check)
            .cloned();
        let answer = match cached {
            Some(c) => c.answer,
            None => {
                let answer = legate_runner::version::probe(spec, path).await;
                self.inner
                    .versions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        key,
                        Checked {
                            modified,
                            answer: answer.clone(),
                        },
                    );
                answer
            }
        };
        Some(match answer {
            Ok(v) => v,
            Err(e) => format!("error: {e}"),
        })
    }
}

fn view(
    a: &AgentSpec,
    found: Result<std::path::PathBuf, String>,
    version: Option<String>,
) -> AgentView {
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
        format: a.format,
        resumable: a.can_resume(),
        model: a.model.clone(),
        stall_timeout_ms: a.stall_timeout.map(|d| d.as_millis() as u64),
        cwd: a.cwd.clone(),
        version,
        available: found.is_ok(),
        program: match found {
            Ok(p) => p.display().to_string(),
            Err(m) => m,
        },
    }
}
