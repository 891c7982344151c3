//! Asking an agent's CLI for its version: proves it runs, and tells which release is in use.

use std::process::Stdio;
use std::time::Duration;

use legate_domain::AgentSpec;
use tokio::process::Command;

use crate::command::resolve_program;

/// How long a version command may take (Node CLIs start slowly on a cold cache).
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the agent's version command, its program looked up as
/// [`crate::environment::listing_search_path`] says (`path`: the asking client's `PATH`); the
/// first line it prints, or why it failed.
pub async fn probe(spec: &AgentSpec, path: Option<&str>) -> Result<String, String> {
    let Some(program) = spec.version_command.first() else {
        return Err("no version_command is set for this agent".into());
    };
    let mut for_lookup = spec.clone();
    for_lookup.command = vec![program.clone()];
    let path = resolve_program(
        &for_lookup,
        spec.cwd.as_deref().map(std::path::Path::new),
        crate::environment::listing_search_path(spec, path),
    )?;
    let mut cmd = Command::new(&path);
    cmd.args(&spec.version_command[1..])
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let out = tokio::time::timeout(VERSION_TIMEOUT, cmd.output())
        .await
        .map_err(|_| {
            format!(
                "`{}` did not answer within {}s",
                spec.version_command.join(" "),
                VERSION_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    let first = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().take(120).collect::<String>())
    };
    match (
        out.status.success(),
        first(&out.stdout).or_else(|| first(&out.stderr)),
    ) {
        (true, Some(v)) => Ok(v),
        (true, None) => Err("the version command printed nothing".into()),
        (false, line) => Err(format!(
            "`{}` failed ({}){}",
            spec.version_command.join(" "),
            out.status,
            line.map(|l| format!(": {l}")).unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_domain::AgentKind;

    #[tokio::test]
    async fn versions_are_the_first_line_and_failures_say_why() {
        let mut a = AgentSpec::new("a", AgentKind::Exec, vec!["sh".into()]);
        a.version_command = vec![
            "sh".into(),
            "-c".into(),
            "echo; echo 'tool 1.2.3'; echo more".into(),
        ];
        assert_eq!(probe(&a, None).await.unwrap(), "tool 1.2.3");
        a.version_command = vec!["sh".into(), "-c".into(), "echo broken >&2; exit 3".into()];
        let e = probe(&a, None).await.unwrap_err();
        assert!(e.contains("broken") && e.contains('3'), "{e}");
        a.version_command = vec!["legate-no-such-program".into()];
        assert!(probe(&a, None).await.unwrap_err().contains("not on PATH"));
    }
}
