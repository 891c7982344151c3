//! The few libc calls the fake agent needs: signal dispositions, the signal mask, the core
//! size limit and `raise`.
// These are foreign calls and the crate may depend on `libc` only (no safe wrapper such as
// `nix`), so this module, and only this module, allows `unsafe`. Each call only changes the
// calling process's own signal state or limits and has no memory-safety preconditions.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::Command;

/// The signals `signal NAME` knows, by name without the `SIG` prefix.
pub fn signal_by_name(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "TERM" => libc::SIGTERM,
        "KILL" => libc::SIGKILL,
        "SEGV" => libc::SIGSEGV,
        "ABRT" => libc::SIGABRT,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        _ => return None,
    })
}

/// Ignores SIGTERM from now on (`ignore-term`).
pub fn ignore_term() {
    // SAFETY: setting a disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
}

/// Puts SIGTERM back to its default action, whatever disposition the parent passed down.
pub fn default_term() {
    // SAFETY: setting a disposition to SIG_DFL has no preconditions.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
    }
}

/// Makes the process `cmd` starts ignore SIGTERM from its very first instruction (an ignored
/// disposition survives `exec`), so a TERM sent right after spawning cannot slip in before
/// the grandchild's own `ignore_term`.
pub fn ignore_term_in_child(cmd: &mut Command) {
    // SAFETY: the hook runs between fork and exec and calls only signal(), which is
    // async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            Ok(())
        });
    }
}

/// Sends `sig` to this process so that it takes effect at once: a handler the Rust runtime
/// installed (SEGV) is reset to the default, the signal is unblocked, and no core file is
/// written. An ignored SIGTERM (after `ignore-term`) stays ignored and this returns.
pub fn raise(sig: libc::c_int) {
    // SAFETY: every call below only changes this process's own signal state and core limit;
    // the sigset is a local, initialised by sigemptyset before use.
    unsafe {
        if sig != libc::SIGTERM && sig != libc::SIGKILL {
            libc::signal(sig, libc::SIG_DFL);
        }
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
}
