//! legate's HTTP/JSON API: the one way in for every frontend.
//!
//! [`server`] serves the engine's [`legate_engine::Service`] over a Unix socket with versioned
//! routes (`/v1/...`) and errors shaped `{code, message, hint}`; [`client::Client`] is what the
//! CLI, the hooks and the MCP adapter use to talk to it, one typed method per route. Both use
//! the request and response types of [`legate_domain::api`] and one table of routes, so they
//! cannot disagree.

pub mod client;
mod error;
pub mod events;
mod routes;
pub mod server;

pub use client::{Client, ClientError, LogRead, Starter};
pub use events::EventFeed;
