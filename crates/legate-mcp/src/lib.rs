//! legate's MCP server: delegation tools for every MCP host.
//!
//! A thin adapter: every tool call becomes calls to the legate daemon's API through
//! [`legate_api::Client`], so delegated tasks belong to the daemon and outlive this process,
//! the host, and their restarts. [`LegateMcp`] serves stdio (`legate mcp`) and, through
//! [`http::router`], streamable HTTP (`legate serve`). Every response carries the tasks of the
//! caller's origin that finished since its previous call ([`origin`] decides whose); the
//! `delegate` tool also runs as an MCP task for clients that negotiate the tasks extension.

// Tools answer failures as `CallToolResult`, the return shape rmcp's `#[tool]` expects; it is
// large, and boxing it would only add a conversion at every tool.
#![allow(clippy::result_large_err)]

pub mod http;
pub mod origin;
pub mod repeat;
mod resources;
pub mod schema;
mod server;
pub mod shapes;
mod tasks_ext;
mod tools;
mod view;
mod waiting;

pub use origin::Origin;

/// The longest a legate tool waits within one call, in seconds (`task_wait`, `task_result`
/// with `wait_secs`, `delegate` with `wait`): hosts must allow tool calls at least this long.
pub const LONGEST_WAIT_SECS: u64 = tools::MAX_WAIT_SECS;
pub use server::LegateMcp;
