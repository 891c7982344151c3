//! Reaching the daemon, starting it when it is not running.
//!
//! The daemon of a store is found at this environment's socket, or else at the socket its
//! lock (beside the store) names: a client started with another environment still reaches
//! the one daemon of its store.
//!
//! Race-free: starters take turns (a lock beside the daemon log), so each reports only its own
//! start's lines of the log, and one whose turn comes after a successful start finds that
//! daemon instead of starting another; daemons started for other environments of the same
//! store race for the store's exclusive lock, one wins, the others exit with
//! [`ALREADY_RUNNING`], and every starter waits for the winner's socket.
//!
//! Detached: a starter runs `legate daemon --launch`, which starts the daemon (in a session of
//! its own), waits until it answers, and exits. The daemon is then nobody's descendant but
//! init's (or the session's subreaper's), so a host that ends its whole process tree at exit
//! (as `opencode run` does) does not take the daemon and its tasks along.

use std::fs::{File, OpenOptions, Permissions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use legate_api::Client;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};

use crate::cli::EngineArgs;
use crate::paths::Paths;

/// Exit code of a daemon that found another one holding the lock.
pub const ALREADY_RUNNING: i32 = 75;

/// How long a starter waits for the daemon's socket.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// How long the daemon may take to answer a request: `LEGATE_CLIENT_TIMEOUT` (e.g. `10s`),
/// else [`legate_api::client::DEFAULT_REQUEST_TIMEOUT`].
pub fn client_timeout() -> Result<Duration> {
    match std::env::var("LEGATE_CLIENT_TIMEOUT")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        None => Ok(legate_api::client::DEFAULT_REQUEST_TIMEOUT),
        Some(v) => legate_domain::size::parse_duration(&v)
            .map_err(|m| anyhow::anyhow!("LEGATE_CLIENT_TIMEOUT: {m}")),
    }
}

/// A client of the daemon socket (not starting it), with the configured request timeout.
pub fn client(paths: &Paths) -> Result<Client> {
    Ok(Client::new(&paths.socket).with_timeout(client_timeout()?))
}

/// A client of the running daemon, starting one if needed. Says on stderr when that daemon
/// reads another configuration file than this command's environment names.
pub async fn connect(paths: &Paths) -> Result<Client> {
    if let Some(client) = reachable(paths).await? {
        other_config(paths);
        return Ok(client);
    }
    start_daemon(&EngineArgs::default()).await?;
    reachable(paths).await?.with_context(|| {
        format!(
            "the legate daemon started but does not answer at {}; see {}",
            paths.socket.display(),
            paths.daemon_log.display()
        )
    })
}

/// Warns when the running daemon reads another configuration file than `paths` names (it was
/// started with another `LEGATE_CONFIG` or `LEGATE_HOME`): its agents and limits apply, not
/// those of the file this command would read.
fn other_config(paths: &Paths) {
    let Some(theirs) = crate::daemon::lock::recorded_config(&paths.lock) else {
        return;
    };
    if theirs != paths.config {
        errln!(
            "legate: warning: the running daemon reads its configuration from {}, not {} (this \
             command's LEGATE_CONFIG or LEGATE_HOME); its agents and limits apply. To use {}, \
             stop it (`legate daemon stop`) and run the command again",
            theirs.display(),
            paths.config.display(),
            paths.config.display()
        );
    }
}

/// A client that also brings the daemon back if it goes away (for long-lived frontends).
pub async fn connect_lasting(paths: &Paths) -> Result<Client> {
    let client = connect(paths).await?;
    let starter: legate_api::Starter = std::sync::Arc::new(move || {
        Box::pin(async move {
            start_daemon(&EngineArgs::default())
                .await
                .map_err(|e| format!("{e:#}"))
        })
    });
    Ok(client.with_starter(starter))
}

/// The running daemon of this store, if one answers: at this environment's socket, else at
/// the socket the store's lock names. Errors: a socket that cannot be trusted (see
/// [`legate_api::ClientError::Untrusted`]); nothing was sent to it.
pub async fn reachable(paths: &Paths) -> Result<Option<Client>> {
    let own = client(paths)?;
    if own.is_up().await? {
        return Ok(Some(own));
    }
    let Some((_, socket)) = crate::daemon::lock::recorded(&paths.lock) else {
        return Ok(None);
    };
    if socket == paths.socket {
        return Ok(None);
    }
    let recorded = Client::new(&socket).with_timeout(client_timeout()?);
    Ok(recorded.is_up().await?.then_some(recorded))
}

/// The daemon to ask without starting one: the one that answers, else this environment's
/// socket (whose requests then fail to connect). Errors: as [`reachable`].
pub async fn existing(paths: &Paths) -> Result<Client> {
    Ok(match reachable(paths).await? {
        Some(client) => client,
        None => client(paths)?,
    })
}

/// Starts a daemon detached from this process (see the module docs) for the store this
/// environment names, with `engine`'s settings where they are given, and returns once it
/// answers. Errors: the daemon's own reason for failing to start, from its log.
pub async fn start_daemon(engine: &EngineArgs) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the legate executable")?;
    let mut cmd = tokio::process::Command::new(exe);
    engine.export(cmd.as_std_mut());
    let out = cmd
        .args(["daemon", "--launch"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("cannot start the legate daemon")?;
    if out.status.success() {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&out.stderr);
    let why = why.trim().trim_start_matches("error: ");
    bail!("{why}")
}

/// `legate daemon --launch`: starts the daemon and waits until it answers (exit 0), or
/// reports why it did not start (an error).
pub async fn launch(paths: &Paths, engine: &EngineArgs) -> Result<i32> {
    engine
        .check()
        .map_err(|e| anyhow::anyhow!("the legate daemon cannot start: {e}"))?;
    let _turn = start_turn(paths).await?;
    if reachable(paths).await?.is_some() {
        return Ok(crate::exit::OK);
    }
    let started = spawn_daemon(paths, engine)?;
    wait_ready(paths, started).await?;
    Ok(crate::exit::OK)
}

/// Waits for this command's turn to start the daemon (an exclusive lock on
/// `daemon.start.lock` beside the daemon log, held until the start is over). Errors: the lock
/// file cannot be opened, or the turn does not come within twice the start deadline.
async fn start_turn(paths: &Paths) -> Result<Flock<File>> {
    paths.prepare_log_dir()?;
    let path = paths.daemon_log.with_extension("start.lock");
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let deadline = Instant::now() + 2 * START_DEADLINE;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(turn) => return Ok(turn),
            Err((f, Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = f;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err((_, e)) => bail!(
                "another start of the legate daemon holds {} ({e}); try again",
                path.display()
            ),
        }
    }
}

/// A daemon process this command started.
struct Started {
    child: Child,
    /// Where its lines begin in the daemon log (bytes): what came before is earlier starts'.
    log_from: u64,
}

/// Starts the daemon process (its own session, output to the daemon log).
fn spawn_daemon(paths: &Paths, engine: &EngineArgs) -> Result<Started> {
    paths.prepare_log_dir()?;
    let log = open_daemon_log(&paths.daemon_log)?;
    let log_from = log.metadata()?.len();
    let exe = std::env::current_exe().context("cannot find the legate executable")?;
    let mut cmd = Command::new(exe);
    engine.export(&mut cmd);
    let child = cmd
        .args(["daemon", "--session"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the legate daemon")?;
    Ok(Started { child, log_from })
}

/// Opens the daemon's log for appending: created 0600 (whatever the umask), never through a
/// symlink, refused when another user owns it, and made private if it was not.
fn open_daemon_log(path: &Path) -> Result<File> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(path)
        .with_context(|| {
            format!(
                "cannot open the daemon log {} (it must be a file of yours, not a symlink)",
                path.display()
            )
        })?;
    let meta = log.metadata()?;
    let me = legate_engine::trust::me();
    if meta.uid() != me {
        bail!(
            "the daemon log {} is owned by uid {}, not by you (uid {me}); remove it and run legate again",
            path.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o077 != 0 {
        log.set_permissions(Permissions::from_mode(0o600))?;
    }
    Ok(log)
}

/// Waits for the store's daemon to answer, or reports why the daemon died.
async fn wait_ready(paths: &Paths, started: Started) -> Result<()> {
    let Started {
        mut child,
        log_from,
    } = started;
    let deadline = Instant::now() + START_DEADLINE;
    let mut exited_ok = false;
    loop {
        if reachable(paths).await?.is_some() {
            return Ok(());
        }
        if !exited_ok && let Some(status) = child.try_wait()? {
            if status.code() == Some(ALREADY_RUNNING) {
                // Another starter's daemon won the lock; its socket is coming, unless
                // something stands in its way.
                if let Some(why) = lock_holder(paths)
                    .and_then(|(pid, socket)| socket_blocked(paths, pid, socket.as_path()))
                {
                    bail!("{why}");
                }
                exited_ok = true;
            } else {
                bail!(
                    "the legate daemon failed to start:\n{}",
                    last_lines(&paths.daemon_log, log_from, 8)
                );
            }
        }
        if Instant::now() >= deadline {
            if let Some(why) = unreachable_daemon(paths) {
                bail!("{why}");
            }
            bail!(
                "the legate daemon did not come up within {}s; see {}",
                START_DEADLINE.as_secs(),
                paths.daemon_log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The daemon that holds this store's lock, when it is alive: the pid and socket the lock
/// file names, that process holding the file open (so a reused pid is not mistaken for it).
pub fn lock_holder(paths: &Paths) -> Option<(i32, PathBuf)> {
    let (pid, socket) = crate::daemon::lock::recorded(&paths.lock)?;
    let lock = std::fs::canonicalize(&paths.lock).ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == lock))
        .then_some((pid, socket))
}

/// What stands at the live daemon's socket path (its own or this environment's) when it is
/// something the daemon cannot listen on (a directory), said with the daemon's pid.
fn socket_blocked(paths: &Paths, pid: i32, socket: &Path) -> Option<String> {
    [socket, paths.socket.as_path()]
        .into_iter()
        .find_map(crate::daemon::socket::in_the_way)
        .map(|what| cannot_reach(pid, &what))
}

/// Why the store's daemon, alive and holding its lock, cannot be reached: a sentence naming
/// it and what to do. `None` when no daemon holds the lock.
pub fn unreachable_daemon(paths: &Paths) -> Option<String> {
    let (pid, socket) = lock_holder(paths)?;
    socket_blocked(paths, pid, &socket).or_else(|| {
        Some(cannot_reach(
            pid,
            &format!(
                "nothing answers at its socket {}; it makes its socket again within {} s of its \
                 removal — if it does not, see {}, or stop it with `kill {pid}` (its running \
                 tasks are then interrupted)",
                socket.display(),
                crate::daemon::socket::CHECK_EVERY.as_secs(),
                paths.daemon_log.display()
            ),
        ))
    })
}

fn cannot_reach(pid: i32, what: &str) -> String {
    format!("the legate daemon of this store (pid {pid}) is running but cannot be reached: {what}")
}

/// The last `n` lines the daemon log got from byte `from` on (this start's), or a sentence
/// saying it got none.
fn last_lines(path: &Path, from: u64, n: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut bytes = Vec::new();
    let read = File::open(path).and_then(|mut f| {
        f.seek(SeekFrom::Start(from))
            .and_then(|_| f.read_to_end(&mut bytes))
    });
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    if read.is_err() || lines.is_empty() {
        return format!("(it wrote nothing to {})", path.display());
    }
    lines[lines.len().saturating_sub(n)..].join("\n")
}
