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

fn main() {
    let cli = usage::parse();
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) if out::is_closed_pipe(&e) => out::CLOSED_PIPE,
        Err(e) => {
            exit::report(&e);
            exit::for_error(&e)
        }
    };
    std::process::exit(code);
}
