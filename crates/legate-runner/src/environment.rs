//! The environment an agent process gets, the same however the daemon was started: the
//! submitter's captured environment without host-session markers (or, for a task submitted
//! without one, [`fallback`]), then the agent's own `env` from the config. The runner adds
//! `LEGATE_TASK_ID` and `LEGATE_DEPTH` last. The daemon's own environment is never used.

use std::collections::BTreeMap;
use std::ffi::OsString;

use legate_domain::{AgentSpec, TaskEnv};

/// `PATH` of the fallback environment.
pub const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// legate's own settings that lead an agent's `legate` commands to the daemon that runs it;
/// the fallback environment carries them when the daemon has them.
const LEGATE_PLACES: &[&str] = &["LEGATE_HOME", "LEGATE_CONFIG"];

/// The environment of a task submitted without one (an older client, a raw API call, a task
/// stored before environments were): `PATH` = [`FALLBACK_PATH`], `HOME`, `USER` and `LOGNAME`
/// of the daemon's user (from the user database), `LANG=C.UTF-8`, `TERM=dumb`, and
/// `LEGATE_HOME`/`LEGATE_CONFIG` when the daemon has them, so the agent's own delegations
/// reach the same daemon.
pub fn fallback() -> TaskEnv {
    let mut vars: Vec<(String, String)> = vec![
        ("PATH".into(), FALLBACK_PATH.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TERM".into(), "dumb".into()),
    ];
    let uid = nix::unistd::geteuid();
    if let Ok(Some(user)) = nix::unistd::User::from_uid(uid) {
        vars.push(("HOME".into(), user.dir.display().to_string()));
        vars.push(("USER".into(), user.name.clone()));
        vars.push(("LOGNAME".into(), user.name));
    }
    for name in LEGATE_PLACES {
        if let Some(v) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
            vars.push(((*name).into(), v));
        }
    }
    TaskEnv::from_pairs(vars)
}

/// The variables an agent process starts with, before legate's own: the task's environment
/// (or [`fallback`]) without the session markers, then the agent's `env`.
pub fn for_agent(spec: &AgentSpec, env: Option<&TaskEnv>) -> BTreeMap<String, String> {
    let fallback;
    let base = match env {
        Some(e) => e,
        None => {
            fallback = self::fallback();
            &fallback
        }
    };
    let mut vars: BTreeMap<String, String> = base
        .for_agent()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    vars
}

/// The `PATH` an agent's program is looked up in: the one its process will have.
pub fn search_path(spec: &AgentSpec, env: Option<&TaskEnv>) -> Option<OsString> {
    spec.env
        .get("PATH")
        .map(OsString::from)
        .or_else(|| match env {
            Some(e) => e.get("PATH").map(OsString::from),
            None => Some(OsString::from(FALLBACK_PATH)),
        })
}

/// The `PATH` an agent's program is looked up in for listings and version probes: the
/// agent's own, else the asking client's `client` (as a task it submits would have it), else
/// the daemon's.
pub fn listing_search_path(spec: &AgentSpec, client: Option<&str>) -> Option<OsString> {
    spec.env
        .get("PATH")
        .map(OsString::from)
        .or_else(|| client.map(OsString::from))
        .or_else(|| std::env::var_os("PATH"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_domain::AgentKind;

    fn spec() -> AgentSpec {
        let mut s = AgentSpec::new("a", AgentKind::Exec, vec!["x".into()]);
        s.env.insert("FROM_CONFIG".into(), "c".into());
        s
    }

    #[test]
    fn the_submitters_env_without_markers_then_the_agents() {
        let env = TaskEnv::from_pairs([
            ("FOO", "later"),
            ("CLAUDECODE", "1"),
            ("LEGATE_ORIGIN", "someone"),
            ("FROM_CONFIG", "overridden"),
        ]);
        let vars = for_agent(&spec(), Some(&env));
        assert_eq!(vars.get("FOO").map(String::as_str), Some("later"));
        assert_eq!(vars.get("FROM_CONFIG").map(String::as_str), Some("c"));
        assert!(!vars.contains_key("CLAUDECODE") && !vars.contains_key("LEGATE_ORIGIN"));
        assert!(!vars.contains_key("PATH"), "nothing of the daemon's own");
    }

    #[test]
    fn without_an_env_the_fallback_is_minimal() {
        let vars = for_agent(&spec(), None);
        assert_eq!(vars.get("PATH").map(String::as_str), Some(FALLBACK_PATH));
        assert_eq!(vars.get("TERM").map(String::as_str), Some("dumb"));
        assert!(vars.contains_key("HOME"));
        let names: Vec<&str> = vars.keys().map(String::as_str).collect();
        assert!(names.len() <= 9, "{names:?}");
    }

    #[test]
    fn programs_are_looked_up_in_the_path_the_agent_gets() {
        let env = TaskEnv::from_pairs([("PATH", "/opt/mine")]);
        assert_eq!(search_path(&spec(), Some(&env)), Some("/opt/mine".into()));
        assert_eq!(search_path(&spec(), None), Some(FALLBACK_PATH.into()));
        assert_eq!(search_path(&spec(), Some(&TaskEnv::default())), None);
        let mut own = spec();
        own.env.insert("PATH".into(), "/own".into());
        assert_eq!(search_path(&own, Some(&env)), Some("/own".into()));
    }
}
