//! Where legate keeps things: all under `$LEGATE_HOME` when set, else the XDG directories.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

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
}

impl Paths {
    /// The configuration, for frontends that read a setting or two but do not run the engine
    /// (hooks, the MCP server): a broken file is the daemon's to report, so the defaults stand
    /// in for it here.
    pub fn config_or_default(&self) -> legate_domain::Config {
        fs::read_to_string(&self.config)
            .ok()
            .and_then(|text| legate_domain::Config::parse(&text, None).ok())
            .unwrap_or_default()
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
            }
        };
        Ok(Paths {
            config: config_override.unwrap_or(p.config.clone()),
            ..p
        })
    }

    /// Creates the directories the daemon needs (mode 0700) and refuses any that another user
    /// owns: the socket and data would otherwise be readable or hijackable by them.
    pub fn prepare_private_dirs(&self) -> Result<()> {
        let mut dirs = vec![
            self.data_dir.clone(),
            self.logs_dir.clone(),
            self.run_dir.clone(),
        ];
        dirs.extend(self.daemon_log.parent().map(Path::to_path_buf));
        // Check every existing directory before creating any, so a refusal changes nothing.
        for dir in dirs.iter().filter(|d| d.exists()) {
            ensure_private_dir(dir)?;
        }
        for dir in &dirs {
            ensure_private_dir(dir)?;
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

/// Creates `dir` (0700) if missing; refuses it when it is not a directory, is owned by someone
/// else, or cannot be written.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| {
                format!(
                    "cannot create {}; check its parent's permissions or set LEGATE_HOME",
                    dir.display()
                )
            })?;
    }
    let meta = fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        bail!(
            "{} exists but is not a directory; move it away or set LEGATE_HOME",
            dir.display()
        );
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "{} is owned by uid {}, not by you (uid {me}); legate refuses to use it so that no other user can read or hijack your tasks. \
             Use a directory you own (set LEGATE_HOME) or fix its owner",
            dir.display(),
            meta.uid()
        );
    }
    if meta.permissions().mode() & 0o200 == 0 {
        bail!(
            "{} is not writable; fix its permissions or set LEGATE_HOME",
            dir.display()
        );
    }
    let probe = dir.join(".legate-write-test");
    fs::write(&probe, b"").with_context(|| {
        format!(
            "{} is not writable; fix its permissions, free space, or set LEGATE_HOME",
            dir.display()
        )
    })?;
    let _ = fs::remove_file(probe);
    Ok(())
}
