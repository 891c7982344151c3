//! A daemon that does not answer (stopped with SIGSTOP): every client gives up at its deadline
//! with a clear message and its own exit code, a submission it gave up on is never created
//! later, retried submissions make one task, and `daemon stop` tells the truth.

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Home, poll_until, raw};

/// Exit code of a command whose daemon did not answer in time.
const NO_ANSWER: i32 = 9;

/// Sends a signal to a process.
fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
}

/// Resumes the stopped daemon when dropped, so a failing test does not leave it frozen.
struct Thaw(i32);

impl Drop for Thaw {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
}

/// Runs `legate ARGS` with a short client timeout; fails the test if the command has not
/// returned within 30 s (a client hanging on the daemon), killing it.
fn impatient(home: &Home, args: &[&str]) -> Output {
    let mut child = home
        .cmd(args)
        .env("LEGATE_CLIENT_TIMEOUT", "1s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let returned = poll_until(Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    if !returned {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        returned,
        "legate {args:?} hung on a daemon that does not answer"
    );
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn clients_of_a_stopped_daemon_give_up_at_their_deadline_and_say_why() {
    let home = Home::new("");
    let running = home.submit("fake", "hang");
    let pid = home.daemon_pid().unwrap();
    signal(pid, nix::sys::signal::Signal::SIGSTOP);
    let thaw = Thaw(pid);

    let o = impatient(&home, &["wait", "--timeout", "2s", &running]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(NO_ANSWER), "{err}");
    assert!(err.contains("did not answer within"), "{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(err.contains(&format!("kill -CONT {pid}")), "{err}");

    let o = impatient(
        &home,
        &["run", "--title", "frozen submit", "fake", "print x"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(NO_ANSWER), "{err}");
    assert!(err.contains("no task was created"), "{err}");
    assert!(o.stdout.is_empty(), "no id was printed");

    let o = impatient(&home, &["daemon", "stop"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(NO_ANSWER), "{err}");
    assert!(
        err.contains(&format!("pid {pid}) is still running")),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("stopped"));

    drop(thaw);
    // The daemon reads what the clients left on their connections once it runs again: a
    // submission answered after this one was read before it.
    let after = home.submit("fake", "print after");
    home.wait_all(std::slice::from_ref(&after));
    let frozen: Vec<_> = home
        .ls(&[])
        .into_iter()
        .filter(|t| t["title"] == "frozen submit")
        .collect();
    assert!(
        frozen.is_empty(),
        "a submission its client gave up on was created later: {frozen:?}"
    );
    assert_eq!(home.daemon_pid(), Some(pid), "a stop it was not told of");
}

#[test]
fn a_retried_submission_with_the_same_key_is_one_task() {
    let home = Home::new("");
    home.ok(&["ls"]);
    let body = br#"{"agent":"fake","prompt":"print once","idempotency_key":"retry-7"}"#;
    let (first, a) = raw(&home, "POST", "/v1/tasks", body);
    let (again, b) = raw(&home, "POST", "/v1/tasks", body);
    assert_eq!((first, again), (201, 200), "{a}\n{b}");
    let id = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["task"]["id"].clone();
    assert_eq!(id(&a), id(&b));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&b).unwrap()["deduplicated"],
        true
    );
    home.wait_all(&[id(&a).as_str().unwrap().to_string()]);
    let (late, c) = raw(&home, "POST", "/v1/tasks", body);
    assert_eq!(late, 200, "{c}");
    assert_eq!(id(&c), id(&a), "still the same task after it finished");
    assert_eq!(home.ls(&[]).len(), 1);
}

#[test]
fn daemon_stop_force_kills_a_daemon_that_does_not_answer() {
    let home = Home::new("");
    let running = home.submit("fake", "hang");
    let pid = home.daemon_pid().unwrap();
    signal(pid, nix::sys::signal::Signal::SIGSTOP);
    let _thaw = Thaw(pid);
    let o = impatient(&home, &["daemon", "stop", "--force"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains(&format!("killed the legate daemon (pid {pid})")),
        "{out}"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")),
        "the daemon is gone"
    );
    // The next daemon takes back what the killed one ran.
    let statuses = home.wait_all(std::slice::from_ref(&running));
    assert_eq!(statuses[&running], "interrupted");
    assert!(common::processes_of_task(&running).is_empty());
}
