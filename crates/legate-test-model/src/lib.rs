//! `legate-test-model`: a scripted OpenAI-compatible model server on 127.0.0.1.
//!
//! legate's tests run real agent CLIs (such as `opencode`) against it, so they need no API key
//! and no network. Start one with [`ModelServer::start`] from plain synchronous test code, point
//! the agent's OpenAI-compatible provider at [`ModelServer::base_url`], and read back what the
//! agent sent with [`ModelServer::requests`].
//!
//! # Endpoints
//!
//! - `POST /v1/chat/completions`: OpenAI Chat Completions, streamed as server-sent events when
//!   the body has `"stream": true` (`data: {chunk}` lines, then `data: [DONE]`; the last chunk
//!   carries `usage`), else one JSON object. `tools` are ignored: the model never calls one.
//! - `GET /v1/models`: lists the single model `m`.
//!
//! # Script
//!
//! The answer is decided by the text of the last user message (see [`user_texts`]):
//!
//! | the text contains | the answer |
//! |---|---|
//! | nothing below | `turn N: LAST | earlier: E1 / E2 / …`, N being the number of user messages |
//! | `RATE_LIMIT` | HTTP 429 with an OpenAI-style `rate_limit_error` body and `retry-after-ms: 0` |
//! | `SLOW<n>` (e.g. `SLOW3`) | the same answer, after waiting n seconds |
//! | `STREAM<n>` | the same answer, streamed in n content chunks 50 ms apart |
//!
//! Side requests that an agent makes for itself (a request whose system prompt asks for a
//! title) get the plain text `scripted title` at once, whatever the user text says, so that
//! they never fail, wait or disturb the script.
//!
//! # Running opencode against it
//!
//! `scripts/install-test-agents` installs the pinned `opencode` and prints its path. Give it a
//! fresh `HOME`; seed `$HOME/.config/opencode/` with an empty `node_modules/`, a `package.json`
//! `{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}` and a `package-lock.json`
//! `{"lockfileVersion":3,"packages":{"":{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}}}`
//! (else opencode installs that package from npm in the background at every start); point
//! `OPENCODE_CONFIG` at a file holding `"autoupdate": false`, `"share": "disabled"`,
//! `"model": "scripted/m"`, `"small_model": "scripted/m"` and the provider `scripted` with
//! `"npm": "@ai-sdk/openai-compatible"`, `"options": {"baseURL": BASE_URL, "apiKey": "x"}` and
//! `"models": {"m": {"name": "m"}}`; and set `OPENCODE_DISABLE_AUTOUPDATE=1`,
//! `OPENCODE_DISABLE_SHARE=1`, `OPENCODE_DISABLE_MODELS_FETCH=1` and
//! `OPENCODE_DISABLE_LSP_DOWNLOAD=1`. `samples/` holds what opencode 1.18.33 printed so.

mod openai;
mod routes;
mod script;
mod server;

pub use script::user_texts;
pub use server::ModelServer;
