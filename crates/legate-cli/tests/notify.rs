//! On-finish notifications (webhooks and commands, retried, never holding anything up) and
//! retention (by age and size, sparing unread results and unfinished tasks).

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::webhook::{ids_at, webhook_server};
use common::{Home, poll_until};
use serde_json::Value;

#[test]
fn a_webhook_gets_each_finish_once_and_a_failing_one_is_retried() {
    let (port, got) = webhook_server();
    let fake = common::fake_agent().display().to_string();
    let home = Home::new(&format!(
        r#"
[agents.flaky]
command = ["{fake}", "{{prompt}}"]
notify = [{{ webhook = "http://127.0.0.1:{port}/flaky" }}]

[notify]
targets = [{{ webhook = "http://127.0.0.1:{port}/ok" }}]
retries = 3
backoff = "50ms"
"#
    ));
    let mut ids: Vec<String> = (0..10)
        .map(|i| home.submit("fake", &format!("print {i}")))
        .collect();
    let flaky: Vec<String> = (0..2)
        .map(|i| home.submit("flaky", &format!("print f{i}")))
        .collect();
    ids.extend(flaky.iter().cloned());
    let arrived = |n: usize| poll_until(Duration::from_secs(30), || ids_at(&got, "/ok").len() >= n);
    assert!(arrived(12), "webhook deliveries: {:?}", ids_at(&got, "/ok"));
    assert!(poll_until(Duration::from_secs(30), || ids_at(
        &got, "/flaky"
    )
    .len()
        >= 4));
    let mut flaky_calls = ids_at(&got, "/flaky");
    flaky_calls.sort();
    let mut expected: Vec<String> = flaky.iter().flat_map(|f| [f.clone(), f.clone()]).collect();
    expected.sort();
    assert_eq!(
        flaky_calls, expected,
        "a failed delivery is tried again, once it succeeds no more"
    );

    // A restart neither loses nor repeats announcements.
    home.ok(&["daemon", "stop", "--yes"]);
    ids.push(home.submit("fake", "print after restart"));
    assert!(arrived(13), "webhook deliveries: {:?}", ids_at(&got, "/ok"));
    let mut at_ok = ids_at(&got, "/ok");
    at_ok.sort();
    ids.sort();
    assert_eq!(at_ok, ids, "each finish exactly once");
    for (_, task) in got.lock().unwrap().iter() {
        assert_eq!(task["status"], "succeeded");
        assert!(task["result"].is_string());
        assert!(task.get("prompt").is_none(), "prompts are not sent");
    }
}

/// Live processes running exactly `sleep 3600`.
fn hanging_notifiers() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x003600\x00")
        })
        .count()
}

#[test]
fn a_failing_or_hanging_notifier_delays_nothing_and_secrets_stay_out_of_the_log() {
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = Home::new("[notify]\ntimeout = \"60s\"\nretries = 0\n");
    let out = home.path().join("notified.json");
    let before = hanging_notifiers();
    let hang = home
        .ok(&["run", "--notify", "sleep 3600", "fake", "print hang"])
        .trim()
        .to_string();
    assert!(
        poll_until(Duration::from_secs(20), || hanging_notifiers() > before),
        "the hanging notifier started"
    );
    home.ok(&["run", "--notify", "false", "fake", "print fails"]);
    let secret_hook = format!("http://127.0.0.1:{closed_port}/hook?token=SECRET-TOKEN-123");
    home.ok(&[
        "run",
        "--webhook",
        &secret_hook,
        "fake",
        "print unreachable",
    ]);
    let tee = format!("tee {}", out.display());
    let last = home
        .ok(&["run", "--notify", &tee, "fake", "print last"])
        .trim()
        .to_string();
    let delivered = || {
        std::fs::read(&out)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|t| t["id"] == last.as_str())
    };
    assert!(
        poll_until(Duration::from_secs(20), delivered),
        "the last task's notifier ran"
    );
    assert!(
        hanging_notifiers() > before,
        "it ran while the first notifier still hung"
    );
    let t: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        (t["status"].as_str(), t["result"].as_str()),
        (Some("succeeded"), Some("last\n"))
    );
    assert_eq!(home.show(&hang)["status"], "succeeded");

    let log = home.path().join("daemon.log");
    let has = |s: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(s)
    };
    assert!(
        poll_until(Duration::from_secs(20), || has("command false failed")),
        "failures are logged"
    );
    assert!(poll_until(Duration::from_secs(20), || has(&format!(
        "webhook http://127.0.0.1:{closed_port}/hook?*** failed"
    ))));
    assert!(
        !has("SECRET-TOKEN-123"),
        "a webhook's query string never reaches the log"
    );
    // The daemon is still up and serving.
    assert_eq!(
        home.ok(&["run", "--wait", "fake", "print still up"]),
        "still up\n"
    );
    home.ok(&["daemon", "stop", "--yes"]);
    assert!(
        poll_until(Duration::from_secs(10), || hanging_notifiers() == before),
        "stopping the daemon ends its notifiers"
    );
}

fn exists(home: &Home, id: &str) -> bool {
    home.run(&["show", id]).status.success()
}

#[test]
fn retention_prunes_old_read_results_and_spares_unread_and_unfinished_tasks() {
    let home = Home::new("[retention]\nmax_age = \"1s\"\ninterval = \"100ms\"\n");
    let read = home.ok(&["run", "--wait", "--json", "fake", "print read"]);
    let read: Value = serde_json::from_str(&read).unwrap();
    let read = read["id"].as_str().unwrap().to_string();
    let unread = home
        .ok(&["run", "--origin", "elsewhere", "fake", "print unread"])
        .trim()
        .to_string();
    let running = home.submit("fake", "sleep 60000");
    assert!(
        poll_until(Duration::from_secs(30), || !exists(&home, &read)),
        "a read result older than max_age goes"
    );
    assert!(
        !home.path().join("logs").join(&read).exists(),
        "with its logs"
    );
    assert_eq!(
        home.show(&unread)["status"],
        "succeeded",
        "an unread result stays"
    );
    assert_eq!(
        home.show(&running)["status"],
        "running",
        "an unfinished task stays"
    );

    let report: Value =
        serde_json::from_str(&home.ok(&["prune", "--json", "--older-than", "0s"])).unwrap();
    assert_eq!(
        (report["tasks"].as_u64(), report["kept_unacked"].as_u64()),
        (Some(0), Some(1))
    );
    let text = home.ok(&["prune", "--older-than", "0s"]);
    assert!(
        text.contains("kept 1 finished task(s) whose results are still unread"),
        "{text}"
    );
    let report: Value =
        serde_json::from_str(&home.ok(&["prune", "--json", "--older-than", "0s", "--unacked"]))
            .unwrap();
    assert_eq!(report["tasks"], 1);
    assert!(!exists(&home, &unread));
    assert!(exists(&home, &running));
}

#[test]
fn retention_keeps_total_logs_under_the_cap_oldest_first() {
    let home =
        Home::new("[retention]\nmax_age = \"none\"\nmax_total = \"5KiB\"\ninterval = \"100ms\"\n");
    // Each task keeps 2 × 1920 bytes of logs (output and stdout).
    let ids: Vec<String> = (0..4)
        .map(|_| {
            let v: Value =
                serde_json::from_str(&home.ok(&["run", "--wait", "--json", "fake", "flood 1920"]))
                    .unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    let logs_size = || -> u64 {
        ids.iter()
            .flat_map(|id| {
                std::fs::read_dir(home.path().join("logs").join(id))
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    assert!(
        poll_until(Duration::from_secs(30), || logs_size() <= 5 * 1024),
        "logs: {} bytes",
        logs_size()
    );
    assert!(
        !exists(&home, &ids[0]) && !exists(&home, &ids[1]),
        "the oldest went first"
    );
    assert!(exists(&home, &ids[3]), "the newest stays");
}

#[test]
fn desktop_notifications_go_through_notify_send_when_enabled() {
    let home = Home::new("[notify]\ndesktop = true\n");
    // A stand-in `notify-send` first on the daemon's PATH records its arguments.
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let record = home.path().join("desktop.txt");
    let script = bin.join("notify-send");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> {}\n", record.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = home
        .cmd(&["daemon", "--detach"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let id = home.submit("fake", "print the answer is 42");
    let shown = || std::fs::read_to_string(&record).unwrap_or_default();
    assert!(
        poll_until(Duration::from_secs(20), || shown()
            .contains("the answer is 42")),
        "{}",
        shown()
    );
    let text = shown();
    assert!(
        text.contains("--app-name=legate") && text.contains(&format!("legate: {id} succeeded")),
        "{text}"
    );
}

#[test]
fn edited_retention_settings_apply_at_the_next_submission() {
    let home = Home::new("");
    let read = home.ok(&["run", "--wait", "--json", "fake", "print read"]);
    let read: Value = serde_json::from_str(&read).unwrap();
    let read = read["id"].as_str().unwrap().to_string();
    // The default keeps it for 14 days and looks every 10 minutes; the edit keeps nothing
    // read.
    home.write_config(4, "[retention]\nmax_age = \"1ms\"\n");
    assert!(poll_until(Duration::from_secs(30), || {
        // Each submission re-reads the config (the first one after the edit takes it).
        home.submit("fake", "print again");
        !exists(&home, &read)
    }));
}
