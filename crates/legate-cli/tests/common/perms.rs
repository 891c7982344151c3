//! Permissions in end-to-end tests: acting as another local user (`nobody`, through
//! `setpriv`), an impostor listening where legate's daemon should, a umask for a command, and
//! the modes of everything under a directory.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// The uid (and gid) of `nobody`.
pub const NOBODY: u32 = 65534;

/// `program ARGS` run as `nobody`, with no supplementary groups.
pub fn as_nobody(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        program,
    ])
    .args(args)
    .stdin(Stdio::null());
    c
}

/// Runs `program ARGS` as `nobody`, asserting success.
pub fn nobody_ok(program: &str, args: &[&str]) {
    let out = as_nobody(program, args).output().unwrap();
    assert!(
        out.status.success(),
        "nobody: {program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Gives `path` to `nobody`.
pub fn chown_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

/// Sets the permission bits of `path`.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Creates a directory with exactly `mode`.
pub fn mkdir(path: &Path, mode: u32) {
    std::fs::DirBuilder::new().mode(mode).create(path).unwrap();
    chmod(path, mode);
}

/// The permission bits of `path` (not following a symlink).
pub fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// The same command started by `sh` after `umask 000`.
pub fn under_umask_000(c: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(c.get_program())
        .args(c.get_args())
        .stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

/// Asserts the command exits 1 with every needle on stderr; returns stderr.
pub fn refused_cmd(mut c: Command, needles: &[&str]) -> String {
    let o: Output = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "should be refused: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    err
}

/// Every path under each root (the roots included) with its mode, asserting that each
/// directory is 0700 and everything else 0600; returns the file names seen.
pub fn assert_all_private(roots: &[PathBuf]) -> Vec<String> {
    let mut names = Vec::new();
    let mut todo: Vec<PathBuf> = roots.to_vec();
    while let Some(p) = todo.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.mode() & 0o7777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{} is {mode:04o}", p.display());
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{} is {mode:04o}", p.display());
        }
        names.push(p.file_name().unwrap().to_string_lossy().into_owned());
    }
    names
}

/// A process of `nobody` listening on a Unix socket, printing what it receives.
pub struct Impostor {
    child: Child,
    out: BufReader<ChildStdout>,
}

const IMPOSTOR: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(1.0)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            print("received", repr(d), flush=True)
    except OSError:
        pass
    c.close()
"#;

impl Impostor {
    /// Listens at `path` (its directory must let `nobody` in) once this returns.
    pub fn listen(path: &Path) -> Impostor {
        let mut child = as_nobody(
            "/usr/bin/python3",
            &["-c", IMPOSTOR, &path.display().to_string()],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        if line.trim() != "ready" {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("the impostor did not start at {}: {err}", path.display());
        }
        Impostor { child, out }
    }

    /// Stops it; what it received (lines `received …`), empty when nothing came.
    pub fn received(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut rest = String::new();
        let _ = self.out.read_to_string(&mut rest);
        rest
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills, when dropped, every process whose environment holds one of the needles
/// (`KEY=VALUE`): for daemons started without a `LEGATE_HOME` of their own.
pub struct KillOnDrop(pub Vec<String>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for needle in &self.0 {
            for pid in super::processes_with_env(needle) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}
