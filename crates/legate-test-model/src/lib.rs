//! `legate-test-model`: a scripted model server on 127.0.0.1 that speaks the OpenAI Chat
//! Completions and Responses APIs, the Anthropic Messages API and the Gemini API.
//!
//! legate's tests run real agent CLIs and MCP hosts (`opencode`, `gemini`, `claude`, `codex`,
//! `hermes`) against it, so they need no API key and no network. Start one with
//! [`ModelServer::start`] from plain synchronous test code, point the agent's OpenAI-compatible
//! provider at [`ModelServer::base_url`] (or Gemini CLI at [`ModelServer::gemini_base_url`],
//! Claude Code at `http://` + [`ModelServer::addr`]), and read back what the agent sent with
//! [`ModelServer::requests`], or with [`ModelServer::received`] every request with its path and
//! arrival time ([`ModelServer::first_containing`] finds when a text first reached the model).
//!
//! # Endpoints
//!
//! - `POST /v1/chat/completions`: OpenAI Chat Completions, streamed as server-sent events when
//!   the body has `"stream": true` (`data: {chunk}` lines, then `data: [DONE]`; the last chunk
//!   carries `usage`), else one JSON object. A tool call is a `tool_calls` entry (finish reason
//!   `tool_calls`); a tool's result comes back as a `tool` message.
//! - `GET /v1/models`: lists the single model `m`.
//! - `POST /v1/responses`: OpenAI Responses, as Codex calls it. Streamed when the body has
//!   `"stream": true` as named server-sent events (`response.created`,
//!   `response.output_item.added`, `response.output_text.delta`…, `response.output_item.done`,
//!   `response.completed` with `usage`), else one response object. A tool call is a
//!   `function_call` output item (`call_id`, `name`, `arguments` as a JSON string; a function of
//!   a `namespace` tool, as Codex offers MCP tools, is named by `namespace` and `name`); a
//!   tool's result comes back as a `function_call_output` input item.
//! - `POST /v1/messages` (Claude Code adds `?beta=true`): Anthropic Messages. Streamed when the
//!   body has `"stream": true` as named server-sent events (`message_start`,
//!   `content_block_start`/`_delta`/`_stop` with `text_delta` or `input_json_delta`,
//!   `message_delta` with the `stop_reason` `end_turn` or `tool_use` and `usage`,
//!   `message_stop`), else one message. A tool call is a `tool_use` content block; a tool's
//!   result comes back as a `tool_result` block of a user message.
//!   `POST /v1/messages/count_tokens` answers `{"input_tokens": N}`.
//! - `POST /v1beta/models/{model}:generateContent` and `…:streamGenerateContent?alt=sse`: the
//!   Gemini API (`contents[].parts[].text` in; `candidates[].content.parts[]`, `finishReason`
//!   and `usageMetadata` out), the second as server-sent events (`data: {response}` lines, the
//!   last one with `finishReason: STOP` and `usageMetadata`). A tool call is a `functionCall`
//!   part; a tool's result comes back as a `functionResponse` part.
//!
//! Every route reads its request into the same terms and answers by the same script; only the
//! wire format differs. A request to any other path is recorded (see [`ModelServer::received`])
//! and answered 404: hosts probe for endpoints of their own (Hermes looks for `/api/tags`,
//! `/props`, `/version`…) and carry on.
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
//! Deferred tools: Claude Code offers MCP tools by name only, listed in a system text ("The
//! following deferred tools are now available via ToolSearch…"), and loads one when the model
//! calls its `ToolSearch` tool. When `CALL <name>` matches no offered tool but a deferred one,
//! the answer is a call of `ToolSearch` with `{"query": "select:<full name>", "max_results": 1}`;
//! the request that brings its result back (the tool now offered) gets the call the user asked
//! for, so one `CALL` line works whether or not the host defers its tools.
//!
//! Side requests that an agent makes for itself (a request whose system prompt asks for a
//! title; a Gemini request asking for a JSON answer; an Anthropic request offering no tools,
//! as Claude Code's titles, topic and quota checks do) get the plain text `scripted title` at
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
//!
//! # Running Claude Code against it
//!
//! `scripts/install-test-agents claude` installs the pinned `claude` (2.1.328). Give it a fresh
//! `HOME` whose `.claude.json` holds `{"hasCompletedOnboarding": true}`; set
//! `ANTHROPIC_BASE_URL` to `http://` + [`ModelServer::addr`] (it appends `/v1/messages`) and
//! `ANTHROPIC_API_KEY` to any value. `claude -p PROMPT --mcp-config FILE --allowedTools
//! mcp__SERVER` runs headless with an MCP server's tools allowed; their names are
//! `mcp__SERVER__TOOL`, deferred (see the script). The user's words are its text blocks
//! without the `<system-reminder>` ones Claude Code adds.
//!
//! # Running Codex against it
//!
//! `scripts/install-test-agents codex` installs the pinned `codex` (0.169.0). Give it a fresh
//! `HOME` whose `.codex/config.toml` sets `model = "m"`, `model_provider = "scripted"`,
//! `check_for_update_on_startup = false` and `[model_providers.scripted]` with
//! `base_url` = [`ModelServer::base_url`] and `wire_api = "responses"`; run
//! `codex exec --skip-git-repo-check --json PROMPT`. It warns that it has no metadata for the
//! model `m` and goes on. MCP tools are offered as functions of the namespace `mcp__SERVER`,
//! so a `CALL` sees them as `mcp__SERVER__TOOL`. Codex sends its own context
//! (`<environment_context>`, skills, `AGENTS.md`) as user messages; [`user_texts`] leaves them
//! out.
//!
//! # Running Hermes against it
//!
//! `scripts/install-test-agents hermes` installs the pinned `hermes-agent[mcp]` (0.19.0) in a
//! virtual environment and prints its `hermes`. Give it a fresh `HOME` whose
//! `.hermes/config.yaml` holds `model: {provider: custom, base_url: BASE_URL, default: m}`
//! ([`ModelServer::base_url`]) and run `hermes -z PROMPT`. It speaks chat completions; its MCP
//! tools are named `mcp__SERVER__TOOL`, beside its own tools (among them `delegate_task`: name
//! a tool in a `CALL` by a part no other tool has).

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
/// parts are joined with `\n`), a Gemini `generateContent` request (`contents`; the last
/// text part of each `user` content, which is the user's own, contents holding only tool results
/// left out), an OpenAI Responses request (`input`; the `input_text` parts of user messages,
/// Codex's own context left out) or an Anthropic Messages request (told apart from a chat
/// completion by its top-level `system`; text blocks of user messages, Claude
/// Code's `<system-reminder>` blocks and what follows a tool's result left out).
///
/// Exists so that tests can check what an agent sent (for instance that a resumed session
/// carried its first prompt) without knowing the wire formats.
pub fn user_texts(body: &serde_json::Value) -> Vec<String> {
    if body.get("contents").is_some() {
        gemini::user_texts(body)
    } else if body.get("input").is_some() {
        responses::user_texts(body)
    } else if body.get("system").is_some() {
        anthropic::user_texts(body)
    } else {
        openai::user_texts(body)
    }
}
