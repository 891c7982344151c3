//! The agent-output parsers on samples of each CLI's documented JSON formats: answers, session
//! ids, usage, classified errors, progress steps, cut-off output, and garbage.

use legate_domain::{ErrorKind, OutputFormat};
use legate_runner::parse::{ProgressKind, parse_all};

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/samples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn claude_stream_json_gives_the_result_session_cost_and_steps() {
    let (steps, p) = parse_all(OutputFormat::Claude, &sample("claude-ok.jsonl"));
    assert_eq!(p.result, "The directory holds one file: README.md.");
    assert_eq!(
        p.session_id.as_deref(),
        Some("9b2c1f0e-7d3a-4c1b-9f5e-2a6d8c4b1e70")
    );
    let usage = p.usage.unwrap();
    assert_eq!(usage["cost_usd"], 0.0123);
    assert_eq!(usage["output_tokens"], 42);
    assert!(p.failure.is_none());
    let kinds: Vec<_> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [ProgressKind::Text, ProgressKind::Tool, ProgressKind::Text]
    );
    assert_eq!(steps[1].tool.as_deref(), Some("Bash"));
    assert_eq!(steps[1].text, "ls -la");
}

#[test]
fn claude_auth_errors_are_classified_even_with_exit_zero_shapes() {
    let (_, p) = parse_all(OutputFormat::Claude, &sample("claude-auth.jsonl"));
    let f = p.failure.unwrap();
    assert_eq!(f.kind, ErrorKind::AuthFailed);
    assert!(f.message.contains("/login"), "{}", f.message);
    assert_eq!(
        p.session_id.as_deref(),
        Some("0f5e2a6d-1111-4c1b-9f5e-2a6d8c4b1e70")
    );
}

#[test]
fn claude_output_cut_mid_line_keeps_what_was_said() {
    let (steps, p) = parse_all(OutputFormat::Claude, &sample("claude-partial.jsonl"));
    assert_eq!(p.session_id.as_deref(), Some("77aa"));
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1].text, "/tmp/w/src/main.rs");
    // The last text came before a tool call, so no answer was concluded: the stray half-line
    // is what is left, and it is reported, not hidden.
    assert!(p.failure.is_some());
}

#[test]
fn codex_json_gives_the_last_message_thread_and_usage() {
    let (steps, p) = parse_all(OutputFormat::Codex, &sample("codex-ok.jsonl"));
    assert_eq!(p.result, "Updated README.md with a usage section.");
    assert_eq!(
        p.session_id.as_deref(),
        Some("0199a213-81c0-7800-8aa1-bbab2a035a53")
    );
    assert_eq!(p.usage.unwrap()["output_tokens"], 122);
    assert!(p.failure.is_none(), "an error item is a warning");
    let tools: Vec<_> = steps.iter().filter_map(|s| s.tool.clone()).collect();
    assert_eq!(tools, ["shell", "edit"]);
    assert!(steps.iter().any(|s| s.kind == ProgressKind::Notice));
    assert!(steps.iter().any(|s| s.kind == ProgressKind::Thinking));
}

#[test]
fn codex_turn_failures_are_rate_limits_when_they_say_429() {
    let (_, p) = parse_all(OutputFormat::Codex, &sample("codex-failed.jsonl"));
    assert_eq!(p.failure.unwrap().kind, ErrorKind::RateLimited);
    assert_eq!(
        p.session_id.as_deref(),
        Some("0199a213-dead-7800-8aa1-bbab2a035a53")
    );
}

#[test]
fn gemini_stream_json_joins_deltas_after_the_last_tool() {
    let (steps, p) = parse_all(OutputFormat::Gemini, &sample("gemini-ok.jsonl"));
    assert_eq!(p.result, "README.md describes a tiny demo project.");
    assert_eq!(
        p.session_id.as_deref(),
        Some("c1d2e3f4-aaaa-bbbb-cccc-0123456789ab")
    );
    assert_eq!(p.usage.unwrap()["total_tokens"], 900);
    let kinds: Vec<_> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [ProgressKind::Text, ProgressKind::Tool, ProgressKind::Text]
    );
}

#[test]
fn gemini_errors_are_classified_and_warnings_are_notices() {
    let (steps, p) = parse_all(OutputFormat::Gemini, &sample("gemini-error.jsonl"));
    assert_eq!(p.failure.unwrap().kind, ErrorKind::AuthFailed);
    assert_eq!(steps[0].kind, ProgressKind::Notice);
}

#[test]
fn opencode_json_gives_text_session_and_summed_tokens() {
    let (steps, p) = parse_all(OutputFormat::Opencode, &sample("opencode-run.jsonl"));
    assert!(p.result.contains("hello there"), "{}", p.result);
    assert!(
        p.session_id
            .as_deref()
            .is_some_and(|s| s.starts_with("ses")),
        "{p:?}"
    );
    assert!(p.usage.unwrap()["output_tokens"].as_u64().unwrap() > 0);
    assert!(p.failure.is_none());
    assert!(steps.iter().any(|s| s.kind == ProgressKind::Text));
}

#[test]
fn opencode_errors_are_classified() {
    let (_, p) = parse_all(OutputFormat::Opencode, &sample("opencode-error.jsonl"));
    assert_eq!(p.failure.unwrap().kind, ErrorKind::RateLimited);
}

/// A cheap, deterministic stand-in for the fuzz targets that runs with every `cargo test`:
/// every prefix of every sample, byte flips, and random bytes must not panic any parser.
#[test]
fn no_parser_panics_on_cut_corrupt_or_random_input() {
    let formats = [
        OutputFormat::Claude,
        OutputFormat::Codex,
        OutputFormat::Gemini,
        OutputFormat::Opencode,
        OutputFormat::Plain,
    ];
    let dir = format!("{}/tests/samples", env!("CARGO_MANIFEST_DIR"));
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for cut in (0..bytes.len()).step_by(7) {
            inputs.push(bytes[..cut].to_vec());
        }
        let mut seed = bytes.len() as u64;
        for _ in 0..50 {
            let mut b = bytes.clone();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (seed >> 33) as usize % b.len().max(1);
            if let Some(x) = b.get_mut(at) {
                *x = (seed >> 20) as u8;
            }
            inputs.push(b);
        }
        inputs.push(
            (0..2048u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        );
    }
    inputs.push(br#"{"type":"result","result":null,"usage":7,"total_cost_usd":"x"}"#.to_vec());
    inputs.push(
        br#"{"type":"item.completed","item":{"type":"file_change","changes":"no"}}"#.to_vec(),
    );
    inputs.push(br#"{"type":"text","part":[1,2]}"#.to_vec());
    for f in formats {
        for i in &inputs {
            let _ = parse_all(f, i);
        }
    }
}
