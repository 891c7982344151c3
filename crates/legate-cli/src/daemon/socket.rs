//! The daemon's API socket: created private, and put back when its file is removed from
//! under a running daemon (a temp-dir cleaner, a logout that empties `$XDG_RUNTIME_DIR`), so
//! the store's lock never names a daemon no client can reach.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::UnixListener;

/// How often a daemon checks that its socket file is still there.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A listening socket at `path`, 0600. A file left there is removed first: the caller holds
/// the store's lock, so it belongs to a dead daemon (or was ours and is gone from the tree).
/// Returns the listener and the socket file's inode.
pub fn listen(path: &Path) -> Result<(UnixListener, u64)> {
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let inode = std::fs::metadata(path)?.ino();
    Ok((listener, inode))
}

/// Whether the file at `path` is no longer the socket with inode `inode` (removed, or
/// replaced by something else).
pub fn gone(path: &Path, inode: u64) -> bool {
    std::fs::symlink_metadata(path).map_or(true, |m| m.ino() != inode)
}
