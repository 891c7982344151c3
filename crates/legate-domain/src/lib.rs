//! legate's domain: the words every other crate speaks.
//!
//! Task ids, tasks and their status machine, events, agent definitions, the configuration
//! model and the request/response shapes of the API. Nothing here does I/O: the clock, the
//! disk and the network belong to the store, runner, engine and frontends, so these types can
//! be tested exhaustively and shared by the daemon and every client.

pub mod agent;
mod agent_config;
pub mod api;
pub mod argv;
pub mod config;
#[cfg(test)]
mod config_positions;
mod config_spans;
pub mod delegation;
pub mod env;
pub mod event;
pub mod id;
mod names;
pub mod notify;
pub mod presets;
pub mod redact;
pub mod sections;
pub mod size;
pub mod status;
pub mod task;
pub mod terminal;
pub mod time;
pub mod worktree;

pub use agent::{
    AgentKind, AgentSpec, OutputCapPolicy, OutputFormat, PermissionPolicy, PromptMode, StallPolicy,
};
pub use config::{Config, ConfigError, Limits};
pub use delegation::{Delegation, DelegationError};
pub use env::TaskEnv;
pub use event::{Event, EventFilter, EventKind};
pub use id::{IdError, TaskId};
pub use notify::{NotifySettings, NotifyTarget};
pub use redact::redact_url;
pub use sections::{HookSettings, McpSettings, Retention};
pub use status::{Status, TransitionError};
pub use task::{ErrorKind, NewTask, Outcome, ProcessInfo, Task, TaskError};
pub use time::Timestamp;
pub use worktree::{Isolation, Worktree, WorktreeState};
