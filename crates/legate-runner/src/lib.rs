//! legate's runners: they turn a claimed task into an agent process and its outcome.
//!
//! The exec runner starts the agent's argv (never through a shell) in its own process group
//! with no stdin unless the prompt goes there, captures stdout and stderr into capped log files,
//! enforces the timeout, honours cancel, and ends the whole process tree (TERM, grace, KILL)
//! after every end of a run — in a cgroup of the task's own where the machine allows
//! ([`cgroup`], [`tree`]). [`tree::kill_leftovers`] ends what a crashed daemon left without
//! touching unrelated processes that reused a pid. [`bounds`] keeps what a run holds in memory
//! bounded whatever the agent prints. Both runners write the logs through one sink (the cap
//! policy, log-write failures) and build the outcome through one finish.

pub mod acp;
pub mod bounds;
mod capture;
pub mod cgroup;
mod command;
pub mod environment;
pub mod exec;
mod lines;
pub mod log;
mod notes;
mod outcome;
pub mod parse;
pub mod procfs;
mod run;
mod sink;
pub mod stderr_tail;
pub mod tree;
pub mod version;

pub use capture::{LatestOutput, TAIL_KEEP};
pub use exec::{RunSettings, Spawned, StopReason};
pub use parse::{OutputParser, Parsed, PlainParser};
pub use run::{AgentRun, RunNote, start};
