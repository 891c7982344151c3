//! What an engine (`legate daemon`, `legate worker`) runs on and takes: each setting is an
//! option that falls back to its environment variable, declared here once. A daemon legate
//! starts by itself gets them from the environment it inherits; one started with the options
//! gets them as variables too ([`EngineArgs::export`]), so they never show in `ps`.
//!
//! An empty variable counts as unset, as it does in a shell (`LEGATE_STORE= legate daemon`
//! uses the SQLite file).

use std::time::Duration;

use clap::Args;

/// The value of an option that an empty environment variable leaves unset. A plain alias:
/// spelled `Option<Option<T>>`, clap's derive would read it as a flag with an optional value.
pub type OrUnset<T> = Option<T>;

/// How long a claim lasts without a heartbeat when `--lease-ttl` is not given.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// The shortest lease a heartbeat (every third of it) can keep alive.
const SHORTEST_LEASE: Duration = Duration::from_millis(300);

/// `legate daemon` / `legate worker` settings, from options or their variables.
#[derive(Debug, Clone, Default, Args)]
pub struct EngineArgs {
    /// The task store: postgres://USER@HOST/DB for a shared one [default: the SQLite file in
    /// the data directory].
    #[arg(
        long,
        env = "LEGATE_STORE",
        value_name = "URL",
        hide_env_values = true,
        value_parser = text
    )]
    pub store: Option<OrUnset<String>>,
    /// The PostgreSQL schema of the shared store [default: public].
    #[arg(long, env = "LEGATE_STORE_SCHEMA", value_name = "NAME", value_parser = text)]
    pub store_schema: Option<OrUnset<String>>,
    /// Only tasks of these agents (comma-separated) [default: any].
    #[arg(long, env = "LEGATE_AGENTS", value_name = "A,B", value_parser = agents)]
    pub agents: Option<OrUnset<Vec<String>>>,
    /// At most this many tasks at once here; a daemon with 0 runs none (a pure frontend to a
    /// shared store) [default: only the configured caps].
    #[arg(long, env = "LEGATE_SLOTS", value_name = "N", value_parser = slots)]
    pub slots: Option<OrUnset<u32>>,
    /// How long a claim lasts without a heartbeat, e.g. 10s (at least 300ms) [default: 60s].
    #[arg(long, env = "LEGATE_LEASE_TTL", value_name = "DURATION", value_parser = lease_ttl)]
    pub lease_ttl: Option<OrUnset<Duration>>,
}

impl EngineArgs {
    /// The store URL, when one is set. Errors: a URL of a store legate does not know, said
    /// with its password left out (checked here rather than by clap, whose message would
    /// repeat the value as given).
    pub fn store(&self) -> Result<Option<&str>, String> {
        match self.given_store() {
            Some(url) if !is_postgres(url) => Err(format!(
                "--store (or LEGATE_STORE) is '{}', not a store legate knows: use \
                 postgres://USER@HOST/DB, or leave it unset for the SQLite file",
                legate_domain::redact_url(url)
            )),
            url => Ok(url),
        }
    }

    fn given_store(&self) -> Option<&str> {
        self.store.as_ref().and_then(|s| s.as_deref())
    }

    /// The Postgres schema, when one is set.
    pub fn store_schema(&self) -> Option<&str> {
        self.store_schema.as_ref().and_then(|s| s.as_deref())
    }

    /// Is the store a shared (PostgreSQL) one.
    pub fn shared_store(&self) -> bool {
        self.given_store().is_some_and(is_postgres)
    }

    /// The agents this engine takes, when narrowed.
    pub fn agents(&self) -> Option<Vec<String>> {
        self.agents.clone().flatten()
    }

    /// The slot count, when set.
    pub fn slots(&self) -> Option<u32> {
        self.slots.flatten()
    }

    /// The lease length (default [`LEASE_TTL`]).
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl.flatten().unwrap_or(LEASE_TTL)
    }

    /// Sets the settings given as options on a daemon this command starts, as the variables
    /// they come from; the ones left at their defaults are left to the inherited environment.
    pub fn export(&self, cmd: &mut std::process::Command) {
        if let Some(s) = self.given_store() {
            cmd.env("LEGATE_STORE", s);
        }
        if let Some(s) = self.store_schema() {
            cmd.env("LEGATE_STORE_SCHEMA", s);
        }
        if let Some(a) = self.agents() {
            cmd.env("LEGATE_AGENTS", a.join(","));
        }
        if let Some(n) = self.slots() {
            cmd.env("LEGATE_SLOTS", n.to_string());
        }
        if let Some(d) = self.lease_ttl.flatten() {
            cmd.env("LEGATE_LEASE_TTL", format!("{}ms", d.as_millis()));
        }
    }
}

// Does the URL name a PostgreSQL store.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Where a refused value may have come from: clap's message names only the option.
fn named_by(var: &str) -> String {
    format!(" (the option, or the variable {var})")
}

fn unset(v: &str) -> bool {
    v.trim().is_empty()
}

fn text(v: &str) -> Result<OrUnset<String>, String> {
    Ok((!unset(v)).then(|| v.to_string()))
}

fn agents(v: &str) -> Result<OrUnset<Vec<String>>, String> {
    let names: Vec<String> = v
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    Ok((!names.is_empty()).then_some(names))
}

fn slots(v: &str) -> Result<OrUnset<u32>, String> {
    if unset(v) {
        return Ok(None);
    }
    v.trim().parse().map(Some).map_err(|_| {
        format!(
            "'{v}' is not a number of task slots (0 or more){}",
            named_by("LEGATE_SLOTS")
        )
    })
}

fn lease_ttl(v: &str) -> Result<OrUnset<Duration>, String> {
    if unset(v) {
        return Ok(None);
    }
    let d = legate_domain::size::parse_duration(v)
        .map_err(|m| format!("{m}{}", named_by("LEGATE_LEASE_TTL")))?;
    if d < SHORTEST_LEASE {
        return Err(format!(
            "'{v}' is too short: at least 300ms{}",
            named_by("LEGATE_LEASE_TTL")
        ));
    }
    Ok(Some(d))
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

    fn parse(args: &[&str]) -> Result<EngineArgs, String> {
        let mut argv = vec!["probe"];
        argv.extend_from_slice(args);
        Probe::try_parse_from(argv)
            .map(|p| p.engine)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn empty_values_leave_each_setting_unset() {
        let e = parse(&[
            "--store=",
            "--store-schema= ",
            "--agents=,",
            "--slots=",
            "--lease-ttl=",
        ])
        .expect("empty values are unset");
        assert_eq!(e.store(), Ok(None));
        assert_eq!(e.store_schema(), None);
        assert_eq!(e.agents(), None);
        assert_eq!(e.slots(), None);
        assert_eq!(e.lease_ttl(), LEASE_TTL);
        assert!(!e.shared_store());
    }

    #[test]
    fn values_are_typed_once() {
        let e = parse(&[
            "--store=postgres://u@h/db",
            "--store-schema=s1",
            "--agents= a, b ,",
            "--slots=0",
            "--lease-ttl=2s",
        ])
        .expect("valid settings");
        assert!(e.shared_store());
        assert_eq!(e.store_schema(), Some("s1"));
        assert_eq!(e.agents(), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(e.slots(), Some(0));
        assert_eq!(e.lease_ttl(), Duration::from_secs(2));
    }

    #[test]
    fn bad_values_are_refused_with_what_to_give() {
        for (arg, says) in [
            ("--slots=-1", "not a number of task slots"),
            ("--slots=many", "not a number of task slots"),
            ("--lease-ttl=soon", "duration"),
            ("--lease-ttl=100ms", "at least 300ms"),
        ] {
            let e = parse(&[arg]).expect_err(arg);
            assert!(e.contains(says), "{arg}: {e}");
            assert!(e.contains("the variable LEGATE_"), "{arg}: {e}");
            assert!(!e.contains("secret"), "{arg}: the password shows: {e}");
        }
    }

    #[test]
    fn a_store_legate_does_not_know_is_refused_without_its_password() {
        for url in [
            "mysql://u:secret@h/db",
            "sqlite:///tmp/x.db?password=secret",
            "pg",
        ] {
            let e = parse(&["--store", url]).expect("clap takes any text");
            let err = e.store().expect_err(url);
            assert!(err.contains("not a store legate knows"), "{err}");
            assert!(!err.contains("secret"), "the password shows: {err}");
            assert!(!e.shared_store());
        }
    }

    #[test]
    fn export_hands_a_started_daemon_the_options_as_variables() {
        let e = parse(&["--store=postgres://u@h/db", "--slots=3", "--lease-ttl=1m"])
            .expect("valid settings");
        let mut cmd = std::process::Command::new("true");
        e.export(&mut cmd);
        let vars: std::collections::BTreeMap<_, _> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_owned())))
            .collect();
        assert_eq!(vars["LEGATE_STORE"], Some("postgres://u@h/db".into()));
        assert_eq!(vars["LEGATE_SLOTS"], Some("3".into()));
        assert_eq!(vars["LEGATE_LEASE_TTL"], Some("60000ms".into()));
        assert!(!vars.contains_key("LEGATE_AGENTS"));
        // What the daemon parses back is what was given.
        let back = parse(&["--lease-ttl=60000ms"]).expect("exported form parses");
        assert_eq!(back.lease_ttl(), Duration::from_secs(60));
    }
}
