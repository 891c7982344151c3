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
/// the store's lock, so it belongs to a dead daemon (or was ours and is gone from the tree);
/// so is an empty directory made there by mistake. Returns the listener and the socket file's
/// inode. Errors: a directory with something in it is there (see [`in_the_way`]), or binding
/// fails.
pub fn listen(path: &Path) -> Result<(UnixListener, u64)> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir(path);
    }
    if let Some(what) = in_the_way(path) {
        anyhow::bail!("cannot listen on {}: {what}", path.display());
    }
    // Its directory may have gone with it (a logout empties `$XDG_RUNTIME_DIR`).
    if let Some(dir) = path.parent() {
        crate::paths::ensure_private_dir(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let inode = std::fs::metadata(path)?.ino();
    Ok((listener, inode))
}

/// What stands at a socket path in a daemon's way, when it is a directory (which neither the
/// daemon nor its clients can use, and which only its owner should remove): a sentence saying
/// so and what to do.
pub fn in_the_way(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.is_dir().then(|| {
        format!(
            "{} is a directory, not the daemon's socket; remove it (`rm -r {}` once you have \
             kept what is in it) and the daemon listens there again within {} s",
            path.display(),
            path.display(),
            CHECK_EVERY.as_secs()
        )
    })
}

/// Whether the file at `path` is no longer the socket with inode `inode` (removed, or
/// replaced by something else).
pub fn gone(path: &Path, inode: u64) -> bool {
    std::fs::symlink_metadata(path).map_or(true, |m| m.ino() != inode)
}
