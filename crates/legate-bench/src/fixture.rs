//! A private legate installation for one measurement: a temp `LEGATE_HOME` with its own
//! config, a daemon that is always stopped on drop, and a fast way to fill its store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use anyhow::{Context, Result, bail, ensure};

/// Config for submit latency: an agent whose first task runs for an hour and whose others
/// stay queued, so the daemon does no work while submissions are timed.
pub const HOLD: &str = "[limits]\nmax_running = 8\ndefault_timeout = \"none\"\n\n\
[agents.hold]\ncommand = [\"sleep\", \"3600\"]\nmax_running = 1\ndescription = \"holds the queue\"\n";

/// Config for throughput: eight at a time of an agent that does nothing.
pub const NOOP: &str = "[limits]\nmax_running = 8\ndefault_timeout = \"none\"\n\n\
[agents.noop]\ncommand = [\"true\"]\ndescription = \"does nothing\"\n";

/// The release `legate` next to this binary, or an error saying how to build it.
pub fn legate_bin() -> Result<PathBuf> {
    let p = std::env::current_exe()?.with_file_name("legate");
    if !p.is_file() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p legate-cli`",
            p.display()
        );
    }
    Ok(p)
}

/// Homes whose daemon may be running, for [`stop_all`] on Ctrl-C (where no drop runs).
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Stops the daemon of every live home and removes the homes; for an interrupted run.
pub fn stop_all() {
    let Ok(bin) = legate_bin() else { return };
    let homes = std::mem::take(&mut *live());
    for home in homes {
        let _ = Command::new(&bin)
            .args(["daemon", "stop", "--yes"])
            .env("LEGATE_HOME", &home)
            .output();
        let _ = std::fs::remove_dir_all(&home);
    }
}

/// A temp `LEGATE_HOME`; its daemon (if any) is stopped when this is dropped, error or not.
pub struct Bench {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Bench {
    /// A fresh home with this config text.
    pub fn new(config: &str) -> Result<Bench> {
        let bin = legate_bin()?;
        let dir = tempfile::Builder::new().prefix("lgb").tempdir()?;
        std::fs::write(dir.path().join("config.toml"), config)?;
        live().push(dir.path().to_path_buf());
        Ok(Bench { dir, bin })
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `legate` command in this home (not yet started).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("LEGATE_HOME", self.path())
            .env_remove("LEGATE_CONFIG")
            .env_remove("LEGATE_TASK_ID")
            .env_remove("LEGATE_DEPTH")
            .stdin(Stdio::null());
        c
    }

    /// Runs `legate ARGS`, fails unless it exits 0, and returns its output.
    pub fn ok(&self, args: &[&str]) -> Result<Output> {
        let o = self
            .cmd(args)
            .output()
            .with_context(|| format!("cannot run legate {args:?}"))?;
        check(args, &o)?;
        Ok(o)
    }

    /// Starts the daemon in the background (returns once it is ready) and gives its pid.
    pub fn start(&self) -> Result<i32> {
        self.ok(&["daemon", "--detach"])?;
        let o = self.ok(&["daemon", "status", "--json"])?;
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        v["pid"]
            .as_i64()
            .map(|p| p as i32)
            .context("`legate daemon status --json` gave no pid")
    }

    /// How many tasks the running daemon reports stored, over all statuses.
    pub fn stored(&self) -> Result<u64> {
        let o = self.ok(&["daemon", "status", "--json"])?;
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        let counts = v["counts"]
            .as_array()
            .context("no counts in daemon status")?;
        Ok(counts.iter().filter_map(|c| c[1].as_u64()).sum())
    }

    /// Stops the daemon and waits for it to exit.
    pub fn stop(&self) -> Result<()> {
        self.ok(&["daemon", "stop", "--yes"]).map(|_| ())
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.path().join("run").join("legate.sock")
    }

    /// The database.
    pub fn db(&self) -> PathBuf {
        self.path().join("data").join("legate.db")
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.cmd(&["daemon", "stop", "--yes"]).output();
        live().retain(|h| h != self.path());
    }
}

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fails with legate's stderr unless the command exited 0.
pub fn check(args: &[&str], o: &Output) -> Result<()> {
    ensure!(
        o.status.success(),
        "legate {args:?} failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr).trim()
    );
    Ok(())
}

/// Resident memory of a process in bytes (`VmRSS` in `/proc/PID/status`).
pub fn rss_bytes(pid: i32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status: is the daemon running?"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/PID/status")?;
    Ok(kib * 1024)
}

/// The `i`th fixture id: "zz" and six base-32 digits of `i`, all from legate's id alphabet.
/// Unique for `i < 32^6`; random ids start with "zz" only one time in 1024.
pub fn fixture_id(i: usize) -> String {
    let alphabet = legate_domain::id::ALPHABET;
    let mut digits = [b'0'; 6];
    let mut x = i;
    for d in digits.iter_mut().rev() {
        *d = alphabet[x % 32];
        x /= 32;
    }
    format!("zz{}", String::from_utf8_lossy(&digits))
}

/// One stored task's values: id, created_at, started_at, finished_at are bound.
const TASK_ROW: &str =
    "(?, 'noop', 'stored task', 'x', '[]', 0, 'bench', 1, 'succeeded', ?, ?, ?, 0, 'ok', 1, '{}')";

/// Rows per INSERT statement when filling (4 parameters a row, well under SQLite's limit).
const FILL_BATCH: usize = 500;

/// Stores `n` succeeded tasks numbered from `first` (so fills can be repeated), each with one
/// `finished` event, straight into a stopped daemon's database in one transaction. A fixture
/// for "N tasks already stored", not a measurement. The daemon must have created the database.
pub async fn fill(db: &Path, first: usize, n: usize) -> Result<()> {
    use sqlx::Connection;
    ensure!(db.is_file(), "{} does not exist yet", db.display());
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    let mut tx = conn.begin().await?;
    // Task i was created i seconds after a point 12 days ago, whichever fill stored it.
    let base = chrono::Utc::now().timestamp_millis() - 12 * 86_400_000;
    let ids: Vec<usize> = (first..first + n).collect();
    for batch in ids.chunks(FILL_BATCH) {
        // Multi-row statements; sqlx prepares each distinct text once per connection.
        let tasks = format!(
            "INSERT INTO tasks (id, agent, title, prompt, labels, priority, origin, depth, status, \
             created_at, started_at, finished_at, exit_code, result, attempt, metadata) VALUES {}",
            vec![TASK_ROW; batch.len()].join(", ")
        );
        let events = format!(
            "INSERT INTO events (task_id, kind, at, data) VALUES {}",
            vec!["(?, 'finished', ?, '{}')"; batch.len()].join(", ")
        );
        // Safe: built from constant text and `?` placeholders only.
        let mut tq = sqlx::query(sqlx::AssertSqlSafe(tasks.as_str()));
        let mut eq = sqlx::query(sqlx::AssertSqlSafe(events.as_str()));
        for &i in batch {
            let id = fixture_id(i);
            let created = base + i as i64 * 1000;
            tq = tq
                .bind(id.clone())
                .bind(created)
                .bind(created + 5)
                .bind(created + 25);
            eq = eq.bind(id).bind(created + 25);
        }
        tq.execute(&mut *tx).await?;
        eq.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_ids_are_valid_and_distinct() {
        assert_eq!(fixture_id(0), "zz000000");
        assert_eq!(fixture_id(33), "zz000011");
        assert_ne!(fixture_id(99_999), fixture_id(100_000));
        assert!(legate_domain::TaskId::parse(&fixture_id(123_456)).is_ok());
    }
}
