//! The command line as people meet it: options anywhere before `--`, a reader that goes away,
//! `ls` on terminals of any width, and the everyday commands (prune, logs -n, cancel --label,
//! run --wait on a terminal, aligned columns, errors and suggestions).

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Home, legate_bin, poll_until};

/// Runs `legate ARGS` on a pseudo-terminal (util-linux `script`), `columns` wide when given
/// (else with no `$COLUMNS`); returns what the terminal showed, colours and `\r` removed.
fn on_terminal(home: &Home, args: &[&str], columns: Option<usize>) -> String {
    let mut line = legate_bin().display().to_string();
    for a in args {
        line.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
    }
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("LEGATE_HOME", home.path())
        .env("SHELL", "/bin/sh")
        .env_remove("LEGATE_CONFIG")
        .env_remove("LEGATE_DEPTH")
        .env_remove("LEGATE_TASK_ID")
        .env_remove("LEGATE_ORIGIN")
        .env_remove("COLUMNS")
        .stdin(Stdio::null());
    if let Some(w) = columns {
        c.env("COLUMNS", w.to_string());
    }
    let out = c.output().unwrap();
    plain(&String::from_utf8_lossy(&out.stdout))
}

/// Text without SGR sequences, erase-line sequences and carriage returns.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Runs `legate ARGS` with a stdout whose reader is already gone.
fn into_closed_pipe(home: &Home, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    home.cmd(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The column at which `needle` starts on the line that holds it.
fn column_of(lines: &[&str], needle: &str) -> usize {
    let line = lines.iter().find(|l| l.contains(needle)).unwrap();
    line[..line.find(needle).unwrap()].chars().count()
}

#[test]
fn options_after_the_prompt_are_legates_and_after_a_double_dash_prompt_text() {
    let home = Home::new("");
    // Before: `--wait` became part of the prompt and the id came back at once.
    let out = home.run(&["run", "sh", "echo hi", "--wait"]);
    assert_eq!(text(&out.stdout), "hi\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&home.ok(&[
        "run",
        "sh",
        "echo",
        "x",
        "--label",
        "late",
        "--json",
        "--timeout",
        "5m",
    ]))
    .unwrap();
    let t = home.show(v["id"].as_str().unwrap());
    assert_eq!(t["labels"][0], "late");
    assert_eq!(t["timeout_ms"], 300_000);
    // After `--`, everything is prompt text, options included.
    assert_eq!(
        home.ok(&["run", "sh", "--wait", "--", "echo", "--json", "-n", "--"]),
        "--json -n --\n"
    );
    // An unknown option before `--` is refused, with the way to pass it.
    let out = home.run(&["run", "sh", "echo", "-z"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("-- -z"), "{}", text(&out.stderr));
    for cmd in ["run", "send"] {
        let help = home.ok(&[cmd, "--help"]);
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains("Everything after `--` is prompt text"),
            "{help}"
        );
    }
}

#[test]
fn a_reader_that_goes_away_ends_every_command_quietly() {
    let home = Home::new("");
    let id = home.submit("fake", "print hello");
    home.wait_all(std::slice::from_ref(&id));
    let unread = home.submit("fake", "print unread");
    assert!(poll_until(Duration::from_secs(60), || {
        home.statuses()[&unread] == "succeeded"
    }));
    let commands: Vec<Vec<&str>> = vec![
        vec!["inbox"],
        vec!["ls"],
        vec!["ls", "--json"],
        vec!["show", &id],
        vec!["result", &id],
        vec!["logs", &id],
        vec!["logs", "--steps", &id],
        vec!["wait", "--json", &id],
        vec!["wait", &id],
        vec!["events"],
        vec!["events", "-f"],
        // Nothing to write: the reader's going is noticed all the same.
        vec!["events", "-f", "--after", "999999999"],
        vec!["agents"],
        vec!["daemon", "status"],
        vec!["completions", "bash"],
        vec!["run", "fake", "print x"],
    ];
    for args in commands {
        let out = into_closed_pipe(&home, &args);
        let err = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(141),
            "legate {args:?} should end as a SIGPIPE'd program does: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("error"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn ls_fits_the_terminal_marks_cuts_and_says_what_it_leaves_out() {
    let home = Home::new("");
    let long = "a title long enough that no row of the table can hold it on a terminal of eighty or a hundred columns";
    let ids: Vec<String> = (0..3)
        .map(|i| home.ok(&["run", "fake", "print x", "--title", &format!("{i} {long}")]))
        .map(|s| s.trim().to_string())
        .collect();
    home.wait_all(&ids);

    for (columns, width) in [(Some(60), 60), (Some(80), 80), (None, 100)] {
        let shown = on_terminal(&home, &["ls"], columns);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 4, "{shown}");
        assert!(lines[0].starts_with("ID"), "{shown}");
        for l in &lines {
            assert!(l.chars().count() <= width, "{columns:?}: {l:?}");
        }
        assert!(lines[1..].iter().all(|l| l.ends_with('…')), "{shown}");
    }

    // Piped: whole titles, tab-separated; a notice on stderr when some are left out.
    let out = home.run(&["ls", "--limit", "2"]);
    let rows = text(&out.stdout);
    assert_eq!(rows.lines().count(), 2, "{rows}");
    assert!(rows.lines().all(|l| l.ends_with(long)), "{rows}");
    assert!(
        rows.contains(&ids[2]) && !rows.contains(&ids[0]),
        "the newest"
    );
    let notice = text(&out.stderr);
    assert!(
        notice.contains("showing the newest 2 of 3 tasks") && notice.contains("--all"),
        "{notice}"
    );
    let out = home.run(&["ls", "--all"]);
    assert_eq!(text(&out.stdout).lines().count(), 3);
    assert_eq!(text(&out.stderr), "");
    let out = home.run(&["ls"]);
    assert_eq!(text(&out.stderr), "", "nothing left out, nothing said");

    let out = home.run(&["ls", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--all"), "{}", text(&out.stderr));
    let out = home.run(&["inbox", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn prune_removes_every_read_result_by_default_and_accepts_zero() {
    let home = Home::new("");
    let read = home.submit("fake", "print read");
    home.ok(&["wait", "--result", &read]); // showing the result reads it
    let unread = home.submit("fake", "print unread");
    assert!(poll_until(Duration::from_secs(60), || {
        home.statuses()[&unread] == "succeeded"
    }));
    let v: serde_json::Value = serde_json::from_str(&home.ok(&["prune", "--json"])).unwrap();
    assert_eq!(v["tasks"], 1, "{v}");
    assert_eq!(v["kept_unacked"], 1, "{v}");
    let left = home.statuses();
    assert!(!left.contains_key(&read) && left.contains_key(&unread));
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["prune", "--json", "--older-than", "0", "--unacked"]))
            .unwrap();
    assert_eq!(v["tasks"], 1, "{v}");
    assert!(home.statuses().is_empty());
}

#[test]
fn logs_n_prints_the_last_lines() {
    let home = Home::new("");
    let id = home.submit("sh", "seq 1 10");
    home.wait_all(std::slice::from_ref(&id));
    assert_eq!(home.ok(&["logs", "-n", "3", &id]), "8\n9\n10\n");
    assert_eq!(home.ok(&["logs", "--lines", "1", "-f", &id]), "10\n");
    assert_eq!(home.ok(&["logs", "-n", "99", &id]).lines().count(), 10);
}

#[test]
fn json_is_refused_by_logs_which_prints_none() {
    let home = Home::new("");
    let id = home.submit("sh", "seq 1 10");
    home.wait_all(std::slice::from_ref(&id));
    let out = home.run(&["logs", "--json", &id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("legate events --task {id}")),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn cancel_label_cancels_the_unfinished_tasks_with_the_label() {
    let home = Home::new("");
    let a = home.ok(&["run", "fake", "sleep 60000", "--label", "batch"]);
    let b = home.ok(&["run", "fake", "sleep 60000", "--label", "batch"]);
    let other = home.submit("fake", "sleep 60000");
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["cancel", "--label", "batch", "--json"])).unwrap();
    let mut canceled: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    canceled.sort();
    let mut want = vec![a.trim(), b.trim()];
    want.sort();
    assert_eq!(canceled, want);
    let s = home.statuses();
    assert_eq!(s[a.trim()], "canceled");
    assert!(["queued", "running"].contains(&s[&other].as_str()));
    assert_eq!(
        home.ok(&["cancel", "--label", "batch"]).trim(),
        "nothing to cancel"
    );
    let out = home.run(&["cancel", "--label", "batch", &other]);
    assert_eq!(out.status.code(), Some(2), "ids and --label together");
    home.ok(&["cancel", &other]);
}

#[test]
fn a_waited_run_on_a_terminal_shows_its_id_first() {
    let home = Home::new("");
    let shown = on_terminal(&home, &["run", "sh", "echo hi", "--wait"], None);
    let first = shown.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("legate: task ") && first.contains("delegated"),
        "{shown}"
    );
    let id = first.split_whitespace().nth(2).unwrap();
    assert_eq!(home.show(id)["status"], "succeeded");
    // (after the progress line, if one was drawn)
    assert!(shown.lines().last().unwrap().ends_with("hi"), "{shown:?}");
    let piped = home.run(&["run", "sh", "true", "--wait"]);
    assert!(
        !text(&piped.stderr).contains("delegated"),
        "not on a terminal"
    );
}

#[test]
fn wait_and_inbox_align_their_columns_on_a_terminal() {
    let home = Home::new("");
    let ok = home.submit("sh", "echo fine");
    let bad = home.submit("sh", "echo broken; exit 3");
    assert!(poll_until(Duration::from_secs(60), || {
        let s = home.statuses();
        s[&ok] == "succeeded" && s[&bad] == "failed"
    }));
    // The titles line up, whatever the statuses' lengths.
    for args in [&["inbox"][..], &["wait", &ok, &bad]] {
        let shown = on_terminal(&home, args, Some(100));
        let rows: Vec<&str> = shown
            .lines()
            .filter(|l| !l.starts_with("legate:"))
            .collect();
        assert_eq!(rows.len(), 2, "{shown}");
        assert_eq!(
            column_of(&rows, "echo fine"),
            column_of(&rows, "echo broken"),
            "{args:?}: columns not aligned:\n{shown}"
        );
        assert!(!shown.contains('\t'), "{shown:?}");
    }
    // A narrow terminal: every row fits (long titles give way).
    let long = home.submit(
        "sh",
        "echo a title long enough to need cutting on a narrow screen",
    );
    home.ok(&["wait", &long]);
    for width in [60, 72] {
        let shown = on_terminal(&home, &["inbox"], Some(width));
        for l in shown.lines().filter(|l| !l.starts_with("legate:")) {
            assert!(
                l.chars().count() <= width,
                "inbox at {width} columns:\n{shown}"
            );
        }
    }
    // Into a pipe, fields stay tab-separated.
    let piped = text(&home.run(&["wait", &ok, &bad]).stdout);
    assert!(piped.lines().all(|l| l.split('\t').count() == 3), "{piped}");
}

#[test]
fn the_unknown_agent_error_lists_one_agent_per_line() {
    let home = Home::new("");
    let out = home.run(&["run", "nosuch", "x"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.lines().any(|l| l == "  fake (scripted fake agent)")
            && err.lines().any(|l| l.starts_with("  sh (")),
        "one agent per line:\n{err}"
    );
}

#[test]
fn daemon_status_json_counts_every_status_in_an_object() {
    let home = Home::new("");
    home.submit("sh", "true");
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["daemon", "status", "--json"])).unwrap();
    let counts = v["counts"].as_object().expect("counts is an object");
    assert_eq!(counts.len(), 7, "every status: {v}");
    let total: u64 = counts.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total, 1);
}

#[test]
fn typos_are_never_answered_with_destructive_commands() {
    let home = Home::new("");
    for (typo, destructive) in [("clean", "cancel"), ("pause", "prune")] {
        let out = home.run(&[typo]);
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(!err.contains(destructive), "{typo}: {err}");
    }
}

#[test]
fn agents_and_wait_progress_fit_a_narrow_terminal() {
    let home = Home::new("");
    for line in on_terminal(&home, &["agents"], Some(30)).lines() {
        assert!(line.chars().count() <= 30, "{line:?}");
    }
    let id = home.submit("fake", "hang");
    // The progress line is redrawn in place: each drawing fits, so none wraps.
    let mut line = legate_bin().display().to_string();
    line.push_str(&format!(" wait --timeout 1s {id}"));
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("LEGATE_HOME", home.path())
        .env("SHELL", "/bin/sh")
        .env("COLUMNS", "20")
        .env_remove("LEGATE_ORIGIN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    let drawn: Vec<&str> = shown
        .split(['\r', '\n'])
        .map(|d| d.trim_start_matches("\x1b[2K"))
        .filter(|d| d.starts_with("waiting"))
        .collect();
    assert!(!drawn.is_empty(), "{shown:?}");
    for d in drawn {
        assert!(d.chars().count() <= 20, "{d:?}");
    }
}
