//! Results come back: the event stream resumes without loss or repeat, and each origin's inbox
//! holds its unread results durably.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Home, poll_until};
use serde_json::Value;

/// A running `legate events -f …` whose lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(home: &Home, args: &[&str]) -> Follower {
        let mut all = vec!["events", "-f"];
        all.extend_from_slice(args);
        let mut child = home
            .cmd(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// The next event, or `None` when nothing came before the deadline.
    fn next(&self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.lines.recv_timeout(left).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}")))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Submits `n` quick tasks through the CLI in the home at `path`; returns their ids.
fn submit_many(path: &std::path::Path, n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let o = common::legate_in(path, &["run", "fake", &format!("print {tag}-{i}")])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8(o.stdout).unwrap().trim().to_string()
        })
        .collect()
}

#[test]
fn a_follower_sees_every_finish_once_in_order_across_reconnects_and_a_restart() {
    let home = Home::with_max_running(8, "");
    home.ok(&["daemon", "--detach"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let submitter = {
        let path = home.path().to_path_buf();
        std::thread::spawn(move || submit_many(&path, 100, "a"))
    };
    // Reconnect with the cursor after 7, 23, 31… finishes.
    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut cursor = 0i64;
    for batch in [7usize, 23, 31, 13] {
        let f = Follower::start(
            &home,
            &["--kind", "finished", "--after", &cursor.to_string()],
        );
        for _ in 0..batch {
            let e = f.next(deadline).expect("a finish within the deadline");
            cursor = e["seq"].as_i64().unwrap();
            seen.push((cursor, e["task_id"].as_str().unwrap().to_string()));
        }
    }
    let mut ids = submitter.join().unwrap();

    // One follower stays attached while the daemon is killed and comes back.
    let f = Follower::start(
        &home,
        &["--kind", "finished", "--after", &cursor.to_string()],
    );
    let pid = home.daemon_pid().expect("daemon running");
    let e = f.next(deadline).expect("a finish before the kill");
    seen.push((
        e["seq"].as_i64().unwrap(),
        e["task_id"].as_str().unwrap().to_string(),
    ));
    nix_kill(pid);
    assert!(poll_until(
        Duration::from_secs(10),
        || !std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid)
    ));
    // The next submission starts a new daemon; the follower finds it by itself.
    ids.extend(submit_many(home.path(), 100, "b"));
    while seen.len() < ids.len() {
        let e = f
            .next(deadline)
            .unwrap_or_else(|| panic!("only {} of {} finishes arrived", seen.len(), ids.len()));
        seen.push((
            e["seq"].as_i64().unwrap(),
            e["task_id"].as_str().unwrap().to_string(),
        ));
    }

    let seqs: Vec<i64> = seen.iter().map(|s| s.0).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "finishes out of order: {seqs:?}"
    );
    let distinct: HashSet<&String> = seen.iter().map(|s| &s.1).collect();
    assert_eq!(distinct.len(), seen.len(), "a finish arrived twice");
    assert_eq!(
        distinct,
        ids.iter().collect::<HashSet<_>>(),
        "every task's finish, no other"
    );
    // And exactly what the store holds.
    let stored: Vec<Value> = home
        .ok(&["events", "--kind", "finished"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stored: Vec<i64> = stored.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(stored, seqs);
}

fn nix_kill(pid: i32) {
    let ok = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .unwrap_or(true)
}

#[test]
fn events_filter_by_task_origin_label_and_kind() {
    let home = Home::new("");
    let a = home
        .ok(&["run", "--origin", "ann", "--label", "ci", "fake", "print a"])
        .trim()
        .to_string();
    let b = home
        .ok(&["run", "--origin", "bob", "fake", "print b"])
        .trim()
        .to_string();
    home.wait_all(&[a.clone(), b.clone()]);
    let events = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["events"];
        all.extend_from_slice(args);
        home.ok(&all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let everything = events(&[]);
    assert!(everything.len() >= 6, "{everything:?}");
    let only =
        |list: &[Value], id: &str| list.iter().all(|e| e["task_id"] == id) && !list.is_empty();
    assert!(only(&events(&["--origin", "ann"]), &a));
    assert!(only(&events(&["--label", "ci"]), &a));
    assert!(only(&events(&["--task", &b[..5]]), &b));
    let finished = events(&["--kind", "finished"]);
    assert_eq!(finished.len(), 2);
    assert!(
        finished
            .iter()
            .all(|e| e["kind"] == "finished" && e["data"]["status"] == "succeeded")
    );
    let after = everything[2]["seq"].as_i64().unwrap();
    assert_eq!(events(&["--after", &after.to_string()]), everything[3..]);
    // Origin and labels travel on each event.
    assert!(
        events(&["--task", &a])
            .iter()
            .all(|e| e["origin"] == "ann" && e["labels"] == serde_json::json!(["ci"]))
    );
    let bad = home.run(&["events", "--kind", "done"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown event kind 'done'"));
}

#[test]
fn a_running_tasks_output_becomes_output_events() {
    let home = Home::new("");
    let id = home.submit("fake", "print step-one; sleep 2500; print step-two");
    home.wait_all(std::slice::from_ref(&id));
    let lines: Vec<Value> = home
        .ok(&["events", "--task", &id, "--kind", "output"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !lines.is_empty(),
        "a task running over a second reports its output"
    );
    assert_eq!(lines[0]["data"]["line"], "step-one");
    let quick = home.submit("fake", "print fast");
    home.wait_all(std::slice::from_ref(&quick));
    assert!(
        home.ok(&["events", "--task", &quick, "--kind", "output"])
            .is_empty(),
        "a short task costs no output events"
    );
}

#[test]
fn the_inbox_survives_a_restart_acks_are_idempotent_and_origins_stay_apart() {
    let home = Home::new("");
    let a1 = home
        .ok(&["run", "--origin", "ann", "fake", "print a1"])
        .trim()
        .to_string();
    let a2 = home
        .ok(&["run", "--origin", "ann", "fake", "print a2"])
        .trim()
        .to_string();
    let b1 = home
        .ok(&["run", "--origin", "bob", "fake", "print b1"])
        .trim()
        .to_string();
    // Wait from a third origin: that does not read ann's or bob's results for them.
    let o = home
        .cmd(&["wait", "--json", &a1, &a2, &b1])
        .env("LEGATE_ORIGIN", "carol")
        .output()
        .unwrap();
    assert!(o.status.success());

    assert_eq!(home.inbox("ann", &[]), [a1.clone(), a2.clone()]);
    assert_eq!(home.inbox("bob", &[]), std::slice::from_ref(&b1));
    assert!(home.inbox("carol", &[]).is_empty());

    home.ok(&["daemon", "stop", "--yes"]);
    assert_eq!(
        home.inbox("ann", &[]),
        [a1.clone(), a2.clone()],
        "the inbox is durable"
    );
    let running = home
        .ok(&["run", "--origin", "ann", "fake", "sleep 60000"])
        .trim()
        .to_string();

    // Acknowledging: explicit, idempotent, only one's own finished tasks.
    let acked: Value =
        serde_json::from_str(&home.ok(&["ack", "--json", "--origin", "ann", &a1])).unwrap();
    assert_eq!(acked["acked"], serde_json::json!([a1]));
    let again: Value =
        serde_json::from_str(&home.ok(&["ack", "--json", "--origin", "ann", &a1])).unwrap();
    assert_eq!(again["acked"], serde_json::json!([]));
    let other = home.run(&["ack", "--origin", "ann", &b1]);
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stderr).contains("delegated by 'bob'"));
    let unfinished = home.run(&["ack", "--origin", "ann", &a2, &running]);
    assert_eq!(unfinished.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unfinished.stderr).contains("has not finished"));
    assert_eq!(
        home.inbox("ann", &[]),
        std::slice::from_ref(&a2),
        "a refused ack acknowledges nothing"
    );

    // Ack on read.
    assert_eq!(home.inbox("ann", &["--ack"]), std::slice::from_ref(&a2));
    assert!(home.inbox("ann", &[]).is_empty());
    // A canceled task is a result too; acknowledging the whole inbox takes it.
    home.ok(&["cancel", &running]);
    assert_eq!(home.inbox("ann", &[]), std::slice::from_ref(&running));
    let all: Value =
        serde_json::from_str(&home.ok(&["ack", "--json", "--origin", "ann", "--all"])).unwrap();
    assert_eq!(all["acked"], serde_json::json!([running]));
    home.ok(&["daemon", "stop", "--yes"]);
    assert!(
        home.inbox("ann", &[]).is_empty(),
        "acknowledgements are durable"
    );
    assert_eq!(home.inbox("bob", &[]), std::slice::from_ref(&b1));

    // A wait that shows the result, from the delegating origin, counts as reading.
    let o = home
        .cmd(&["wait", "--result", &b1])
        .env("LEGATE_ORIGIN", "bob")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(home.inbox("bob", &[]).is_empty());
    let all: Value =
        serde_json::from_str(&home.ok(&["ack", "--json", "--origin", "ann", "--all"])).unwrap();
    assert_eq!(
        all["acked"],
        serde_json::json!([]),
        "acknowledging again is harmless"
    );
}

#[test]
fn a_subscriber_that_never_reads_holds_nothing_up_and_still_gets_everything() {
    use std::io::{Read, Write};
    let home = Home::with_max_running(8, "");
    home.ok(&["daemon", "--detach"]);
    let mut stalled = std::os::unix::net::UnixStream::connect(home.socket()).unwrap();
    write!(
        stalled,
        "GET /v1/events?kind=finished HTTP/1.0\r\nHost: legate\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    // HTTP/1.0: the body is not chunked, just the SSE text until the connection closes.
    // 300 tasks write far more events than the socket buffers while nobody reads.
    let ids: Vec<String> = (0..300)
        .map(|i| home.submit("fake", &format!("print {}", "x".repeat(i % 7 + 400))))
        .collect();
    let done = home.wait_all(&ids);
    assert!(done.values().all(|s| s == "succeeded"));
    // Now read: every finish is there, once.
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 65536];
    let mut finishes = HashSet::new();
    while finishes.len() < ids.len() {
        let n = stalled.read(&mut buf).expect("the stream keeps flowing");
        assert!(n > 0, "the stream ended early");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                let e: Value = serde_json::from_str(data).unwrap();
                assert!(
                    finishes.insert(e["task_id"].as_str().unwrap().to_string()),
                    "a finish came twice"
                );
            }
        }
    }
    assert_eq!(finishes, ids.into_iter().collect::<HashSet<_>>());
}
