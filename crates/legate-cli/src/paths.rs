//! Where legate keeps things: all under `$LEGATE_HOME` when set, else the XDG directories.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use legate_engine::trust;

/// Every path legate uses.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The config file (may not exist).
    pub config: PathBuf,
    /// Directory of the database.
    pub data_dir: PathBuf,
    /// The SQLite database.
    pub db: PathBuf,
    /// One directory per task with its logs.
    pub logs_dir: PathBuf,
    /// The socket lives here (mode 0700).
    pub run_dir: PathBuf,
    /// The API socket (mode 0600).
    pub socket: PathBuf,
    /// Held by the running daemon: one per store, so it lives beside the database (and names
    /// the daemon's socket for clients that compute another one).
    pub lock: PathBuf,
    /// The detached daemon's own log.
    pub daemon_log: PathBuf,
    /// The bearer token `legate serve` creates when none is given (mode 0600), next to the
    /// default config file.
    pub serve_token: PathBuf,
    /// `LEGATE_HOME`, when set: everything above lives in it.
    pub home: Option<PathBuf>,
}

impl Paths {
    /// The configuration, for frontends that read a setting or two but do not run the engine
    /// (hooks, the MCP server): a broken file is the daemon's to report, so the defaults stand
    /// in for it here.
    pub fn config_or_default(&self) -> legate_domain::Config {
        // An untrusted file (another user could have written it) counts as broken too.
        legate_engine::load_config(&self.config).unwrap_or_default()
    }

    /// Reads `LEGATE_HOME`, `LEGATE_CONFIG` and the XDG variables.
    pub fn from_env() -> Result<Paths> {
        let config_override = std::env::var_os("LEGATE_CONFIG").map(PathBuf::from);
        let p = if let Some(home) = std::env::var_os("LEGATE_HOME").filter(|h| !h.is_empty()) {
            let home = absolute(Path::new(&home))?;
            Paths {
                config: home.join("config.toml"),
                data_dir: home.join("data"),
                db: home.join("data").join("legate.db"),
                logs_dir: home.join("logs"),
                run_dir: home.join("run"),
                socket: home.join("run").join("legate.sock"),
                lock: home.join("data").join("daemon.lock"),
                daemon_log: home.join("daemon.log"),
                serve_token: home.join("serve.token"),
                home: Some(home),
            }
        } else {
            let config =
                dirs::config_dir().context("cannot find your config directory; set LEGATE_HOME")?;
            let data =
                dirs::data_dir().context("cannot find your data directory; set LEGATE_HOME")?;
            let state = dirs::state_dir()
                .unwrap_or_else(|| data.clone())
                .join("legate");
            let run = match dirs::runtime_dir() {
                Some(r) => r.join("legate"),
                None => std::env::temp_dir().join(format!("legate-{}", nix::unistd::geteuid())),
            };
            let data = data.join("legate");
            Paths {
                config: config.join("legate").join("config.toml"),
                db: data.join("legate.db"),
                lock: data.join("daemon.lock"),
                data_dir: data,
                logs_dir: state.join("logs"),
                socket: run.join("legate.sock"),
                daemon_log: state.join("daemon.log"),
                serve_token: config.join("legate").join("serve.token"),
                run_dir: run,
                home: None,
            }
        };
        // SQLite opens only UTF-8 file names: say so before anything is made on disk.
        if p.db.to_str().is_none() {
            anyhow::bail!(
                "legate's data directory {} is not valid UTF-8, which its store cannot be opened \
                 at; set LEGATE_HOME (or XDG_DATA_HOME) to a directory whose path is UTF-8",
                p.data_dir.display()
            );
        }
        Ok(Paths {
            config: config_override.unwrap_or(p.config.clone()),
            ..p
        })
    }

    /// The directories that hold nothing but legate's own files, kept at mode 0700: data, logs,
    /// run, and (without `LEGATE_HOME`) the state directory of the daemon's log.
    fn private_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![
            self.data_dir.clone(),
            self.logs_dir.clone(),
            self.run_dir.clone(),
        ];
        if let Some(dir) = self.daemon_log.parent()
            && self.home.as_deref() != Some(dir)
        {
            dirs.push(dir.to_path_buf());
        }
        dirs
    }

    /// Creates the directories the daemon needs (mode 0700) and refuses any that another user
    /// owns or may read or write, or that lies where another user could replace it: the
    /// socket, results and logs would otherwise be readable or hijackable by them. Every
    /// existing directory is checked before any is created, so a refusal changes nothing.
    pub fn prepare_private_dirs(&self) -> Result<()> {
        let dirs = self.private_dirs();
        if let Some(home) = &self.home {
            trust::check_on_the_way(home)?;
        }
        for dir in dirs.iter().filter(|d| d.exists()) {
            trust::check_private_dir(dir)?;
        }
        self.prepare_log_dir()?;
        for dir in &dirs {
            ensure_private_dir(dir)?;
        }
        Ok(())
    }

    /// Makes sure the daemon's log can be written safely: `LEGATE_HOME` (created 0700 when
    /// missing) must not be writable by others; the XDG state directory is private.
    pub fn prepare_log_dir(&self) -> Result<()> {
        match (&self.home, self.daemon_log.parent()) {
            (Some(home), _) => {
                trust::check_on_the_way(home)?;
                if !home.exists() {
                    ensure_private_dir(home)?;
                }
            }
            (None, Some(dir)) => ensure_private_dir(dir)?,
            (None, None) => {}
        }
        Ok(())
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

/// Creates `dir` (0700, whatever the umask) if missing and checks it is legate's to use
/// ([`trust::ensure_private_dir`]: yours, private, nobody else can change the way to it),
/// then that it can be written.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    trust::ensure_private_dir(dir)?;
    // The bits too: root writes anywhere, but a directory made read-only means "keep out".
    let mode = fs::metadata(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o200 == 0 {
        bail!(
            "{} is not writable; fix its permissions (`chmod 700 {}`) or set LEGATE_HOME",
            dir.display(),
            dir.display()
        );
    }
    let probe = dir.join(".legate-write-test");
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)
        .with_context(|| {
            format!(
                "{} is not writable; fix its permissions, free space, or set LEGATE_HOME",
                dir.display()
            )
        })?;
    let _ = fs::remove_file(probe);
    Ok(())
}
