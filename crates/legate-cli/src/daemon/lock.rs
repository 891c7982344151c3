//! The daemon lock: an exclusive `flock` held for the daemon's whole life. The kernel drops
//! it when the process dies, however it dies, so a crashed daemon never blocks the next one.
//!
//! It lives beside the store (`DATA_DIR/daemon.lock`), not beside the socket: clients started
//! with another environment (a host that drops `XDG_RUNTIME_DIR`) compute another socket path
//! but the same store, and must find the one daemon of that store, never start a second one.
//! The file says where that daemon listens and which configuration it reads:
//! `PID\nSOCKET\nCONFIG\n`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Takes the lock and records this daemon's pid, `socket` and `config` file in it, or `None`
/// when another daemon holds it.
pub fn acquire(path: &Path, socket: &Path, config: &Path) -> Result<Option<Flock<std::fs::File>>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open the daemon lock {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            write!(
                lock,
                "{}\n{}\n{}\n",
                std::process::id(),
                socket.display(),
                config.display()
            )?;
            Ok(Some(lock))
        }
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// The daemon the lock file names: its pid and socket, as the last holder wrote them. The
/// holder may have died since: callers check the socket answers.
pub fn recorded(path: &Path) -> Option<(i32, PathBuf)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let socket = lines.next().filter(|s| !s.is_empty())?;
    Some((pid, PathBuf::from(socket)))
}

/// The configuration file the daemon named in the lock file reads (absent in files written
/// before it was recorded).
pub fn recorded_config(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .nth(2)
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
}
