//! `legate-test-model`: a scripted model server on 127.0.0.1 that speaks the OpenAI Chat
//! Completions API and the Gemini API.
//!
//! legate's tests run real agent CLIs (`opencode`, `gemini`) against it, so they need no API
//! key and no network. Start one with [`ModelServer::start`] from plain synchronous test code,
//! point the agent's OpenAI-compatible provider at [`ModelServer::base_url`] (or Gemini CLI at
//! [`ModelServer::gemini_base_url`]), and read back what the agent sent with
//! [`ModelServer::requests`].
//!
//! # Endpoints
//!
//! - `POST /v1/chat/completions`: OpenAI Chat Completions, streamed as server-sent events when
//!   the body has `"stream": true` (`data: {chunk}` lines, then `data: [DONE]`; the last chunk
//!   carries `usage`), else one JSON object. A tool call is a `tool_calls` entry (finish reason
//!   `tool_calls`); a tool's result comes back as a `tool` message.
//! - `GET /v1/models`: lists the single model `m`.
//! - `POST /v1beta/models/{model}:generateContent` and `…:streamGenerateContent?alt=sse`: the
//!   Gemini API (`contents[].parts[].text` in; `candidates[].content.parts[]`, `finishReason`
//!   and `usageMetadata` out), the second as server-sent events (`data: {response}` lines, the
//!   last one with `finishReason: STOP` and `usageMetadata`). A tool call is a `functionCall`
//!   part; a tool's result comes back as a `functionResponse` part.
//!
//! Every route reads its request into the same terms and answers by the same script; only the
//! wire format differs.
//!
//! # Script
//!
//! The answer is decided by the text of the last user message (see [`user_texts`]):
//!
//! | the text contains | the answer |
//! |---|---|
//! | nothing below | `turn N: LAST | earlier: E1 / E2 / …`, N being the number of user messages |
//! | `RATE_LIMIT` | HTTP 429: OpenAI's `rate_limit_error` body with `retry-after-ms: 0`, or Gemini's `RESOURCE_EXHAUSTED` error for a daily quota (which Gemini CLI does not retry) |
//! | `SLOW<n>` (e.g. `SLOW3`) | the same answer, after waiting n seconds |
//! | `STREAM<n>` | the same answer, streamed in n content chunks 50 ms apart |
//! | `CALL <name> <json-args>` | a call of the first offered tool whose name contains `<name>`, with the JSON object `<json-args>` (a reply saying what is wrong when no tool matches or the arguments are not an object) |
//!
//! A request whose conversation ends with a tool's result is answered `SAW: <result>` (its first
//! 300 characters) instead, so a test can see what reached the model.
//!
//! Side requests that an agent makes for itself (a request whose system prompt asks for a
//! title; a Gemini request asking for a JSON answer) get the plain text `scripted title` at
//! once, whatever the user text says, so that they never fail, wait or disturb the script.
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
//!
//! # Running Gemini CLI against it
//!
//! `scripts/install-test-agents gemini` installs the pinned `gemini` (0.61.0) and prints its
//! path. Give it a fresh `HOME` whose `.gemini/settings.json` holds
//! `{"security": {"auth": {"selectedType": "gemini-api-key"}}}`; set `GEMINI_API_KEY` (any
//! value) and `GOOGLE_GEMINI_BASE_URL` to [`ModelServer::gemini_base_url`]; and name a model
//! (`--model gemini-2.5-flash`): without one, Gemini CLI first asks a classifier model, which
//! expects JSON. Headless runs need a trusted folder (`GEMINI_CLI_TRUST_WORKSPACE=true`). The
//! user's prompt is the last text part of a user content; Gemini CLI puts its own
//! `<session_context>` in the parts before it.

mod anthropic;
mod gemini;
mod openai;
mod responses;
mod routes;
mod script;
mod server;

pub use server::{ModelServer, Received};

/// The text of every user message of a request body the server received, in order: an OpenAI
/// chat completion (`messages`; a message's `content` is a string, or parts whose `type: "text"`
/// parts are joined with `\n`) or a Gemini `generateContent` request (`contents`; the last
/// text part of each `user` content, which is the user's own, contents holding only tool results
/// left out).
///
/// Exists so that tests can check what an agent sent (for instance that a resumed session
/// carried its first prompt) without knowing the wire formats.
pub fn user_texts(body: &serde_json::Value) -> Vec<String> {
    if body.get("contents").is_some() {
        gemini::user_texts(body)
    } else if body.get("input").is_some() {
        responses::user_texts(body)
    } else if body.get("system").is_some() || !body["max_tokens"].is_null() {
        anthropic::user_texts(body)
    } else {
        openai::user_texts(body)
    }
}
