//! legate's runners: they turn a claimed task into an agent process and its outcome.
//!
//! The exec runner starts the agent's argv (never through a shell) in its own process group
//! with no stdin unless the prompt goes there, captures stdout and stderr into capped log files,
//! enforces the timeout, honours cancel, and ends the whole process tree (TERM, grace, KILL).
//! [`procfs`] finds and kills leftovers of a crashed daemon without touching unrelated
//! processes that reused a pid.

pub mod acp;
mod capture;
mod command;
pub mod environment;
pub mod exec;
mod lines;
pub mod log;
pub mod parse;
pub mod procfs;
mod run;
pub mod version;

pub use capture::{LatestOutput, TAIL_KEEP};
pub use exec::{RunSettings, Spawned, StopReason};
pub use parse::{OutputParser, Parsed, PlainParser};
pub use run::{AgentRun, RunNote, start};
