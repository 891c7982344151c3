//! Whether legate may trust what it finds at a path: who owns it and who may write it, for the
//! path and every directory on the way to it (the rules of ssh's `StrictModes`).
//!
//! Another local user must not be able to put something where legate looks (a socket that
//! receives prompts, a config whose commands legate runs) nor read what legate keeps (task
//! results, logs). So every existing component of a path, symlinks included, must belong to
//! the user or root; the path itself must not be writable by group or others; a directory
//! above it may be, only when it is sticky (like `/tmp`: there nobody can replace another
//! user's entry). When a symlink is on the way, the real path it leads to is checked the same
//! way. Components that do not exist yet are skipped: legate creates them private.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// Why a path cannot be trusted: the path, the symlink it was reached through (if any), and
/// the problem. Its message names the path and says how to fix it.
#[derive(Debug)]
pub struct TrustError {
    /// The path at fault.
    pub path: PathBuf,
    /// The path the user gave, when `path` is where its symlinks lead.
    pub via: Option<PathBuf>,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with an untrusted path.
#[derive(Debug)]
pub enum Problem {
    /// It belongs to another user (`owner`, a uid) than the caller (`me`) and root.
    Owner {
        /// Its owner's uid.
        owner: u32,
        /// The caller's effective uid.
        me: u32,
    },
    /// Group or others may write it (`mode`, the permission bits).
    Writable {
        /// Its permission bits.
        mode: u32,
    },
    /// A private directory of legate that group or others may read, enter or write.
    Open {
        /// Its permission bits.
        mode: u32,
    },
    /// A directory was expected.
    NotDirectory,
    /// The process listening on a socket runs as another user (`uid`) than the caller (`me`).
    Peer {
        /// The listening process's uid.
        uid: u32,
        /// The caller's effective uid.
        me: u32,
    },
    /// It could not be inspected or created.
    Io(io::Error),
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        let via = match &self.via {
            Some(v) => format!(" (where {} leads)", v.display()),
            None => String::new(),
        };
        match &self.problem {
            Problem::Owner { owner, me } => write!(
                f,
                "legate does not trust {p}{via}: it is owned by uid {owner}, not by you (uid {me}) \
                 or root, so that user could read or replace what legate keeps there. Use a \
                 directory of your own (set LEGATE_HOME), or if it is yours: `chown {me} {p}`"
            ),
            Problem::Writable { mode } => write!(
                f,
                "legate does not trust {p}{via}: its mode {mode:04o} lets other users write \
                 there, so they could replace what legate finds. Fix: `chmod go-w {p}`"
            ),
            Problem::Open { mode } => write!(
                f,
                "{p}{via} has mode {mode:04o}: other users could read legate's tasks, results \
                 and logs there, so legate refuses to use it. Fix: `chmod 700 {p}`"
            ),
            Problem::NotDirectory => write!(
                f,
                "{p}{via} is not a directory; move it away or set LEGATE_HOME"
            ),
            Problem::Peer { uid, me } => write!(
                f,
                "the process listening at {p}{via} runs as uid {uid}, not as you (uid {me}); \
                 legate sent it nothing. Stop that process and remove {p}, then run legate again"
            ),
            Problem::Io(e) => write!(
                f,
                "cannot check or create {p}{via}: {e}; fix its permissions or set LEGATE_HOME"
            ),
        }
    }
}

impl std::error::Error for TrustError {}

/// The caller's effective uid.
pub fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn error(path: &Path, problem: Problem) -> TrustError {
    TrustError {
        path: path.to_path_buf(),
        via: None,
        problem,
    }
}

/// `path` made absolute against the working directory (not resolved).
fn absolute(path: &Path) -> Result<PathBuf, TrustError> {
    std::path::absolute(path).map_err(|e| error(path, Problem::Io(e)))
}

/// Checks that no other user can change what is found at `path`: it and every existing
/// component above it (symlinks too) belong to you or root; `path` itself is not writable by
/// group or others, and the directories above it are not unless sticky. Symlinks are followed
/// as the kernel follows them, and where they lead is checked the same way. A missing `path`
/// (or missing directories above it) passes: there is nothing to trust yet.
///
/// Errors: the first untrusted component (its real path, and `via` the given path when a
/// symlink led there), with how to fix it.
pub fn check_on_the_way(path: &Path) -> Result<(), TrustError> {
    let given = absolute(path)?;
    let me = me();
    let mut real = PathBuf::from("/");
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, &given);
    let mut links = 0;
    let fail = |p: &Path, problem: Problem, links: u32| TrustError {
        path: p.to_path_buf(),
        via: (links > 0).then(|| given.clone()),
        problem,
    };
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            real.pop();
            continue;
        }
        let p = real.join(&name);
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(fail(&p, Problem::Io(e), links)),
        };
        if meta.uid() != me && meta.uid() != 0 {
            let owner = meta.uid();
            return Err(fail(&p, Problem::Owner { owner, me }, links));
        }
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                let e = io::Error::from(nix::errno::Errno::ELOOP);
                return Err(fail(&p, Problem::Io(e), links));
            }
            let target = fs::read_link(&p).map_err(|e| fail(&p, Problem::Io(e), links))?;
            if target.is_absolute() {
                real = PathBuf::from("/");
            }
            push_front(&mut pending, &target);
            continue;
        }
        let mode = meta.mode() & 0o7777;
        let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
        let last = pending.is_empty();
        if mode & 0o022 != 0 && (last || !sticky_dir) {
            return Err(fail(&p, Problem::Writable { mode }, links));
        }
        real = p;
    }
    Ok(())
}

/// How many symlinks a path may go through (as Linux allows).
const MAX_LINKS: u32 = 40;

/// Puts the names of `path` (without `.` and the root) in front of the names still to walk.
fn push_front(pending: &mut VecDeque<OsString>, path: &Path) {
    for c in path.components().rev() {
        match c {
            Component::Normal(n) => pending.push_front(n.to_os_string()),
            Component::ParentDir => pending.push_front(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

/// Checks a directory legate keeps private data in (the database, logs, the socket): it
/// and the way to it pass [`check_on_the_way`], it is a directory, it belongs to you, and
/// nobody else may read, enter or write it (mode 0700 or stricter).
///
/// Errors: the first problem found, with how to fix it (e.g. `chmod 700 DIR`).
pub fn check_private_dir(dir: &Path) -> Result<(), TrustError> {
    check_on_the_way(dir)?;
    let meta = fs::metadata(dir).map_err(|e| error(dir, Problem::Io(e)))?;
    if !meta.is_dir() {
        return Err(error(dir, Problem::NotDirectory));
    }
    let me = me();
    if meta.uid() != me {
        return Err(error(
            dir,
            Problem::Owner {
                owner: meta.uid(),
                me,
            },
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(error(dir, Problem::Open { mode }));
    }
    Ok(())
}

/// Creates `dir` and any missing parents with mode 0700 (whatever the umask), after checking
/// the way to it, then checks it with [`check_private_dir`]: an existing directory that is not
/// private is refused, not changed.
///
/// Errors: an untrusted component, or the creation failing.
pub fn ensure_private_dir(dir: &Path) -> Result<(), TrustError> {
    check_on_the_way(dir)?;
    if fs::symlink_metadata(dir).is_err() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| error(dir, Problem::Io(e)))?;
    }
    check_private_dir(dir)
}

/// Checks that the process at the other end of a Unix socket connected to `path` runs as
/// you; `peer_uid` is its uid (from `SO_PEERCRED`).
///
/// Errors: [`Problem::Peer`] when it is another user.
pub fn check_peer(path: &Path, peer_uid: u32) -> Result<(), TrustError> {
    let me = me();
    if peer_uid == me {
        return Ok(());
    }
    Err(error(path, Problem::Peer { uid: peer_uid, me }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn writable_leaf_is_refused_but_sticky_parents_pass() {
        let top = tempfile::tempdir().unwrap();
        let sticky = top.path().join("sticky");
        fs::create_dir(&sticky).unwrap();
        chmod(&sticky, 0o1777);
        let inner = sticky.join("inner");
        fs::create_dir(&inner).unwrap();
        chmod(&inner, 0o700);
        check_on_the_way(&inner.join("missing/deeper")).unwrap();
        let err = check_on_the_way(&sticky).unwrap_err();
        assert!(matches!(err.problem, Problem::Writable { .. }), "{err}");
        chmod(&inner, 0o777);
        let err = check_on_the_way(&inner.join("x")).unwrap_err();
        assert_eq!(err.path, inner);
        assert!(err.to_string().contains("chmod go-w"), "{err}");
    }

    #[test]
    fn open_private_dir_is_refused_with_the_fix() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path().join("data");
        ensure_private_dir(&d).unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        chmod(&d, 0o755);
        let err = ensure_private_dir(&d).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("chmod 700 {}", d.display())),
            "{err}"
        );
    }

    #[test]
    fn a_symlink_is_checked_where_it_leads() {
        let top = tempfile::tempdir().unwrap();
        let real = top.path().join("real");
        fs::create_dir(&real).unwrap();
        chmod(&real, 0o777);
        let link = top.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = check_on_the_way(&link.join("run")).unwrap_err();
        assert_eq!(err.path, real);
        assert_eq!(err.via.as_deref(), Some(link.join("run").as_path()));
    }
}
