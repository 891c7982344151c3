//! The configuration as the daemon sees it: reloaded when the file changes, so editing the
//! config takes effect at the next submission without restarting the daemon.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use legate_domain::{Config, ConfigError};

/// The config file (if any) and the last good configuration read from it.
#[derive(Debug)]
pub struct ConfigSource {
    path: Option<PathBuf>,
    state: Mutex<State>,
    /// Woken whenever a new configuration is taken (see [`ConfigSource::changed`]).
    changed: tokio::sync::Notify,
}

/// What tells a changed file: modification time, length, owner and mode (a file that became
/// writable by others is checked again).
type Stamp = (SystemTime, u64, u32, u32);

#[derive(Debug)]
struct State {
    stamp: Option<Stamp>,
    good: Arc<Config>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.uid(), m.mode()))
}

/// Reads and parses a config file; a missing file means the defaults. The file runs commands
/// as you (notifications, agents), so one that another user owns or may write, or that lies
/// where another user could replace it, is refused ([`crate::trust::check_on_the_way`]).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    if path.symlink_metadata().is_ok()
        && let Err(e) = crate::trust::check_on_the_way(path)
    {
        return Err(ConfigError {
            file: None,
            line: None,
            column: None,
            key: None,
            message: e.to_string(),
        });
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Config::parse(&text, Some(&path.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(ConfigError {
            file: Some(path.display().to_string()),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read it: {e}"),
        }),
    }
}

impl ConfigSource {
    /// Loads the file now; an invalid file is an error (the daemon refuses to start on it).
    pub fn open(path: Option<PathBuf>) -> Result<Self, ConfigError> {
        let (config, st) = match &path {
            Some(p) => (load(p)?, stamp(p)),
            None => (Config::default(), None),
        };
        Ok(ConfigSource {
            path,
            state: Mutex::new(State {
                stamp: st,
                good: Arc::new(config),
            }),
            changed: tokio::sync::Notify::new(),
        })
    }

    /// A fixed configuration (tests, embedding).
    pub fn fixed(config: Config) -> Self {
        ConfigSource {
            path: None,
            state: Mutex::new(State {
                stamp: None,
                good: Arc::new(config),
            }),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The current configuration, re-read if the file changed. An invalid edit is reported
    /// (so a submission fails with the file, line and key) while the daemon keeps running on
    /// the last good configuration.
    pub fn current(&self) -> Result<Arc<Config>, ConfigError> {
        let Some(path) = &self.path else {
            return Ok(self.last_good());
        };
        let now = stamp(path);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now == st.stamp {
            return Ok(st.good.clone());
        }
        let config = Arc::new(load(path)?);
        st.stamp = now;
        st.good = config.clone();
        self.changed.notify_waiters();
        Ok(config)
    }

    /// Resolves the next time [`ConfigSource::current`] takes a new configuration: loops that
    /// act on a schedule from the config (retention) wait on it too, so an edit applies at the
    /// next submission rather than at the end of the old interval.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// The last configuration that parsed (for the scheduler, which must keep going).
    pub fn last_good(&self) -> Arc<Config> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .good
            .clone()
    }
}
