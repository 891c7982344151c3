//! The two signal calls the fake agent needs.
// libc's signal functions are foreign calls; there is no safe wrapper in the crates this
// test binary depends on, and these two calls are trivially sound.
#![allow(unsafe_code)]

/// Ignores SIGTERM from now on.
pub fn ignore_term() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
}

/// Sends the named signal to this process.
pub fn raise(name: &str) {
    let sig = match name {
        "TERM" => libc::SIGTERM,
        "KILL" => libc::SIGKILL,
        "SEGV" => libc::SIGSEGV,
        "ABRT" => libc::SIGABRT,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        other => {
            eprintln!("fake-agent: unknown signal '{other}'");
            std::process::exit(2);
        }
    };
    // The Rust runtime handles SEGV itself (stack overflow detection) and would swallow a
    // raised one: restore the default action first, unless the script chose to ignore TERM.
    // SAFETY: resetting a disposition and raise() only affect the calling process.
    unsafe {
        if sig != libc::SIGTERM {
            libc::signal(sig, libc::SIG_DFL);
        }
        libc::raise(sig);
    }
    // A signal that does not end the process (e.g. an ignored TERM) lets the script go on.
}
