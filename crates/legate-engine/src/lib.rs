//! legate's engine: everything between the API and the store.
//!
//! [`Service`] is the one facade every frontend calls (through the API server). It validates
//! requests, writes through the store, and publishes each committed event on the [`EventBus`].
//! The scheduler claims queued tasks within the caps whenever a submit or a task end wakes it;
//! a supervisor runs each claimed task through the runner and records its outcome. Recovery
//! at start takes back what a crashed daemon left running.

mod activity;
mod agents;
mod bus;
mod commit;
mod config_source;
mod drain;
mod error;
mod follow;
pub mod followup;
mod inbox;
mod intake;
mod lineage;
mod logs;
mod notify;
mod queue;
mod recovery;
mod retention;
mod scheduler;
mod service;
mod shared;
mod submit;
mod supervisor;
pub mod trust;
mod wait;
mod worktree;

pub use agents::Versions;
pub use bus::EventBus;
pub use config_source::{ConfigSource, load as load_config};
pub use error::{EngineError, ServiceError};
pub use follow::Follower;
pub use legate_store::OutputTail;
pub use lineage::Caller;
pub use logs::{LogSource, LogStream};
pub use service::{DEFAULT_EVENT_BUFFER, EngineSettings, Service, WorkSettings};
