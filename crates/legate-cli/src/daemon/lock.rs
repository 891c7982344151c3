//! The daemon lock: an exclusive `flock` held for the daemon's whole life. The kernel drops
//! it when the process dies, however it dies, so a crashed daemon never blocks the next one.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Takes the lock, or `None` when another daemon holds it.
pub fn acquire(path: &Path) -> Result<Option<Flock<std::fs::File>>> {
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
            writeln!(lock, "{}", std::process::id())?;
            Ok(Some(lock))
        }
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}
