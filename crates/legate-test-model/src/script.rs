//! The deterministic script: what the scripted model answers to one request, whatever wire
//! format (OpenAI chat completions, Gemini `generateContent`) carried it. Each wire format
//! reads its request into an [`Exchange`] and renders the [`Plan`]; only this module decides.

use serde_json::Value;
use std::time::Duration;

/// What the script needs to know of one request, read from its wire format.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Exchange {
    /// The text of every user message, in order (tool results are not user messages).
    pub users: Vec<String>,
    /// The text of the tool result the conversation ends with, when it ends with one.
    pub tool_result: Option<String>,
    /// The name of the tool that gave that result, when the wire format tells.
    pub result_of: Option<String>,
    /// The names of the tools offered to the model.
    pub tools: Vec<String>,
    /// The names of the tools the agent lists as deferred: offered by name only, to be loaded
    /// with the [`LOADER`] tool before their first use (Claude Code lists its MCP tools so).
    pub deferred: Vec<String>,
    /// Whether the agent makes this request for itself (a title, a check) rather than for the
    /// user's turn.
    pub side: bool,
}

/// What to answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Reply with this assistant text.
    Reply(String),
    /// Answer with a rate limit error (HTTP 429).
    RateLimit,
    /// Call the offered tool `name` with the JSON object `args`.
    Call { name: String, args: Value },
}

/// The whole decision for one request: the outcome, how long to wait first, and in how many
/// content chunks to stream a reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub outcome: Outcome,
    pub delay: Duration,
    pub chunks: usize,
}

/// How many characters of a tool result a `SAW:` reply repeats.
const SAW_CHARS: usize = 300;

/// The tool that loads deferred tools (Claude Code's): called with
/// `{"query": "select:NAME", "max_results": 1}`, its result makes `NAME` an offered tool.
pub(crate) const LOADER: &str = "ToolSearch";

/// Decides the answer to `exchange` by the script described in the crate documentation.
pub(crate) fn decide(exchange: &Exchange) -> Plan {
    let plan = |outcome| Plan {
        outcome,
        delay: Duration::ZERO,
        chunks: 1,
    };
    if exchange.side {
        return plan(Outcome::Reply("scripted title".into()));
    }
    // A loader's result is no answer yet: the user's call goes on with the tool it loaded.
    let loaded = exchange.result_of.as_deref() == Some(LOADER);
    if let Some(result) = exchange.tool_result.as_ref().filter(|_| !loaded) {
        let start: String = result.chars().take(SAW_CHARS).collect();
        return plan(Outcome::Reply(format!("SAW: {start}")));
    }
    let users = &exchange.users;
    let last = users.last().cloned().unwrap_or_default();
    let earlier = users[..users.len().saturating_sub(1)].join(" / ");
    let outcome = if last.contains("RATE_LIMIT") {
        Outcome::RateLimit
    } else if let Some(call) = last.split_once("CALL ").map(|(_, rest)| rest) {
        tool_call(call, exchange, !loaded)
    } else {
        Outcome::Reply(format!("turn {}: {last} | earlier: {earlier}", users.len()))
    };
    let delay = Duration::from_secs(number_after(&last, "SLOW").unwrap_or(0));
    let chunks = number_after(&last, "STREAM").map_or(1, |n| n.max(1) as usize);
    Plan {
        outcome,
        delay,
        chunks,
    }
}

/// The call asked for by `spec` (`<tool-substring> <json-args>`): the first offered tool whose
/// name contains the substring, with the arguments; when only a deferred tool matches and `load`
/// holds, a call of the [`LOADER`] that loads it; a reply saying what is wrong otherwise.
fn tool_call(spec: &str, exchange: &Exchange, load: bool) -> Outcome {
    let tools = &exchange.tools;
    let (wanted, args) = spec.trim().split_once(' ').unwrap_or((spec.trim(), "{}"));
    let Some(name) = tools.iter().find(|t| t.contains(wanted)) else {
        let deferred = exchange.deferred.iter().find(|t| t.contains(wanted));
        if let Some(deferred) = deferred.filter(|_| load && tools.iter().any(|t| t == LOADER)) {
            return Outcome::Call {
                name: LOADER.into(),
                args: serde_json::json!({"query": format!("select:{deferred}"), "max_results": 1}),
            };
        }
        return Outcome::Reply(format!(
            "no offered tool contains '{wanted}'; offered: {}",
            tools.join(", ")
        ));
    };
    match serde_json::from_str::<Value>(args.trim()) {
        Ok(args @ Value::Object(_)) => Outcome::Call {
            name: name.clone(),
            args,
        },
        _ => Outcome::Reply(format!(
            "the arguments after CALL {wanted} are not a JSON object: {args}"
        )),
    }
}

/// The decimal number written right after the first `marker` in `text`, if any.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `text` cut into `n` pieces of nearly equal length in characters (fewer when it is shorter).
pub(crate) fn split(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The number of whitespace-separated words in every string inside `value`.
pub(crate) fn count_words(value: &Value) -> usize {
    match value {
        Value::String(s) => s.split_whitespace().count(),
        Value::Array(items) => items.iter().map(count_words).sum(),
        Value::Object(map) => map.values().map(count_words).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn users(texts: &[&str]) -> Exchange {
        Exchange {
            users: texts.iter().map(|t| t.to_string()).collect(),
            ..Exchange::default()
        }
    }

    #[test]
    fn default_reply_counts_turns_and_lists_earlier_prompts() {
        let plan = decide(&users(&["first", "second", "third"]));
        let want = "turn 3: third | earlier: first / second";
        assert_eq!(plan.outcome, Outcome::Reply(want.into()));
        assert_eq!((plan.delay, plan.chunks), (Duration::ZERO, 1));
    }

    #[test]
    fn markers_set_rate_limit_delay_and_chunks() {
        assert_eq!(
            decide(&users(&["x RATE_LIMIT"])).outcome,
            Outcome::RateLimit
        );
        let plan = decide(&users(&["SLOW2 and STREAM4"]));
        assert_eq!((plan.delay, plan.chunks), (Duration::from_secs(2), 4));
        assert_eq!(decide(&users(&["SLOW"])).delay, Duration::ZERO);
    }

    #[test]
    fn side_requests_are_answered_plainly() {
        let mut e = users(&["RATE_LIMIT SLOW9"]);
        e.side = true;
        let plan = decide(&e);
        assert_eq!(plan.outcome, Outcome::Reply("scripted title".into()));
        assert_eq!(plan.delay, Duration::ZERO);
    }

    #[test]
    fn call_picks_the_first_offered_tool_containing_the_name() {
        let mut e = users(&[r#"please CALL status {"id": "t1"}"#]);
        e.tools = vec!["mcp_legate_delegate".into(), "mcp_legate_status".into()];
        let want = Outcome::Call {
            name: "mcp_legate_status".into(),
            args: json!({"id": "t1"}),
        };
        assert_eq!(decide(&e).outcome, want);
        e.users = vec!["CALL nothing {}".into()];
        let Outcome::Reply(r) = decide(&e).outcome else {
            panic!()
        };
        assert!(r.contains("no offered tool contains 'nothing'"), "{r}");
        e.users = vec!["CALL status [1]".into()];
        let Outcome::Reply(r) = decide(&e).outcome else {
            panic!()
        };
        assert!(r.contains("not a JSON object"), "{r}");
    }

    #[test]
    fn a_deferred_tool_is_loaded_first_then_called() {
        let mut e = users(&[r#"CALL delegate {"agent": "fake"}"#]);
        e.tools = vec!["Bash".into(), LOADER.into()];
        e.deferred = vec!["WebFetch".into(), "mcp__legate__delegate".into()];
        let load = Outcome::Call {
            name: LOADER.into(),
            args: json!({"query": "select:mcp__legate__delegate", "max_results": 1}),
        };
        assert_eq!(decide(&e).outcome, load);
        e.tools.push("mcp__legate__delegate".into());
        e.tool_result = Some("<functions>…</functions>".into());
        e.result_of = Some(LOADER.into());
        let call = Outcome::Call {
            name: "mcp__legate__delegate".into(),
            args: json!({"agent": "fake"}),
        };
        assert_eq!(decide(&e).outcome, call, "the loader's result is no answer");
        e.tools.pop();
        let Outcome::Reply(r) = decide(&e).outcome else {
            panic!("a tool still missing after loading is not loaded again")
        };
        assert!(r.contains("no offered tool contains 'delegate'"), "{r}");
    }

    #[test]
    fn split_keeps_every_character_in_order() {
        assert_eq!(split("abcdefg", 3), ["abc", "def", "g"]);
        assert_eq!(split("ab", 5), ["a", "b"]);
        assert_eq!(split("ünï", 1), ["ünï"]);
    }

    #[test]
    fn a_tool_result_is_repeated_after_saw() {
        let mut e = users(&["CALL status {}"]);
        e.tool_result = Some("done: 42".into());
        assert_eq!(decide(&e).outcome, Outcome::Reply("SAW: done: 42".into()));
    }
}
