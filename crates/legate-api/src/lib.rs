//! legate's HTTP/JSON API: the one way in for every frontend.
//!
//! [`server`] serves the engine's [`legate_engine::Service`] over a Unix socket with versioned
//! routes (`/v1/...`) and errors shaped `{code, message, hint}`; [`client::Client`] is what the
//! CLI (and later the MCP adapter) uses to talk to it. Both use the request and response types
//! of [`legate_domain::api`], so they cannot disagree.

mod calls;
pub mod client;
mod error;
pub mod events;
pub mod server;

pub use calls::LogRead;
pub use client::{Client, ClientError, Starter};
pub use events::EventFeed;
