//! Waiting across daemon restarts, what a wait shows and marks read, and waiting for all of
//! one's own tasks.

mod common;

use std::process::{Child, Output, Stdio};
use std::time::Duration;

use common::{Home, poll_until};
use serde_json::Value;

/// An agent whose first attempt blocks until it is stopped and whose next attempt finishes:
/// its first run leaves a mark, so a run that finds the mark is the requeued one.
fn home_with_a_retried_agent() -> Home {
    Home::new(
        "[agents.again]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\nretry_interrupted = true\n",
    )
}

fn retried_script(mark: &std::path::Path) -> String {
    format!(
        "if [ -e {m} ]; then echo second attempt done; else touch {m}; echo first attempt; exec sleep 600; fi",
        m = mark.display()
    )
}

fn spawn(home: &Home, args: &[&str], origin: &str) -> Child {
    home.cmd(args)
        .env("LEGATE_ORIGIN", origin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Whether the client process holds a connection (to the daemon, the one socket it opens).
fn connected(child: &Child) -> bool {
    std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .map(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
            })
        })
        .unwrap_or(false)
}

/// Waits (with a deadline) for a child to exit; its output.
fn finish(mut child: Child, what: &str) -> Output {
    assert!(
        poll_until(Duration::from_secs(120), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "{what} did not end"
    );
    child.wait_with_output().unwrap()
}

fn status_of(home: &Home, id: &str) -> String {
    home.show(id)["status"].as_str().unwrap().to_string()
}

#[test]
fn waits_and_followers_outlive_a_daemon_stop_and_end_with_the_tasks_real_outcome() {
    let home = home_with_a_retried_agent();
    let mark = home.path().join("first-attempt-ran");
    let retried = home.submit("again", &retried_script(&mark));
    assert!(poll_until(Duration::from_secs(30), || mark.exists()));
    let old_pid = home.daemon_pid().unwrap();

    let waiter = spawn(&home, &["wait", &retried], "ann");
    let follower = spawn(&home, &["logs", "-f", &retried], "ann");
    // `run --wait` of a task that is not retried: it ends interrupted, and says so.
    let run_wait = spawn(&home, &["run", "--wait", "fake", "hang"], "ann");
    assert!(poll_until(Duration::from_secs(30), || home
        .ls(&["--status", "running"])
        .len()
        == 2));
    assert!(poll_until(Duration::from_secs(30), || [
        &waiter, &follower, &run_wait
    ]
    .iter()
    .all(|c| connected(c))));

    home.ok(&["daemon", "stop", "--yes"]);

    let w = finish(waiter, "wait");
    let err = String::from_utf8_lossy(&w.stderr);
    assert_eq!(w.status.code(), Some(0), "{err}");
    let out = String::from_utf8_lossy(&w.stdout);
    assert!(out.contains(&retried) && out.contains("succeeded"), "{out}");
    assert!(err.contains("reconnecting"), "{err}");

    let r = finish(run_wait, "run --wait");
    assert_eq!(
        r.status.code(),
        Some(6),
        "interrupted, not a failure to talk to the daemon: {}",
        String::from_utf8_lossy(&r.stderr)
    );

    let f = finish(follower, "logs -f");
    let log = String::from_utf8_lossy(&f.stdout);
    assert_eq!(
        f.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&f.stderr)
    );
    assert!(log.contains("second attempt done"), "{log}");
    assert_eq!(
        log.matches("first attempt\n").count(),
        1,
        "resumed from where it was, nothing printed twice: {log}"
    );

    let task = home.show(&retried);
    assert_eq!(task["attempt"], 2, "{task}");
    assert_ne!(home.daemon_pid().unwrap(), old_pid, "a new daemon came up");
}

#[test]
fn a_wait_outlives_a_killed_daemon() {
    let home = home_with_a_retried_agent();
    let mark = home.path().join("first-attempt-ran");
    let id = home.submit("again", &retried_script(&mark));
    assert!(poll_until(Duration::from_secs(30), || mark.exists()));
    let pid = home.daemon_pid().unwrap();
    let waiter = spawn(&home, &["wait", "--result", &id], "ann");
    assert!(poll_until(Duration::from_secs(30), || connected(&waiter)));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let w = finish(waiter, "wait");
    assert_eq!(
        w.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&w.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&w.stdout), "second attempt done\n");
    assert!(String::from_utf8_lossy(&w.stderr).contains("reconnecting"));
}

#[test]
fn only_what_shows_a_result_marks_it_read() {
    let home = Home::new("");
    let as_ann =
        |args: &[&str]| -> Output { home.cmd(args).env("LEGATE_ORIGIN", "ann").output().unwrap() };
    let a = String::from_utf8(as_ann(&["run", "fake", "print the answer is 42"]).stdout)
        .unwrap()
        .trim()
        .to_string();

    // A plain wait shows ids and statuses: the result stays unread.
    let o = as_ann(&["wait", &a]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].contains(&a) && lines[0].contains("succeeded"),
        "the id, status and title only: {out}"
    );
    assert_eq!(
        home.inbox("ann", &[]),
        std::slice::from_ref(&a),
        "not shown, so not read"
    );

    // wait --result shows it, and so reads it.
    let o = as_ann(&["wait", "--result", &a]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "the answer is 42\n");
    assert!(home.inbox("ann", &[]).is_empty());

    // Several results, each under its task; a failure says why and sets the exit code.
    let b = String::from_utf8(as_ann(&["run", "fake", "print from b"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let c = String::from_utf8(as_ann(&["run", "fake", "fail broke c"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let o = as_ann(&["wait", "--result", &b, &c]);
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("## {b} [succeeded]")) && out.contains("from b\n"),
        "{out}"
    );
    assert!(out.contains(&format!("## {c} [failed]")), "{out}");
    assert!(home.inbox("ann", &[]).is_empty());

    // `result` shows a result: it is read.
    let d =
        String::from_utf8(as_ann(&["run", "--wait", "--json", "fake", "print d"]).stdout).unwrap();
    let d: Value = serde_json::from_str(&d).unwrap();
    let d = d["id"].as_str().unwrap().to_string();
    assert!(home.inbox("ann", &[]).is_empty(), "run --wait showed it");
    let e = String::from_utf8(as_ann(&["run", "fake", "print e"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    as_ann(&["wait", &e]);
    assert_eq!(home.inbox("ann", &[]), std::slice::from_ref(&e));
    let o = as_ann(&["result", &e]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "e\n");
    assert!(home.inbox("ann", &[]).is_empty(), "result showed it");
    // Someone else's reading does not read it for its origin.
    let f = String::from_utf8(as_ann(&["run", "fake", "print f"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    home.wait_all(&[f.clone(), d]);
    home.ok(&["result", &f]);
    assert_eq!(home.inbox("ann", &[]), [f]);
}

#[test]
fn wait_without_ids_waits_for_all_of_ones_own_unfinished_tasks() {
    let home = Home::new("");
    let o = home
        .cmd(&["wait"])
        .env("LEGATE_ORIGIN", "zed")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing to wait for"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mine: Vec<String> = ["sleep 300; print one", "sleep 300; print two"]
        .iter()
        .map(|p| {
            let o = home
                .cmd(&["run", "fake", p])
                .env("LEGATE_ORIGIN", "zed")
                .output()
                .unwrap();
            String::from_utf8(o.stdout).unwrap().trim().to_string()
        })
        .collect();
    let other = home.submit("fake", "hang");
    let o = home
        .cmd(&["wait", "--json"])
        .env("LEGATE_ORIGIN", "zed")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let waited: Vec<&str> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(waited.len(), 2, "{v}");
    for id in &mine {
        assert!(waited.contains(&id.as_str()), "{v}");
        assert_eq!(status_of(&home, id), "succeeded");
    }
    assert_eq!(
        status_of(&home, &other),
        "running",
        "not mine: not waited for"
    );
}

#[test]
fn send_wait_outlives_a_daemon_stop_and_exits_with_the_follow_ups_outcome() {
    let sessions = tempfile::tempdir().unwrap();
    let home = Home::with_resumable_agent(sessions.path());
    let first: Value =
        serde_json::from_str(&home.ok(&["run", "--wait", "--json", "resumable", "print hello"]))
            .unwrap();
    let id = first["id"].as_str().unwrap();
    let sender = spawn(&home, &["send", "--wait", id, "hang"], "ann");
    assert!(poll_until(Duration::from_secs(30), || home
        .ls(&["--status", "running"])
        .len()
        == 1));
    assert!(poll_until(Duration::from_secs(30), || connected(&sender)));
    home.ok(&["daemon", "stop", "--yes"]);
    let s = finish(sender, "send --wait");
    let err = String::from_utf8_lossy(&s.stderr);
    assert_eq!(
        s.status.code(),
        Some(6),
        "the follow-up was interrupted: {err}"
    );
    assert!(
        err.contains("reconnecting") && err.contains("interrupted"),
        "{err}"
    );
}

#[test]
fn a_task_never_waits_for_itself_or_what_it_runs_under() {
    let home = Home::new("");
    let legate = common::legate_bin().display().to_string();
    // Another task of the same origin, which is not the task's to wait for.
    let unrelated = home.submit("fake", "hang");
    // Inside a task: `wait` without ids waits for what it delegated (whatever origin it gave
    // them), not for the task it runs in nor other tasks of its origin; naming that task (or
    // its parent) is refused.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let marker = marker.display();
    let script = format!(
        "{legate} run sh 'echo child' >/dev/null; \
         {legate} run --origin elsewhere sh 'sleep 1; echo done > {marker}' >/dev/null; \
         {legate} wait; echo all=$?; test -f {marker} && echo seen; \
         {legate} wait $LEGATE_TASK_ID; echo self=$?"
    );
    let out = home.run(&["run", "--wait", "--timeout", "2m", "sh", &script]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("all=0"), "{text}");
    assert!(
        text.contains("seen"),
        "the child of another origin was waited for: {text}"
    );
    assert!(text.contains("self=1"), "{text}");
    assert_eq!(
        status_of(&home, &unrelated),
        "running",
        "not the task's to wait for"
    );
    let id = home.ls(&["--status", "succeeded"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let log = home.ok(&["logs", &id]);
    assert!(log.contains("which this command runs in"), "{log}");
}

#[test]
fn a_result_the_reader_never_got_stays_unread_and_errors_keep_their_lines() {
    let home = Home::new("");
    let as_ann = |args: &[&str]| {
        let mut c = home.cmd(args);
        c.env("LEGATE_ORIGIN", "ann");
        c
    };
    let submit = |prompt: &str| {
        let out = as_ann(&["run", "fake", prompt]).output().unwrap().stdout;
        String::from_utf8(out).unwrap().trim().to_string()
    };
    let id = submit("print the answer");
    home.ok(&["wait", &id]);
    // The reader is gone before anything is written: nothing was shown.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = as_ann(&["wait", "--result", &id])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(141));
    assert_eq!(
        home.inbox("ann", &[]),
        std::slice::from_ref(&id),
        "still unread"
    );
    for args in [&["inbox", "--ack"][..], &["inbox", "--ack", "--json"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = as_ann(args).stdout(writer).output().unwrap();
        assert_eq!(o.status.code(), Some(141), "{args:?}");
        assert_eq!(
            home.inbox("ann", &[]),
            std::slice::from_ref(&id),
            "{args:?}: still unread"
        );
    }

    // A failure's reason keeps its lines on stderr (the agent's last words under the cause).
    let failed = String::from_utf8(
        as_ann(&[
            "run",
            "fake",
            "eprint first words; eprint last words; exit 3",
        ])
        .output()
        .unwrap()
        .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let o = as_ann(&["wait", "--result", &failed]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("last words on stderr:\n") && err.contains("\n  last words"),
        "{err}"
    );
}
