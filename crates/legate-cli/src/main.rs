//! `legate`: delegate tasks to agents in the background, then follow, wait for, cancel and
//! collect them. `main` owns the exit code; everything else returns errors.
#![deny(clippy::print_stdout, clippy::print_stderr)]

// First, so its macros (`outln!`, `errln!`…) are in scope in every module after it.
#[macro_use]
mod out;

mod cli;
mod columns;
mod commands;
mod connect;
mod daemon;
mod exit;
mod json_out;
mod paths;
mod render;
mod setup;
mod token;
mod usage;

/// The stack legate's work runs on. A small `ulimit -s` with a large environment above it
/// leaves the main thread too little for clap's command building and the engine's futures
/// (in debug builds most of all); a thread of its own gets this whatever the limit.
const STACK_BYTES: usize = 16 << 20;

fn main() {
    let code = match std::thread::Builder::new()
        .name("legate".into())
        .stack_size(STACK_BYTES)
        .spawn(run)
    {
        // A panic was reported where it happened; exit as Rust's default hook would.
        Ok(work) => work.join().unwrap_or(101),
        Err(_) => run(),
    };
    std::process::exit(code);
}

/// Parses the command line, runs the command, and returns the exit code.
fn run() -> i32 {
    let cli = usage::parse();
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) if out::is_closed_pipe(&e) => out::CLOSED_PIPE,
        Err(e) => {
            exit::report(&e);
            exit::for_error(&e)
        }
    }
}
