//! `legate`: delegate tasks to agents in the background, then follow, wait for, cancel and
//! collect them. `main` owns the exit code; everything else returns errors.

mod cli;
mod commands;
mod connect;
mod daemon;
mod exit;
mod json_out;
mod paths;
mod render;
mod token;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            exit::report(&e);
            exit::for_error(&e)
        }
    };
    std::process::exit(code);
}
