//! The daemon on a Postgres store (`LEGATE_STORE`): runs only when `LEGATE_TEST_POSTGRES_URL`
//! names a server (CI sets it); each test uses a schema of its own and drops it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Home, poll_until};

/// A home whose daemon uses a scratch schema; the schema is dropped with it.
struct PgHome {
    home: Home,
    url: String,
    schema: String,
}

impl PgHome {
    fn new(url: String) -> PgHome {
        let schema = format!("legate_e2e_{}_{}", std::process::id(), rand_suffix());
        PgHome {
            home: Home::new(""),
            url,
            schema,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.home.cmd(args);
        c.env("LEGATE_STORE", &self.url)
            .env("LEGATE_STORE_SCHEMA", &self.schema);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args).output().unwrap();
        assert!(
            o.status.success(),
            "legate {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn psql(&self, sql: &str) -> String {
        let o = Command::new("psql")
            .args([&self.url, "-Atc", sql])
            .output()
            .expect("psql runs");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for PgHome {
    fn drop(&mut self) {
        let _ = self.cmd(&["daemon", "stop", "--yes"]).output();
        let _ = self.psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[test]
fn the_daemon_runs_tasks_on_postgres_and_takes_back_its_own_after_a_crash() {
    let Some(url) = common::pg_server("the Postgres daemon test") else {
        return;
    };
    let pg = PgHome::new(url);
    assert_eq!(
        pg.ok(&["run", "--wait", "fake", "print from postgres"]),
        "from postgres\n"
    );
    let status: serde_json::Value =
        serde_json::from_str(&pg.ok(&["daemon", "status", "--json"])).unwrap();
    let store = status["store"].as_str().unwrap();
    assert!(
        store.starts_with("postgres:") && store.contains(&pg.schema),
        "{store}"
    );
    assert_eq!(
        pg.psql(&format!(
            "SELECT count(*) FROM {}.tasks WHERE status = 'succeeded'",
            pg.schema
        )),
        "1",
        "the task is in Postgres"
    );

    // Another machine's running task, as its daemon left it: a restart here leaves it alone.
    let foreign = pg.ok(&["run", "fake", "sleep 60000"]).trim().to_string();
    assert!(poll_until(Duration::from_secs(20), || pg.psql(&format!(
        "SELECT status FROM {}.tasks WHERE id = '{foreign}'",
        pg.schema
    )) == "running"));
    let own = pg.ok(&["run", "fake", "sleep 60000"]).trim().to_string();
    assert!(poll_until(Duration::from_secs(20), || pg.psql(&format!(
        "SELECT status FROM {}.tasks WHERE id = '{own}'",
        pg.schema
    )) == "running"));
    pg.psql(&format!(
        "UPDATE {}.tasks SET lease_owner = 'daemon-elsewhere-0-1-x', lease_expires_at = 9223372036854775807 WHERE id = '{foreign}'",
        pg.schema
    ));
    let pid = pg.home.daemon_pid().unwrap();
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(poll_until(Duration::from_secs(10), || pg
        .home
        .daemon_pid()
        .is_none()));
    // The next command starts a daemon, which takes back its predecessor's task only.
    pg.ok(&["ls"]);
    let show = |id: &str| -> serde_json::Value {
        serde_json::from_str(&pg.ok(&["show", "--json", id])).unwrap()
    };
    assert!(poll_until(Duration::from_secs(20), || show(&own)["status"]
        == "interrupted"));
    assert_eq!(
        show(&foreign)["status"],
        "running",
        "another machine's run is not ours to take"
    );
}

#[test]
fn a_second_home_on_the_same_store_and_machine_leaves_the_first_daemons_runs_alone() {
    let Some(url) = common::pg_server("the two-homes Postgres test") else {
        return;
    };
    let first = PgHome::new(url);
    // The same user and machine, another LEGATE_HOME, the same schema: another daemon.
    let second = PgHome {
        home: Home::new(""),
        url: first.url.clone(),
        schema: first.schema.clone(),
    };
    let id = first.ok(&["run", "fake", "sleep 60000"]).trim().to_string();
    let status = |pg: &PgHome| {
        pg.psql(&format!(
            "SELECT status FROM {}.tasks WHERE id = '{id}'",
            pg.schema
        ))
    };
    assert!(poll_until(Duration::from_secs(20), || status(&first) == "running"));
    // The second home's daemon starts (and recovers what its own predecessors left).
    second.ok(&["ls"]);
    assert!(second.home.daemon_pid().is_some());
    assert_ne!(second.home.daemon_pid(), first.home.daemon_pid());
    let done = second.ok(&["run", "--wait", "fake", "print second"]);
    assert_eq!(done, "second\n");
    assert_eq!(
        status(&first),
        "running",
        "the first daemon's run was left alone"
    );
    first.ok(&["cancel", &id]);
    assert!(poll_until(Duration::from_secs(20), || status(&first) == "canceled"));
    // Both drop the same schema: the second drop is a no-op.
}

#[test]
fn the_store_is_described_without_the_credentials_of_its_url() {
    let Some(url) = common::pg_server("the Postgres store description test") else {
        return;
    };
    // The server trusts local connections, so passwords given in the URL (as user info and as
    // `?password=`) are sent and ignored, a parameter sqlx does not know is warned of: the
    // daemon starts, and must show none of them.
    let with_secrets = url.replacen("://postgres@", "://postgres:info-secret@", 1);
    let sep = if with_secrets.contains('?') { '&' } else { '?' };
    let pg = PgHome::new(format!(
        "{with_secrets}{sep}password=query-secret&sslpassword=param-secret"
    ));
    // Given as options, not variables: the daemon started for them gets them in its
    // environment, never on its command line.
    let o = pg
        .home
        .cmd(&[
            "daemon",
            "--detach",
            "--store",
            &pg.url,
            "--store-schema",
            &pg.schema,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    pg.ok(&["run", "--wait", "fake", "print up"]);
    let status: serde_json::Value =
        serde_json::from_str(&pg.ok(&["daemon", "status", "--json"])).unwrap();
    let store = status["store"].as_str().unwrap();
    assert!(
        store.starts_with("postgres:postgres://***@")
            && store.ends_with(&format!("?*** (schema {})", pg.schema)),
        "{store}"
    );
    let text = pg.ok(&["daemon", "status"]);
    let pid = status["pid"].as_u64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let log = std::fs::read_to_string(pg.home.path().join("daemon.log")).unwrap_or_default();
    for (what, shown) in [
        ("status --json", store.to_string()),
        ("status", text),
        (
            "the daemon's command line",
            String::from_utf8_lossy(&cmdline).into_owned(),
        ),
        ("daemon.log", log),
    ] {
        assert!(
            !shown.contains("secret"),
            "{what} shows a password: {shown}"
        );
    }
}
