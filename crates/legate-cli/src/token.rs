//! The bearer token of `legate serve`: `$LEGATE_TOKEN`, else a random one kept in a file only
//! its owner can read, made on first use and reused after.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::RngCore;

use crate::paths::ensure_private_dir;

/// Where the token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `$LEGATE_TOKEN`.
    Env,
    /// The token file, made just now.
    Created,
    /// The token file, as an earlier start left it.
    Reused,
}

/// Whether `token` can be sent as `Authorization: Bearer TOKEN`: visible ASCII, no spaces.
pub fn is_valid(token: &str) -> bool {
    !token.is_empty() && token.chars().all(|c| c.is_ascii_graphic())
}

/// The token in `path`, or a new random one written there (mode 0600) if it does not exist.
/// Two servers starting at once end with the same token: the file appears whole or not at all
/// (written aside, then hard-linked into place, which fails if another got there first).
pub fn load_or_create(path: &Path) -> Result<(String, Source)> {
    // The file itself is private (0600); its directory must be yours and closed to writes by
    // others (it may be a home that others can enter), or new and private.
    if let Some(dir) = path.parent() {
        if dir.exists() {
            legate_engine::trust::check_on_the_way(dir)?;
        } else {
            ensure_private_dir(dir)?;
        }
    }
    if let Some(t) = read(path)? {
        return Ok((t, Source::Reused));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let aside = path.with_extension(format!(
        "new-{}-{:08x}",
        std::process::id(),
        rand::rng().next_u32()
    ));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&aside)
        .and_then(|mut f| {
            f.write_all(format!("{token}\n").as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::hard_link(&aside, path));
    let _ = fs::remove_file(&aside);
    match written {
        Ok(()) => Ok((token, Source::Created)),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match read(path)? {
            Some(t) => Ok((t, Source::Reused)),
            None => bail!("{} vanished while it was being read; start again", path.display()),
        },
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot write the token file {}; check the directory's permissions or set LEGATE_TOKEN",
                path.display()
            )
        }),
    }
}

/// The token in `path` if the file exists; refuses one that others could read or change.
fn read(path: &Path) -> Result<Option<String>> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let fix = "delete it to have legate make a new one, or set LEGATE_TOKEN";
    if !meta.is_file() {
        bail!(
            "the token file {} is not a regular file; {fix}",
            path.display()
        );
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "the token file {} is owned by uid {}, not by you (uid {me}); {fix}",
            path.display(),
            meta.uid()
        );
    }
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "the token file {} can be read or changed by other users (mode {:o}); \
             `chmod 600` it if nobody else has read it, else {fix}",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let token = text.trim().to_string();
    if !is_valid(&token) {
        bail!(
            "the token file {} is empty or holds spaces or control characters; {fix}",
            path.display()
        );
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("serve.token");
        let (made, how) = load_or_create(&path).unwrap();
        assert_eq!((made.len(), how), (64, Source::Created));
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let (again, how) = load_or_create(&path).unwrap();
        assert_eq!((again, how), (made.clone(), Source::Reused));
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("other users") && e.contains("644"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "two words\n").unwrap();
        let e = load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("holds spaces"), "{e}");
    }

    #[test]
    fn racing_starts_share_one_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.token");
        let tokens: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(&path).unwrap().0))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    }
}
