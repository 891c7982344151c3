//! A private legate installation for one measurement: temp `LEGATE_HOME`, config, daemon.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

/// A temp home whose daemon is stopped on drop.
pub struct Bench {
    /// The home directory.
    pub dir: tempfile::TempDir,
}

/// The release `legate` next to this binary.
pub fn legate_bin() -> Result<PathBuf> {
    let p = std::env::current_exe()?.with_file_name("legate");
    if !p.exists() {
        bail!(
            "{} is missing: run `cargo build --release -p legate-cli` first",
            p.display()
        );
    }
    Ok(p)
}

impl Bench {
    /// A home with this config text.
    pub fn new(config: &str) -> Result<Bench> {
        let dir = tempfile::Builder::new().prefix("lgb").tempdir()?;
        std::fs::write(dir.path().join("config.toml"), config)?;
        Ok(Bench { dir })
    }

    /// The home path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `legate` command in this home.
    pub fn cmd(&self, args: &[&str]) -> Result<Command> {
        let mut c = Command::new(legate_bin()?);
        c.args(args).env("LEGATE_HOME", self.path());
        Ok(c)
    }

    /// Runs legate and checks it succeeded.
    pub fn ok(&self, args: &[&str]) -> Result<Output> {
        let o = self.cmd(args)?.output()?;
        if !o.status.success() {
            bail!(
                "legate {args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok(o)
    }

    /// Starts the daemon in the background; returns its pid.
    pub fn start(&self) -> Result<i32> {
        self.ok(&["daemon", "--detach"])?;
        let o = self.ok(&["daemon", "status", "--json"])?;
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        v["pid"]
            .as_i64()
            .map(|p| p as i32)
            .context("no pid in daemon status")
    }

    /// Stops the daemon.
    pub fn stop(&self) -> Result<()> {
        self.ok(&["daemon", "stop"]).map(|_| ())
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.path().join("run/legate.sock")
    }

    /// The database.
    pub fn db(&self) -> PathBuf {
        self.path().join("data/legate.db")
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Ok(mut c) = self.cmd(&["daemon", "stop"]) {
            let _ = c.output();
        }
    }
}

/// Resident memory of a process in MiB.
pub fn rss_mib(pid: i32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

/// Stores `n` finished tasks (numbered from `first`, so fills can be repeated) (with one event each) straight into the database, in one
/// transaction: a fixture for "N tasks already stored", not a measurement.
pub async fn fill(db: &Path, first: usize, n: usize) -> Result<()> {
    use sqlx::Connection;
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    let mut tx = conn.begin().await?;
    let alphabet = legate_domain::id::ALPHABET;
    let now = 1_700_000_000_000i64;
    for i in first..first + n {
        // "zz" + six base-32 digits: unique, valid, and apart from random ids' usual range.
        let mut id = String::from("zz");
        let mut x = i;
        for _ in 0..6 {
            id.insert(2, alphabet[x % 32] as char);
            x /= 32;
        }
        sqlx::query(
            "INSERT INTO tasks (id, agent, title, prompt, labels, priority, origin, depth, status, \
             created_at, started_at, finished_at, exit_code, result, attempt, metadata) \
             VALUES (?, 'noop', 'stored task', 'x', '[]', 0, 'bench', 1, 'succeeded', ?, ?, ?, 0, 'ok', 1, '{}')",
        )
        .bind(&id)
        .bind(now)
        .bind(now)
        .bind(now + 5)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO events (task_id, kind, at, data) VALUES (?, 'finished', ?, '{}')")
            .bind(&id)
            .bind(now + 5)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Cores, memory and kernel of this machine.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "Machine: {cores} cores, {mem} memory, Linux {}; legate {} (release build)\n",
        kernel.trim(),
        env!("CARGO_PKG_VERSION")
    )
}
