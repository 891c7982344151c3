//! Every config error points at the value (or key, or table) at fault, by line and column,
//! wherever and however the key is written, and names the full key.

use crate::Config;

/// One bad config: the text, the full key the error names, and the 1-based line and column
/// (in characters) of the value at fault.
struct Case {
    text: &'static str,
    key: Option<&'static str>,
    line: usize,
    column: usize,
}

const fn case(text: &'static str, key: &'static str, line: usize, column: usize) -> Case {
    Case {
        text,
        key: Some(key),
        line,
        column,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // [limits], one value kind each, in each placement.
    case("[limits]\nmax_running = 0\n", "limits.max_running", 2, 15),
    case("limits = { max_running = 0 }\n", "limits.max_running", 1, 26),
    case("limits.max_running = 0\n", "limits.max_running", 1, 22),
    case("[limits]\nlog_cap = 100\n", "limits.log_cap", 2, 11),
    case("[limits]\nmax_depth = 3\nlog_cap = \"lots\"\n", "limits.log_cap", 3, 11),
    case("[limits]\nmax_depth = 0\n", "limits.max_depth", 2, 13),
    case("limits = { result_cap = \"5 parsecs\" }\n", "limits.result_cap", 1, 25),
    case("[limits]\nkill_grace = \"soon\"\n", "limits.kill_grace", 2, 14),
    case("limits.default_timeout = \"soon\"\n", "limits.default_timeout", 1, 26),
    // [notify]: an element of an array of values, and several keys on one line.
    case(
        "[notify]\ntargets = [{ command = [\"ok\"] }, { webhook = \"gopher://x\" }]\n",
        "notify.targets", 2, 34,
    ),
    case("notify = { desktop = true, timeout = \"0s\" }\n", "notify.timeout", 1, 38),
    case("[notify]\nbackoff = \"0s\"\n", "notify.backoff", 2, 11),
    // [retention], [hooks], [mcp].
    case("[retention]\nmax_age = \"old\"\n", "retention.max_age", 2, 11),
    case("retention.max_total = \"lots\"\n", "retention.max_total", 1, 23),
    case("retention = { interval = \"0s\" }\n", "retention.interval", 1, 26),
    case("[retention]\norphan_after = \"0s\"\n", "retention.orphan_after", 2, 16),
    case("[hooks]\nresult_chars = 5\n", "hooks.result_chars", 2, 16),
    case("mcp.result_chars = 5\n", "mcp.result_chars", 1, 20),
    // Agent tables: [agents.x], agents.x.key, [agents] then x.key, inline tables.
    case("[agents.a]\ncommand = [\"x\"]\ntimeout = \"soon\"\n", "agents.a.timeout", 3, 11),
    case("agents.a.command = [\"x\"]\nagents.a.max_running = 0\n", "agents.a.max_running", 2, 24),
    case("[agents]\nclaude.timeout = \"x\"\n", "agents.claude.timeout", 2, 18),
    case("[agents]\na = { command = [\"x\"], max_running = 0 }\n", "agents.a.max_running", 2, 38),
    case("[agents.a]\ncommand = [\"x\"]\nstall_timeout = \"soon\"\n", "agents.a.stall_timeout", 3, 17),
    case("[agents.a]\npreset = \"nope\"\n", "agents.a.preset", 2, 10),
    case("[agents.a]\ncommand = []\n", "agents.a.command", 2, 11),
    case("[agents.claude]\ncommand = [\" \"]\n", "agents.claude.command", 2, 11),
    case("[agents.a]\ncommand = [\"x\"]\nnotify = [{ command = [] }]\n", "agents.a.notify", 3, 11),
    case("agents.a = { command = [\"x\"], resume = [\"--resume\"] }\n", "agents.a.resume", 1, 40),
    case("[agents.a]\ncommand = [\"x\"]\npermissions = \"maybe\"\n", "agents.a.permissions", 3, 15),
    case("[agents.a]\ncommand = [\"x\"]\nmodel = \"m\"\n", "agents.a.model", 3, 9),
    // Columns count characters, not bytes ("déjà" is 4 characters, 6 bytes).
    case(
        "agents = { a = { description = \"déjà vu\", command = [\"x\"], timeout = \"soon\" } }\n",
        "agents.a.timeout", 1, 70,
    ),
    // Problems of a whole table point at where the table is written.
    case("[agents.\"a b\"]\ncommand = [\"x\"]\n", "agents.a b", 1, 9),
    case("\n[agents.a]\ndescription = \"x\"\n", "agents.a.command", 2, 1),
    case("agents.b.description = \"x\"\n", "agents.b.command", 1, 8),
    // Errors the TOML parser reports: unknown keys and tables, wrong types, unknown variants.
    case("[limit]\nmax_running = 1\n", "limit", 1, 2),
    case("[limits]\nmax_runing = 3\n", "limits.max_runing", 2, 1),
    case("limits = { max_running = 2, max_runing = 3 }\n", "limits.max_runing", 1, 29),
    case("[limits]\nmax_running = \"four\"\n", "limits.max_running", 2, 15),
    case("agents.a.timeout = 3\n", "agents.a.timeout", 1, 20),
    case("[agents.a]\ncommand = [\"x\"]\n[agents.a.env]\nX = 1\n", "agents.a.env.X", 4, 5),
    case(
        "[agents]\na = { command = [\"x\"], on_stall = \"explode\" }\n",
        "agents.a.on_stall", 2, 35,
    ),
    case("[notify]\ntargets = [{ webhok = \"x\" }]\n", "notify.targets.webhok", 2, 14),
    case("[agents.a]\nwhen = 1979-05-27\ncommand = [\"x\"]\n", "agents.a.when", 2, 1),
    case("[agents.a]\ncommand = [\"x\"]\ntimeout = 1979-05-27\n", "agents.a.timeout", 3, 11),
    // Not TOML at all: the place, and no key.
    Case { text: "this is not toml", key: None, line: 1, column: 6 },
    Case { text: "[limits]\nmax_running = 1\nmax_running = 2\n", key: None, line: 3, column: 1 },
    // A number too big for any integer type still has its key.
    case("[limits]\nmax_running = 99999999999999999999\n", "limits.max_running", 2, 15),
];

#[test]
fn every_error_names_the_line_column_and_full_key_of_its_value() {
    let mut wrong = Vec::new();
    for c in CASES {
        let e = match Config::parse(c.text, Some("/x/config.toml")) {
            Ok(_) => {
                wrong.push(format!("{:?}: accepted", c.text));
                continue;
            }
            Err(e) => e,
        };
        let got = (e.key.as_deref(), e.line, e.column);
        if got != (c.key, Some(c.line), Some(c.column)) {
            wrong.push(format!("{:?}: {got:?}: {e}", c.text));
        }
        let shown = match c.key {
            Some(key) => format!(
                "invalid config /x/config.toml:{}:{} key '{key}': ",
                c.line, c.column
            ),
            None => format!("invalid config /x/config.toml:{}:{}: ", c.line, c.column),
        };
        if !e.to_string().starts_with(&shown) {
            wrong.push(format!("{:?}: shown as {e}", c.text));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn without_a_file_the_place_is_said_in_words() {
    let e = Config::parse("limits = { max_running = 0 }\n", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid config line 1, column 26 key 'limits.max_running': must be at least 1"
    );
}

#[test]
fn a_key_or_table_written_twice_is_named() {
    for (text, key) in [
        (
            "[limits]\nmax_running = 1\nmax_running = 2\n",
            "max_running",
        ),
        ("[limits]\n[limits]\n", "limits"),
        // The header's last part, where the parser points.
        ("[agents.a]\ncommand = [\"x\"]\n[agents.a]\n", "a"),
        ("[agents.a.env]\nX = \"1\"\nX = \"2\"\n", "X"),
    ] {
        let e = Config::parse(text, None).unwrap_err().to_string();
        assert!(
            e.contains("duplicate") && e.contains(&format!("'{key}'")),
            "{text:?}: {e}"
        );
    }
}
