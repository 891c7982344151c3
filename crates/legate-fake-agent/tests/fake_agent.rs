//! Real runs of the built fake agent.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn agent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_legate-fake-agent"));
    c.stdin(Stdio::null())
        .env_remove("FAKE_AGENT_RECORD")
        .env_remove("LEGATE_TASK_ID");
    c
}

fn run(args: &[&str]) -> Output {
    agent().args(args).output().unwrap()
}

/// A fresh path in the temp dir, unique to this test and process.
fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("fake-agent-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn print_eprint_and_exit_code() {
    let o = run(&["print hello world; eprint to err\n  print  two  \n\n;exit 7; print never"]);
    assert_eq!(o.stdout, b"hello world\ntwo\n");
    assert_eq!(o.stderr, b"to err\n");
    assert_eq!(o.status.code(), Some(7));
    let o = run(&["print ok"]);
    assert_eq!(
        (o.status.code(), o.stdout.as_slice()),
        (Some(0), &b"ok\n"[..])
    );
    let o = run(&["fail it broke; print never"]);
    assert_eq!(
        (o.status.code(), o.stderr.as_slice()),
        (Some(1), &b"it broke\n"[..])
    );
}

#[test]
fn unknown_and_malformed_steps_exit_2() {
    let o = run(&["print before; hello world; print never"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(o.stdout, b"before\n");
    assert_eq!(o.stderr, b"fake-agent: unknown step 'hello'\n");
    for bad in ["sleep soon", "exit", "flood lots", "signal USR1"] {
        assert_eq!(run(&[bad]).status.code(), Some(2), "{bad}");
    }
}

#[test]
fn echo_returns_the_prompt_verbatim_and_runs_nothing() {
    let marker = temp("pwned");
    let prompt = format!(
        "$(touch {m}) `touch {m}` ; exit 3 && echo \"q\" 's' \\ $HOME * ?\n",
        m = marker.display()
    );
    let o = run(&["--echo", &prompt]);
    assert!(o.status.success());
    assert_eq!(o.stdout, prompt.as_bytes());
    assert!(!marker.exists(), "the prompt was executed");
    assert_eq!(run(&["--echo", "--", "--stdin"]).stdout, b"--stdin");
}

#[test]
fn stdin_echo_of_four_mib_and_dump() {
    let big: Vec<u8> = (0..4u32 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let dump = temp("dump");
    let mut child = agent()
        .args(["--stdin", "--dump", dump.to_str().unwrap(), "--echo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = big.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(o.status.success());
    assert!(o.stdout == big, "stdout differs from the 4 MiB prompt");
    assert!(std::fs::read(&dump).unwrap() == big, "the dump differs");
    std::fs::remove_file(dump).unwrap();
}

#[test]
fn prompt_file_and_dump_of_a_script() {
    let (file, dump) = (temp("prompt"), temp("dump-script"));
    std::fs::write(&file, "print from file\nstdin").unwrap();
    let o = run(&[
        "--dump",
        dump.to_str().unwrap(),
        "--prompt-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.stdout, b"from file\nstdin=closed\n");
    assert_eq!(std::fs::read(&dump).unwrap(), b"print from file\nstdin");
    let o = run(&["--dump", dump.to_str().unwrap(), "print ab"]);
    assert_eq!(
        (o.stdout.as_slice(), std::fs::read(&dump).unwrap()),
        (&b"ab\n"[..], b"print ab".to_vec())
    );
    std::fs::remove_file(file).unwrap();
    std::fs::remove_file(dump).unwrap();
}

#[test]
fn env_cwd_and_invalid_utf8() {
    let dir = std::env::temp_dir().canonicalize().unwrap();
    let o = agent()
        .arg("env FAKE_X; env FAKE_UNSET; cwd; invalid-utf8")
        .env("FAKE_X", "a b=c")
        .env_remove("FAKE_UNSET")
        .current_dir(&dir)
        .output()
        .unwrap();
    let mut expected = format!("FAKE_X=a b=c\nFAKE_UNSET=\n{}\n", dir.display()).into_bytes();
    expected.extend_from_slice(b"bad \xff\xfe utf8\n");
    assert_eq!(o.stdout, expected);
}

#[test]
fn flood_writes_exactly_the_bytes_asked_and_stops_on_a_closed_pipe() {
    let o = run(&["flood 1000000; print done"]);
    assert_eq!(o.stdout.len(), 1_000_000 + 5);
    assert!(
        o.stdout[..1_000_000]
            .chunks(64)
            .all(|l| l[0..6] == *b"flood-" && l[63] == b'\n')
    );
    let mut child = agent()
        .arg("flood 100000000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert!(
        child.wait().unwrap().success(),
        "a closed stdout ends the agent quietly"
    );
}

#[test]
fn signals_kill_it_unless_term_is_ignored() {
    assert_eq!(
        run(&["signal KILL; print never"]).status.signal(),
        Some(libc::SIGKILL)
    );
    assert_eq!(run(&["signal TERM"]).status.signal(), Some(libc::SIGTERM));
    assert_eq!(run(&["signal SEGV"]).status.signal(), Some(libc::SIGSEGV));
    let o = run(&["ignore-term; signal TERM; print survived"]);
    assert_eq!(
        (o.status.code(), o.stdout.as_slice()),
        (Some(0), &b"survived\n"[..])
    );
    let o = run(&["ignore-term; signal KILL"]);
    assert_eq!(o.status.signal(), Some(libc::SIGKILL));
}

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    after.split(' ').nth(n - 3).map(str::to_string)
}

#[test]
fn grandchild_lives_on_in_the_process_group_ignoring_term() {
    let mut child = agent()
        .arg("grandchild 600000")
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let gc: u32 = out
        .trim()
        .strip_prefix("grandchild ")
        .unwrap()
        .parse()
        .unwrap();
    let state = stat_field(gc, 3);
    let pgrp = stat_field(gc, 5);
    let status = std::fs::read_to_string(format!("/proc/{gc}/status")).unwrap_or_default();
    let _ = Command::new("kill")
        .args(["-KILL", &gc.to_string()])
        .status();
    assert!(
        state.is_some_and(|s| s != "Z"),
        "the grandchild is not alive"
    );
    assert_eq!(
        pgrp,
        Some(child.id().to_string()),
        "not in the agent's group"
    );
    let ign = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .unwrap();
    let ign = u64::from_str_radix(ign.trim(), 16).unwrap();
    assert_ne!(
        ign & 1 << (libc::SIGTERM - 1),
        0,
        "the grandchild does not ignore TERM"
    );
}

#[test]
fn records_start_and_end_lines_without_interleaving() {
    let rec = temp("records");
    let spawn = |task: Option<&str>, script: &str| {
        let mut c = agent();
        c.arg(script)
            .env("FAKE_AGENT_RECORD", &rec)
            .stdout(Stdio::null());
        if let Some(t) = task {
            c.env("LEGATE_TASK_ID", t);
        }
        c.spawn().unwrap()
    };
    let mut children: Vec<_> = (0..16)
        .map(|i| spawn(Some(&format!("t{i}")), "print x"))
        .collect();
    children.push(spawn(None, "exit 3"));
    let killed = spawn(Some("killed"), "signal KILL");
    let mut pids = Vec::new();
    for mut c in children.into_iter().chain([killed]) {
        c.wait().unwrap();
        pids.push(c.id().to_string());
    }
    let text = std::fs::read_to_string(&rec).unwrap();
    std::fs::remove_file(rec).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 17 * 2 + 1, "{text}");
    for (i, pid) in pids.iter().enumerate() {
        let task = match i {
            16 => "-".to_string(),
            17 => "killed".to_string(),
            _ => format!("t{i}"),
        };
        let mine = |what: &str| {
            lines
                .iter()
                .find(|l| l[0] == what && l[2] == pid.as_str())
                .cloned()
        };
        let start = mine("start").expect("a start line");
        assert_eq!((start.len(), start[1]), (4, task.as_str()));
        let start_ms: u128 = start[3].parse().unwrap();
        match mine("end") {
            Some(end) if i != 17 => {
                assert!(end[1] == task && end[3].parse::<u128>().unwrap() >= start_ms)
            }
            None if i == 17 => {}
            other => panic!("agent {i}: end line {other:?}"),
        }
    }
}
