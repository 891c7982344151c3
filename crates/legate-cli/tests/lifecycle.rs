//! The whole life of a task through the real `legate` binary and daemon.

mod common;

use common::{Home, poll_until, processes_of_home, raw};
use std::time::Duration;

#[test]
fn run_show_wait_result_logs_ls() {
    let home = Home::new("");
    let out = home.ok(&[
        "run",
        "--json",
        "--title",
        "greet",
        "--label",
        "demo",
        "fake",
        "print hello; eprint warn; print bye",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 8);
    assert!(["queued", "running", "succeeded"].contains(&v["status"].as_str().unwrap()));

    let waited = home.wait_all(std::slice::from_ref(&id));
    assert_eq!(waited[&id], "succeeded");

    let t = home.show(&id);
    for key in [
        "id",
        "agent",
        "title",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "exit_code",
        "result",
        "error",
    ] {
        assert!(t.get(key).is_some(), "show --json lacks {key}: {t}");
    }
    assert_eq!(t["title"], "greet");
    assert_eq!(t["agent"], "fake");
    assert_eq!(t["exit_code"], 0);
    assert_eq!(t["result"], "hello\nbye\n");
    assert_eq!(t["labels"][0], "demo");
    let created = t["created_at"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == "2026-11-22T10:04:05.123Z".len(),
        "{created}"
    );

    assert_eq!(home.ok(&["result", &id]), "hello\nbye\n");
    let log = home.ok(&["logs", &id]);
    assert!(
        log.contains("hello") && log.contains("warn") && log.contains("bye"),
        "{log}"
    );
    assert_eq!(home.ok(&["logs", "--stdout", &id]), "hello\nbye\n");

    // Prefix lookup works like git.
    assert_eq!(home.show(&id[..5])["id"], id.as_str());

    let all = home.ls(&[]);
    assert!(all.iter().any(|t| t["id"] == id.as_str()));
    assert!(
        home.ls(&["--label", "demo"])
            .iter()
            .all(|t| t["labels"][0] == "demo")
    );
    assert!(home.ls(&["--status", "failed"]).is_empty());
}

#[test]
fn run_wait_prints_the_result_and_exits_with_the_outcome() {
    let home = Home::new("");
    let ok = home.run(&["run", "--wait", "fake", "print the answer"]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "the answer\n");

    let failed = home.run(&["run", "--wait", "fake", "print partial; exit 7"]);
    assert_eq!(failed.status.code(), Some(3));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("exit_nonzero") && err.contains("code 7"),
        "{err}"
    );

    let timed = home.run(&["run", "--wait", "--timeout", "300ms", "fake", "hang"]);
    assert_eq!(timed.status.code(), Some(5));

    let sig = home.run(&["run", "--wait", "--json", "fake", "signal SEGV"]);
    assert_eq!(sig.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&sig.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "signaled");
    assert_eq!(v["signal"], 11);
}

#[test]
fn wait_any_and_wait_timeout() {
    let home = Home::new("");
    let slow = home.submit("fake", "sleep 5000");
    let fast = home.submit("fake", "print fast");
    let o = home.run(&["wait", "--any", "--json", &slow, &fast]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tasks"][1]["status"], "succeeded");
    assert_eq!(v["tasks"][0]["status"], "running");

    let o = home.run(&["wait", "--timeout", "200ms", &slow]);
    assert_eq!(
        o.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    home.ok(&["cancel", &slow]);
}

#[test]
fn dedupe_key_returns_the_unfinished_task() {
    let home = Home::new("");
    let a = home
        .ok(&["run", "--key", "build-42", "fake", "sleep 3000"])
        .trim()
        .to_string();
    let b = home
        .ok(&["run", "--key", "build-42", "fake", "print other"])
        .trim()
        .to_string();
    assert_eq!(a, b);
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["run", "--json", "--key", "build-42", "fake", "x"]))
            .unwrap();
    assert_eq!(v["deduplicated"], true);
    assert_eq!(home.ls(&[]).len(), 1);
    home.ok(&["cancel", &a]);
    let c = home
        .ok(&["run", "--key", "build-42", "fake", "print new"])
        .trim()
        .to_string();
    assert_ne!(a, c, "a finished task's key can be used again");
}

#[test]
fn prompts_reach_the_agent_verbatim_and_nothing_is_executed() {
    let home = Home::new("");
    let marker = home.path().join("pwned");
    let marker2 = home.path().join("pwned2");
    let prompt = format!(
        "$(touch {}) `touch {}` ; rm -rf / && echo \"quoted\" 'single' \\ $HOME * ?",
        marker.display(),
        marker2.display()
    );
    let id = home.submit("echo", &prompt);
    home.wait_all(std::slice::from_ref(&id));
    assert_eq!(home.show(&id)["result"], prompt.as_str());
    assert_eq!(std::fs::read_to_string(home.dump_path()).unwrap(), prompt);
    assert!(
        !marker.exists() && !marker2.exists(),
        "the prompt was executed"
    );
}

#[test]
fn a_four_mib_prompt_works_on_stdin_and_in_a_file() {
    let home = Home::new("");
    let line = "print a line of a very large prompt that goes on and on\n";
    let big: String = line.repeat((4 << 20) / line.len() + 1);
    assert!(big.len() > 4 << 20);
    let file = home.path().join("big.txt");
    std::fs::write(&file, &big).unwrap();

    let id = home
        .ok(&["run", "echo-stdin", "--file", file.to_str().unwrap()])
        .trim()
        .to_string();
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "succeeded");
    assert_eq!(std::fs::read_to_string(home.dump_path()).unwrap(), big);
    let out = home.ok(&["logs", "--stdout", &id]);
    assert_eq!(out.len(), big.len());

    let mut child = home
        .cmd(&["run", "--wait", "fake-file", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(big.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    // The result keeps the tail within the result cap (1 MiB) and says so.
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with("[legate: the result is longer than result_cap; the first "),
        "{}",
        &text[..80]
    );
    assert!(text.ends_with("a line of a very large prompt that goes on and on\n"));
}

#[test]
fn a_large_argument_prompt_is_refused_with_advice() {
    let home = Home::new("");
    let big = home.path().join("big.txt");
    std::fs::write(&big, "x".repeat(200 * 1024)).unwrap();
    let o = home.run(&["run", "fake", "--file", big.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("128 KiB") && err.contains("stdin"), "{err}");
    assert!(home.ls(&[]).is_empty());
}

#[test]
fn an_argument_too_large_once_the_prompt_is_in_it_is_refused_at_submit() {
    let fake = common::fake_agent().display().to_string();
    let home = Home::new(&format!(
        "\n[agents.flag]\ncommand = [\"{fake}\", \"--prompt={{prompt}}\"]\n"
    ));
    let file = home.path().join("prompt.txt");
    let file_arg = file.to_str().unwrap();
    // `--prompt=` takes 9 bytes and the NUL one: 131,065 prompt bytes make an argument of
    // 131,075, past Linux's 131,072, though the prompt alone would fit.
    std::fs::write(&file, format!("print {}", "x".repeat(131_065 - 6))).unwrap();
    let o = home.run(&["run", "flag", "--file", file_arg]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("131065") && err.contains("128 KiB") && err.contains("stdin"),
        "{err}"
    );
    assert!(home.ls(&[]).is_empty(), "nothing is stored");
    // The largest prompt that fits runs.
    std::fs::write(&file, format!("print {}", "x".repeat(131_062 - 6))).unwrap();
    let out = home.ok(&["run", "--wait", "flag", "--file", file_arg]);
    assert_eq!(out, format!("{}\n", "x".repeat(131_062 - 6)));
}

#[test]
fn a_command_line_and_environment_past_the_systems_limit_are_refused_at_submit() {
    let home = Home::new("");
    let file = home.path().join("prompt.txt");
    std::fs::write(&file, format!("print {}", "x".repeat(100_000))).unwrap();
    let file_arg = file.to_str().unwrap();
    // Under a 512 KiB stack limit, ARG_MAX is 128 KiB: for the daemon this starts and for
    // the agents it runs.
    let limited = |args: &[&str], bulk: usize| {
        let inner = home.cmd(args);
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "ulimit -s 512 && exec \"$0\" \"$@\""])
            .arg(inner.get_program())
            .args(inner.get_args())
            .env("LEGATE_TEST_BULK", "b".repeat(bulk))
            .stdin(std::process::Stdio::null());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.output().unwrap()
    };
    // The 100 KB argument fits on its own, but not with a 40 KB variable beside it.
    let o = limited(&["run", "fake", "--file", file_arg], 40_000);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("ARG_MAX") && err.contains("stdin"), "{err}");
    assert!(home.ls(&[]).is_empty(), "nothing is stored");
    let o = limited(&["run", "--wait", "fake", "--file", file_arg], 1);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout.len(), 100_001);
}

#[test]
fn a_failed_task_says_the_agents_last_words_on_stderr() {
    let home = Home::new("");
    let mut script: Vec<String> = (1..=30).map(|i| format!("eprint noise {i}")).collect();
    script.push("eprint fatal: \x1b[31mmodel\x1b[0m unreachable\x07".into());
    script.push("exit 3".into());
    let id = home.submit("fake", &script.join("\n"));
    let crashed = home.submit("fake", "eprint about to crash\nsignal SEGV");
    home.wait_all(&[id.clone(), crashed.clone()]);

    let t = home.show(&id);
    assert_eq!(t["error"]["kind"], "exit_nonzero", "{t}");
    let msg = t["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("the agent exited with code 3\n"), "{msg}");
    assert!(
        msg.ends_with("\n  noise 30\n  fatal: ␛[31mmodel␛[0m unreachable␇"),
        "the last lines, control characters visible: {msg}"
    );
    assert!(
        msg.contains("  noise 22\n") && !msg.contains("noise 21"),
        "ten lines at most: {msg}"
    );
    let shown = home.ok(&["show", &id]);
    assert!(
        shown.contains("fatal: ␛[31mmodel␛[0m unreachable␇") && !shown.contains('\x1b'),
        "{shown}"
    );

    let t = home.show(&crashed);
    assert_eq!(t["error"]["kind"], "signaled", "{t}");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("stderr:\n  about to crash"),
        "{t}"
    );
}

#[test]
fn children_get_no_stdin_their_ids_and_depth() {
    let home = Home::new("");
    let id = home.submit("fake", "stdin; env LEGATE_TASK_ID; env LEGATE_DEPTH; cwd");
    home.wait_all(std::slice::from_ref(&id));
    let r = home.show(&id)["result"].as_str().unwrap().to_string();
    assert!(r.contains("stdin=closed"), "{r}");
    assert!(r.contains(&format!("LEGATE_TASK_ID={id}")), "{r}");
    assert!(r.contains("LEGATE_DEPTH=1"), "{r}");
    let here = std::env::current_dir().unwrap();
    assert!(r.contains(&here.display().to_string()), "{r}");

    let o = home.ok(&["run", "--cwd", "/tmp", "--wait", "fake", "cwd"]);
    assert_eq!(o, "/tmp\n");
}

#[test]
fn delegation_depth_is_limited() {
    let home = Home::new("");
    let legate = common::legate_bin();
    // Depth 1 delegates to depth 2 (allowed), which tries depth 3 (refused).
    let inner = format!("{} run --wait sh 'echo deepest'", legate.display());
    let outer = format!(
        "{} run --wait sh \"{}\"; echo nested-exit=$?",
        legate.display(),
        inner.replace('"', "\\\"")
    );
    let o = home.ok(&["run", "--wait", "sh", &outer]);
    // The depth-2 task fails because its own delegation was refused.
    assert!(o.contains("nested-exit=3"), "{o}");
    let all = home.ls(&[]);
    assert_eq!(all.len(), 2, "the third level must not be created");
    let child = all
        .iter()
        .find(|t| t["depth"] == 2)
        .expect("a depth-2 task");
    assert!(child["parent"].is_string());
    let logs = home.ok(&["logs", child["id"].as_str().unwrap()]);
    assert!(logs.contains("nested too deep"), "{logs}");

    let o = home
        .cmd(&["run", "sh", "echo hi"])
        .env("LEGATE_DEPTH", "2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("max_depth is 2"));
}

#[test]
fn logs_follow_streams_until_the_task_ends() {
    let home = Home::new("");
    let id = home.submit(
        "fake",
        "print one; sleep 300; print two; sleep 300; print three",
    );
    let out = home.ok(&["logs", "-f", &id]);
    assert_eq!(out, "one\ntwo\nthree\n");
    assert_eq!(home.show(&id)["status"], "succeeded");
}

#[test]
fn ten_clients_at_once_start_exactly_one_daemon() {
    let home = Home::new("");
    let children: Vec<_> = (0..10)
        .map(|_| {
            home.cmd(&["ls", "--json"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // Starters whose daemon lost the lock race see it exit at once; then one daemon is left.
    let daemons = || -> Vec<i32> {
        processes_of_home(home.path())
            .into_iter()
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"daemon"))
            })
            .collect()
    };
    assert!(
        poll_until(Duration::from_secs(10), || daemons().len() == 1),
        "daemons: {:?}",
        daemons()
    );
    let daemons = daemons();
    let pid = home.daemon_pid().unwrap();
    assert_eq!(daemons[0], pid);
    home.ok(&["daemon", "stop", "--yes"]);
    assert!(poll_until(Duration::from_secs(10), || home
        .daemon_pid()
        .is_none()));
    let o = home.run(&["daemon", "status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("not running"));
}

#[test]
fn agent_cwd_and_env_apply_and_legate_config_points_elsewhere() {
    let home = Home::new("");
    let other = home.path().join("elsewhere.toml");
    let workdir = home.path().join("work");
    std::fs::create_dir(&workdir).unwrap();
    std::fs::write(
        &other,
        format!(
            "[agents.here]\ncommand = [\"{}\", \"{{prompt}}\"]\ncwd = \"{}\"\nenv = {{ GREETING = \"hi\" }}\n",
            common::fake_agent().display(),
            workdir.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let o = home
            .cmd(args)
            .env("LEGATE_CONFIG", &other)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    // The daemon reads LEGATE_CONFIG when it starts: start it with that environment.
    run(&["daemon", "--detach"]);
    let id = run(&["run", "here", "cwd; env GREETING"])
        .trim()
        .to_string();
    home.wait_all(std::slice::from_ref(&id));
    // The CLI always sends its own directory; an API client that sends none gets the agent's.
    let r = home.show(&id)["result"].as_str().unwrap().to_string();
    assert!(r.contains("GREETING=hi"), "{r}");
    assert!(
        home.run(&["run", "fake", "x"]).status.code() == Some(1),
        "fake is not in that config"
    );

    let (code, body) = raw(
        &home,
        "POST",
        "/v1/tasks",
        br#"{"agent":"here","prompt":"cwd"}"#,
    );
    assert_eq!(code, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let api_id = v["task"]["id"].as_str().unwrap().to_string();
    home.wait_all(std::slice::from_ref(&api_id));
    assert_eq!(
        home.show(&api_id)["result"],
        format!("{}\n", workdir.display())
    );
    assert_eq!(home.show(&api_id)["origin"], "api");
}
