//! Every byte the CLI writes to stdout and stderr goes through here (clippy forbids the
//! `print!` family elsewhere in the crate). A reader that went away (`legate ls | head -1`)
//! ends the command quietly with exit code [`CLOSED_PIPE`], as a program killed by SIGPIPE
//! reports in the shell (what `tsp`, `ls` or `cat` do); any other write failure (a full disk
//! behind a redirection) ends it with a message and exit code 1. Nothing panics.

use std::fmt;
use std::io::{self, Write};

/// The exit code after the reader of stdout or stderr went away: 128 + SIGPIPE, as the shell
/// reports a program the signal ended.
pub const CLOSED_PIPE: i32 = 141;

/// Writes formatted text to stdout (`outln!`/`out!` call this).
pub fn stdout(args: fmt::Arguments<'_>) {
    let mut o = io::stdout().lock();
    let r = o.write_fmt(args).and_then(|()| o.flush());
    checked(r, "stdout");
}

/// Writes formatted text to stderr (`errln!`/`err!` call this).
pub fn stderr(args: fmt::Arguments<'_>) {
    let r = io::stderr().lock().write_fmt(args);
    checked(r, "stderr");
}

/// Passes a write's result through, ending the process on a closed pipe (quietly) or on any
/// other failure (saying so): for code that writes to stdout through a [`Write`].
pub fn checked<T>(r: io::Result<T>, stream: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => gone(&e, stream),
    }
}

/// Ends the process after a failed write to `stream`.
pub fn gone(e: &io::Error, stream: &str) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_PIPE);
    }
    if stream != "stderr" {
        let _ = writeln!(io::stderr(), "error: cannot write to {stream}: {e}");
    }
    std::process::exit(crate::exit::ERROR)
}

/// Whether `e` (anywhere in its chain) is a write to a reader that went away.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `println!` for the CLI: a closed stdout ends the command quietly.
macro_rules! outln {
    () => { crate::out::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { crate::out::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for the CLI: a closed stdout ends the command quietly.
macro_rules! out {
    ($($arg:tt)*) => { crate::out::stdout(format_args!($($arg)*)) };
}

/// `eprintln!` for the CLI: a closed stderr ends the command quietly.
macro_rules! errln {
    ($($arg:tt)*) => { crate::out::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` for the CLI: a closed stderr ends the command quietly.
macro_rules! err {
    ($($arg:tt)*) => { crate::out::stderr(format_args!($($arg)*)) };
}

/// Resolves when stdout's reader has gone away (the read end of a pipe closed, a terminal hung
/// up), so a follower that may print nothing for hours notices at once rather than at its
/// next write; never resolves for a file or `/dev/null`. The watch runs on a thread of its own
/// (blocked in `poll(2)` asking for no events, so only POLLERR/POLLHUP wake it), which ends with
/// the process.
pub async fn stdout_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watch = std::thread::Builder::new()
        .name("stdout-watch".into())
        .spawn(move || {
            if reader_gone() {
                let _ = tx.send(());
            }
        });
    if watch.is_err() || rx.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Blocks until stdout reports an error or hang-up (true), or polling it fails (false).
fn reader_gone() -> bool {
    use nix::errno::Errno;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let stdout = io::stdout();
    loop {
        let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let gone = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
                if fds[0].revents().is_some_and(|r| r.intersects(gone)) {
                    return true;
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}
