//! Control sequences in task text (titles, labels, prompts, results, steps) never reach a
//! terminal through legate's human-readable output; `--json` keeps the exact text.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Home, fake_agent, legate_bin};
use serde_json::Value;

/// Clear screen, window title (OSC 0), clipboard write (OSC 52), BEL, a colour (CSI), and the
/// C1 forms of CSI, OSC and ST.
const NASTY: &str =
    "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x07\x1b[31mred\u{9b}2J\u{9d}0;x\u{9c}\x08";

/// The same without `;` (the fake agent's script splits steps there).
const NASTY_STEP: &str = "\x1b[2J\x07\x1b]52c\x07\u{9b}2J\u{9d}0\u{9c}";

const ORIGIN: &str = "claude-code:escapes";

/// The control characters in `text` a terminal would act on: all but newline and tab.
fn controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect()
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        controls(text).is_empty(),
        "{what} lets control characters through: {:?}\n{text:?}",
        controls(text)
    );
}

/// Runs `legate ARGS` with its stdout on a terminal (a pty in raw mode, so the bytes are
/// exactly what legate wrote); returns that output.
fn on_tty(home: &Home, args: &[&str]) -> String {
    const PTY: &str = r#"
import os, pty, subprocess, sys, tty
m, s = pty.openpty()
tty.setraw(s)
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=s, stderr=subprocess.DEVNULL)
os.close(s)
out = b""
while True:
    try:
        d = os.read(m, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
sys.stdout.buffer.write(out)
sys.exit(p.wait())
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(PTY)
        .arg(legate_bin())
        .args(args)
        .env("LEGATE_HOME", home.path())
        .env_remove("LEGATE_ORIGIN")
        .env_remove("LEGATE_TASK_ID")
        .env_remove("LEGATE_DEPTH")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "legate {args:?} on a terminal failed");
    String::from_utf8(o.stdout).unwrap()
}

/// `text` without the colour codes (SGR) legate's own table uses.
fn without_own_colours(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let n = after
            .find(|c: char| !c.is_ascii_digit() && c != ';')
            .unwrap_or(after.len());
        if after[n..].starts_with('m') {
            rest = &after[n + 1..];
        } else {
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn home_with_steps() -> Home {
    let fake = fake_agent().display().to_string();
    Home::new(&format!(
        r#"
[agents.f-claude]
preset = "claude"
command = ["{fake}", "--format", "claude", "--stdin", "{{args}}"]
"#
    ))
}

#[test]
fn task_text_is_neutralised_for_people_and_exact_in_json() {
    let home = home_with_steps();
    let prompt = format!("first {NASTY}\nsecond {NASTY}\n");
    let label = format!("label{NASTY}");
    let title = format!("title {NASTY}");
    let echoed = home
        .ok(&[
            "run", "--origin", ORIGIN, "--label", &label, "echo", &prompt,
        ])
        .trim()
        .to_string();
    let titled = home
        .ok(&[
            "run",
            "--origin",
            ORIGIN,
            "--title",
            &title,
            "fake",
            "print plain",
        ])
        .trim()
        .to_string();
    let stepped = home
        .ok(&[
            "run",
            "--origin",
            ORIGIN,
            "f-claude",
            &format!("tool bash {NASTY_STEP}\nprint said {NASTY_STEP}"),
        ])
        .trim()
        .to_string();
    let all = [echoed.as_str(), titled.as_str(), stepped.as_str()];
    home.wait_all(&all.map(String::from));

    // JSON: the exact text.
    let shown = home.show(&echoed);
    assert_eq!(
        shown["title"],
        format!("first {NASTY}"),
        "the prompt's first line"
    );
    assert_eq!(shown["labels"], serde_json::json!([label]));
    assert_eq!(shown["result"], prompt.as_str());
    assert_eq!(home.show(&titled)["title"], title.as_str());
    let listed = home.ls(&[]);
    assert!(listed.iter().any(|t| t["title"] == title.as_str()));
    let as_json = [
        home.ok(&["show", "--json", "--prompt", &echoed]),
        home.ok(&["result", "--json", &echoed]),
        home.ok(&["wait", "--json", &echoed, &titled]),
        home.ok(&["inbox", "--json", "--origin", ORIGIN]),
        home.ok(&["ls", "--json"]),
    ];
    for text in &as_json {
        // C1 characters travel as \u escapes, so even raw JSON on a terminal is inert.
        assert_clean("JSON output", text);
        let v: Value = serde_json::from_str(text).unwrap();
        assert!(v.to_string().contains("\\u001b[2J"), "{text}");
    }
    let events = home.ok(&["events", "--task", &stepped]);
    assert_clean("events", &events);
    let steps: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        steps.iter().any(|e| e["data"]["text"] == NASTY_STEP),
        "events keep the step text exactly: {events}"
    );

    // Text for people, piped.
    let human = [
        ("ls", home.ok(&["ls"])),
        ("show", home.ok(&["show", "--prompt", &echoed])),
        ("show (title)", home.ok(&["show", &titled])),
        ("show (steps)", home.ok(&["show", &stepped])),
        ("logs --steps", home.ok(&["logs", "--steps", &stepped])),
        ("wait", home.ok(&["wait", &echoed, &titled])),
        ("inbox", home.ok(&["inbox", "--origin", ORIGIN])),
    ];
    for (what, text) in &human {
        assert_clean(what, text);
        assert!(
            text.contains("␛[2J"),
            "{what} shows the sequence visibly:\n{text}"
        );
    }
    assert!(
        human[1].1.contains("labels     label␛[2J"),
        "{}",
        human[1].1
    );
    assert!(
        human[1].1.contains("\nsecond ␛[2J␛]0;pwned␇"),
        "{}",
        human[1].1
    );
    assert!(human[3].1.contains("␛]52c␇␛[2J"), "{}", human[3].1);

    // Into a pipe, a result and a log are data: verbatim.
    assert_eq!(home.ok(&["result", &echoed]), prompt);
    assert_eq!(home.ok(&["logs", &echoed]), prompt);

    // On a terminal, everything is neutralised.
    for args in [
        vec!["ls"],
        vec!["show", "--prompt", echoed.as_str()],
        vec!["result", echoed.as_str()],
        vec!["logs", echoed.as_str()],
        vec!["logs", "--steps", stepped.as_str()],
    ] {
        let text = on_tty(&home, &args);
        assert_clean(
            &format!("{args:?} on a terminal"),
            &without_own_colours(&text),
        );
        assert!(text.contains("␛[2J"), "{args:?}: {text}");
    }

    // Hook text reaches the model and Claude Code's screen: neutralised too.
    let mut hook = home
        .cmd(&["hook", "claude-code"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let payload =
        serde_json::json!({"session_id": "escapes", "hook_event_name": "UserPromptSubmit"});
    hook.stdin
        .take()
        .unwrap()
        .write_all(payload.to_string().as_bytes())
        .unwrap();
    let out = hook.wait_with_output().unwrap();
    let raw = String::from_utf8(out.stdout).unwrap();
    assert_clean("hook output", &raw);
    let v: Value = serde_json::from_str(&raw).unwrap();
    let context = v["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert_clean("hook text", context);
    assert!(
        context.contains(&titled) && context.contains("title ␛[2J"),
        "{context}"
    );
}
