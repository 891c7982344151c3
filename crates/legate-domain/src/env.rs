//! A task's environment: the submitting client's environment, captured when it submits, so an
//! agent's environment is the same however and by whomever the daemon was started.
//!
//! An agent process gets, in order: the captured environment without the
//! [`SESSION_VARIABLES`] (or, for a task submitted without one, a minimal fallback the runner
//! builds: `PATH`, `HOME`, `USER`, `LOGNAME`, `LANG`, `TERM=dumb`), then its agent's `env`
//! from the config, then legate's own `LEGATE_TASK_ID` and `LEGATE_DEPTH`. The daemon's own
//! environment is never passed on.
//!
//! The captured environment may hold secrets (API keys): it is stored with the task but never
//! shown — not in `show`, listings, events or logs; its `Debug` names no value.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Variables that mark the session of the program a client runs in (an agent host, legate
/// itself) rather than the user's setup. They are dropped from a captured environment before
/// an agent starts: a `claude` agent would refuse to start as "nested" under `CLAUDECODE`, and
/// the submitter's `LEGATE_ORIGIN` would credit the agent's own delegations to the submitter.
/// `LEGATE_TOKEN` (the bearer token of `legate serve`) goes too: it is legate's secret, not
/// the agent's.
pub const SESSION_VARIABLES: &[&str] = &[
    // Claude Code: its nesting guard, entry point, IDE port, session and hook files.
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_SSE_PORT",
    "CLAUDE_CODE_SESSION_ID",
    "CLAUDE_ENV_FILE",
    "CLAUDE_PROJECT_DIR",
    // Other agent hosts' markers of their own shells and sandboxes.
    "GEMINI_CLI",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    "OPENCODE",
    // legate's own: each agent gets its own task id and depth; origins are the client's.
    "LEGATE_ORIGIN",
    "LEGATE_TASK_ID",
    "LEGATE_DEPTH",
    "LEGATE_TASK_STATUS",
    "LEGATE_TOKEN",
];

/// The most bytes (names and values) a captured environment may hold: 1 MiB, far above a
/// real one (the kernel's limit for argv and environment together is usually 2 MiB).
pub const MAX_ENV_BYTES: usize = 1 << 20;

/// Environment variables by name. Serialised as a JSON object of strings; `Debug` shows only
/// how many there are, so logging a request never prints a secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskEnv(BTreeMap<String, String>);

impl TaskEnv {
    /// An environment of these variables; pairs that are not valid UTF-8 are left out (the
    /// API carries text).
    pub fn from_os<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> TaskEnv
    where
        K: Into<std::ffi::OsString>,
        V: Into<std::ffi::OsString>,
    {
        TaskEnv(
            vars.into_iter()
                .filter_map(|(k, v)| {
                    Some((k.into().into_string().ok()?, v.into().into_string().ok()?))
                })
                .collect(),
        )
    }

    /// This process's environment, as a client captures it when it submits.
    pub fn of_this_process() -> TaskEnv {
        TaskEnv::from_os(std::env::vars_os())
    }

    /// An environment of these text pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> TaskEnv {
        TaskEnv(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// One variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every variable, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many variables it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same environment without the variables named in `names`.
    pub fn without(mut self, names: &[&str]) -> TaskEnv {
        self.0.retain(|k, _| !names.contains(&k.as_str()));
        self
    }

    /// The variables an agent inherits: all but the [`SESSION_VARIABLES`].
    pub fn for_agent(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().filter(|(k, _)| !SESSION_VARIABLES.contains(k))
    }

    /// Why it cannot be given to a process (a name that is empty or holds `=` or NUL, a value
    /// holding NUL, more than [`MAX_ENV_BYTES`] in all), if it cannot.
    pub fn problem(&self) -> Option<String> {
        let mut total = 0usize;
        for (k, v) in &self.0 {
            if k.is_empty() || k.contains(['=', '\0']) {
                return Some(format!(
                    "the environment variable name {k:?} is not valid: names are non-empty and hold no '=' or NUL"
                ));
            }
            if v.contains('\0') {
                return Some(format!(
                    "the value of environment variable {k} holds a NUL byte"
                ));
            }
            total += k.len() + v.len() + 2;
        }
        (total > MAX_ENV_BYTES).then(|| {
            format!("the environment is {total} bytes; the limit is {MAX_ENV_BYTES} bytes (1 MiB)")
        })
    }
}

impl fmt::Debug for TaskEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskEnv({} variables)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let env = TaskEnv::from_pairs([("API_KEY", "sk-secret123"), ("HOME", "/h")]);
        let shown = format!("{env:?} {:?}", Some(&env));
        assert!(
            !shown.contains("sk-secret123") && !shown.contains("API_KEY"),
            "{shown}"
        );
        assert!(shown.contains("2 variables"), "{shown}");
    }

    #[test]
    fn session_variables_are_not_passed_on() {
        let env = TaskEnv::from_pairs([
            ("CLAUDECODE", "1"),
            ("LEGATE_ORIGIN", "someone"),
            (
                "CLAUDE_CODE_OAUTH_TOKEN",
                "kept: it is the user's credential",
            ),
            ("FOO", "bar"),
        ]);
        let names: Vec<&str> = env.for_agent().map(|(k, _)| k).collect();
        assert_eq!(names, ["CLAUDE_CODE_OAUTH_TOKEN", "FOO"]);
    }

    #[test]
    fn problems_are_named() {
        assert!(TaskEnv::from_pairs([("A=B", "x")]).problem().is_some());
        assert!(TaskEnv::from_pairs([("", "x")]).problem().is_some());
        assert!(TaskEnv::from_pairs([("A", "x\0y")]).problem().is_some());
        let big = "x".repeat(MAX_ENV_BYTES);
        assert!(
            TaskEnv::from_pairs([("A", big)])
                .problem()
                .unwrap()
                .contains("1 MiB")
        );
        assert_eq!(TaskEnv::from_pairs([("A", "b")]).problem(), None);
    }

    #[test]
    fn serialises_as_an_object() {
        let env = TaskEnv::from_pairs([("A", "1")]);
        assert_eq!(serde_json::to_string(&env).unwrap(), r#"{"A":"1"}"#);
        let back: TaskEnv = serde_json::from_str(r#"{"A":"1"}"#).unwrap();
        assert_eq!(back, env);
    }
}
