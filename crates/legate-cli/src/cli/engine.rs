//! What an engine (`legate daemon`, `legate worker`) runs on and takes: each setting is an
//! option that falls back to its environment variable, declared here once. A daemon legate
//! starts by itself gets them from the environment it inherits; one started with the options
//! gets them as variables too ([`EngineArgs::export`]), so they never show in `ps`.
//!
//! The values are taken as text and checked by [`EngineArgs::check`] only where an engine
//! starts, so `legate daemon status` and `stop` work whatever the variables hold. An empty
//! value counts as unset, as in a shell (`LEGATE_STORE= legate daemon` uses the SQLite file).

use std::time::Duration;

use clap::Args;

/// How long a claim lasts without a heartbeat when `--lease-ttl` is not given.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// The shortest lease a heartbeat (every third of it) can keep alive.
const SHORTEST_LEASE: Duration = Duration::from_millis(300);

/// `legate daemon` / `legate worker` settings as given, from options or their variables.
#[derive(Debug, Clone, Default, Args)]
pub struct EngineArgs {
    /// The task store: postgres://USER@HOST/DB for a shared one [default: the SQLite file in
    /// the data directory].
    #[arg(long, env = "LEGATE_STORE", value_name = "URL", hide_env_values = true)]
    store: Option<String>,
    /// The PostgreSQL schema of the shared store (lowercase letters, digits, '_')
    /// [default: public].
    #[arg(long, env = "LEGATE_STORE_SCHEMA", value_name = "NAME")]
    store_schema: Option<String>,
    /// Only tasks of these agents (comma-separated) [default: any].
    #[arg(long, env = "LEGATE_AGENTS", value_name = "A,B")]
    agents: Option<String>,
    /// At most this many tasks at once here; a daemon with 0 runs none (a pure frontend to a
    /// shared store) [default: only the configured caps].
    #[arg(long, env = "LEGATE_SLOTS", value_name = "N")]
    slots: Option<String>,
    /// How long a claim lasts without a heartbeat, e.g. 10s (at least 300ms) [default: 60s].
    #[arg(long, env = "LEGATE_LEASE_TTL", value_name = "DURATION")]
    lease_ttl: Option<String>,
}

/// The engine settings, checked; `Default` is what an engine takes when none is given.
#[derive(Debug, Clone, PartialEq)]
pub struct Engine {
    /// The shared store's URL (`postgres://…`); `None`: the SQLite file.
    pub store: Option<String>,
    /// Its schema, when not `public`.
    pub store_schema: Option<String>,
    /// The agents this engine takes, when narrowed.
    pub agents: Option<Vec<String>>,
    /// How many tasks at once here, when limited.
    pub slots: Option<u32>,
    /// How long a claim lasts without a heartbeat.
    pub lease_ttl: Duration,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine {
            store: None,
            store_schema: None,
            agents: None,
            slots: None,
            lease_ttl: LEASE_TTL,
        }
    }
}

impl Engine {
    /// Is the store a shared (PostgreSQL) one.
    pub fn shared_store(&self) -> bool {
        self.store.is_some()
    }
}

impl EngineArgs {
    /// The settings, checked. Errors: the first value that is wrong, named by its option and
    /// variable, with what to give (a store URL with its password left out).
    pub fn check(&self) -> Result<Engine, String> {
        let store = match given(&self.store) {
            Some(url) if !is_postgres(url) => {
                return Err(refused(
                    "store",
                    &shown_store(url),
                    "not a store legate knows: use postgres://USER@HOST/DB, or leave it unset for the SQLite file",
                ));
            }
            url => url.map(str::to_string),
        };
        let store_schema = match given(&self.store_schema) {
            Some(name) => match legate_store::postgres::PgStore::schema_problem(name) {
                Some(problem) => return Err(format!("{} {problem}", named("store-schema"))),
                None => Some(name.to_string()),
            },
            None => None,
        };
        let agents = match given(&self.agents) {
            None => None,
            Some(list) => {
                let names: Vec<String> = list
                    .split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect();
                if let Some(bad) = names.iter().find(|a| !agent_name(a)) {
                    return Err(refused(
                        "agents",
                        list,
                        &format!("'{bad}' is not an agent name (letters, digits, '-' and '_')"),
                    ));
                }
                (!names.is_empty()).then_some(names)
            }
        };
        let slots = match given(&self.slots) {
            None => None,
            Some(v) => Some(
                v.parse()
                    .map_err(|_| refused("slots", v, "not a number of task slots (0 or more)"))?,
            ),
        };
        let lease_ttl = match given(&self.lease_ttl) {
            None => LEASE_TTL,
            Some(v) => {
                let d = legate_domain::size::parse_duration(v)
                    .map_err(|m| refused("lease-ttl", v, &m))?;
                if d < SHORTEST_LEASE {
                    return Err(refused("lease-ttl", v, "too short: at least 300ms"));
                }
                d
            }
        };
        Ok(Engine {
            store,
            store_schema,
            agents,
            slots,
            lease_ttl,
        })
    }

    /// Sets the settings on a daemon this command starts, as the variables they come from,
    /// exactly as given (an empty option overrides the variable here as it would there).
    pub fn export(&self, cmd: &mut std::process::Command) {
        for (var, value) in [
            ("LEGATE_STORE", &self.store),
            ("LEGATE_STORE_SCHEMA", &self.store_schema),
            ("LEGATE_AGENTS", &self.agents),
            ("LEGATE_SLOTS", &self.slots),
            ("LEGATE_LEASE_TTL", &self.lease_ttl),
        ] {
            if let Some(v) = value {
                cmd.env(var, v);
            }
        }
    }
}

/// Does the URL name a PostgreSQL store.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A URL without its credentials; text that is no URL (a `key=value` connection string may
/// hold a password) is not repeated at all.
fn shown_store(v: &str) -> String {
    if v.contains("://") {
        legate_domain::redact_url(v)
    } else {
        "(not a URL)".into()
    }
}

fn agent_name(a: &str) -> bool {
    a.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A value given with something in it.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `--NAME (or LEGATE_NAME)`.
fn named(option: &str) -> String {
    format!(
        "--{option} (or LEGATE_{})",
        option.replace('-', "_").to_uppercase()
    )
}

fn refused(option: &str, value: &str, why: &str) -> String {
    format!("{} is '{value}': {why}", named(option))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        engine: EngineArgs,
    }

    fn args(given: &[&str]) -> EngineArgs {
        let mut argv = vec!["probe"];
        argv.extend_from_slice(given);
        Probe::try_parse_from(argv)
            .expect("clap takes any text")
            .engine
    }

    fn check(given: &[&str]) -> Result<Engine, String> {
        args(given).check()
    }

    #[test]
    fn empty_values_leave_each_setting_unset() {
        let e = check(&[
            "--store=",
            "--store-schema= ",
            "--agents=,",
            "--slots=",
            "--lease-ttl=",
        ])
        .expect("empty values are unset");
        assert_eq!(e, Engine::default());
        assert!(!e.shared_store());
    }

    #[test]
    fn values_are_typed_once() {
        let e = check(&[
            "--store=postgres://u@h/db",
            "--store-schema=s_1",
            "--agents= a, b-2 ,",
            "--slots=0",
            "--lease-ttl=2s",
        ])
        .expect("valid settings");
        assert!(e.shared_store());
        assert_eq!(e.store_schema.as_deref(), Some("s_1"));
        assert_eq!(e.agents, Some(vec!["a".to_string(), "b-2".to_string()]));
        assert_eq!(e.slots, Some(0));
        assert_eq!(e.lease_ttl, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_are_refused_naming_option_and_variable() {
        let long = "s".repeat(legate_store::postgres::SCHEMA_MAX + 1);
        for (arg, says) in [
            ("--slots=-1".to_string(), "not a number of task slots"),
            ("--slots=many".into(), "not a number of task slots"),
            ("--lease-ttl=soon".into(), "duration"),
            ("--lease-ttl=100ms".into(), "at least 300ms"),
            ("--agents=a,bad name".into(), "not an agent name"),
            ("--store-schema=Upper".into(), "lowercase"),
            ("--store-schema=1abc".into(), "not starting with a digit"),
            (
                "--store-schema=bad;drop".into(),
                "lowercase letters, digits",
            ),
            (format!("--store-schema={long}"), "at most"),
        ] {
            let e = check(&[&arg]).expect_err(&arg);
            assert!(e.contains(says), "{arg}: {e}");
            let option = arg.split('=').next().unwrap_or_default();
            let var = format!(
                "LEGATE_{}",
                option
                    .trim_start_matches('-')
                    .replace('-', "_")
                    .to_uppercase()
            );
            assert!(e.contains(option) && e.contains(&var), "{arg}: {e}");
        }
    }

    #[test]
    fn a_store_legate_does_not_know_is_refused_without_its_password() {
        for url in [
            "mysql://u:secret@h/db",
            "sqlite:///tmp/x.db?password=secret",
            "host=h user=u password=secret",
        ] {
            let e = check(&["--store", url]).expect_err(url);
            assert!(e.contains("not a store legate knows"), "{e}");
            assert!(e.contains("LEGATE_STORE"), "{e}");
            assert!(!e.contains("secret"), "the password shows: {e}");
        }
    }

    #[test]
    fn export_hands_a_started_daemon_the_values_as_given() {
        let e = args(&[
            "--store=postgres://u@h/db",
            "--slots=",
            "--lease-ttl=100000000000d",
        ]);
        let mut cmd = std::process::Command::new("true");
        e.export(&mut cmd);
        let vars: std::collections::BTreeMap<_, _> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_owned())))
            .collect();
        assert_eq!(vars["LEGATE_STORE"], Some("postgres://u@h/db".into()));
        // Empty overrides whatever the started daemon would inherit.
        assert_eq!(vars["LEGATE_SLOTS"], Some("".into()));
        // As given, not re-written in another unit.
        assert_eq!(vars["LEGATE_LEASE_TTL"], Some("100000000000d".into()));
    }
}
