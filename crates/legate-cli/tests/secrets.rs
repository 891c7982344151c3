//! Secrets in notify targets and store URLs stay with the one they belong to: no receiver sees
//! another target, and no log line, `show`, JSON answer or event carries a URL's credentials.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::webhook::{ids_at, webhook_server};
use common::{Home, poll_until, refused};
use serde_json::Value;

#[test]
fn each_receiver_gets_the_task_without_any_notify_target() {
    let (port, got) = webhook_server();
    let home = Home::new("");
    let file = home.path().join("by-command.json");
    let tee = format!("tee {}", file.display());
    let id = home
        .ok(&[
            "run",
            "--webhook",
            &format!("http://127.0.0.1:{port}/ok?key=first-secret"),
            "--webhook",
            &format!("http://user:second-secret@127.0.0.1:{port}/ok"),
            "--notify",
            &tee,
            "fake",
            "print done",
        ])
        .trim()
        .to_string();
    assert!(
        poll_until(Duration::from_secs(30), || ids_at(&got, "/ok").len() >= 2
            && std::fs::read(&file)
                .is_ok_and(|b| serde_json::from_slice::<Value>(&b).is_ok())),
        "deliveries: {:?}",
        ids_at(&got, "/ok")
    );
    let by_command: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let mut payloads: Vec<Value> = got.lock().unwrap().iter().map(|(_, t)| t.clone()).collect();
    payloads.push(by_command);
    for p in payloads {
        assert_eq!(p["id"], id.as_str());
        assert_eq!(p["result"], "done\n");
        assert!(p.get("notify").is_none(), "a payload names no target: {p}");
        let text = p.to_string();
        for other in ["first-secret", "second-secret", "tee", "/ok"] {
            assert!(!text.contains(other), "{other} reached a receiver: {text}");
        }
    }
}

#[test]
fn credentials_of_a_failing_webhook_reach_no_log_output_or_event() {
    let (port, got) = webhook_server();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = Home::new("[notify]\nretries = 1\nbackoff = \"50ms\"\n");
    let refused_hook =
        format!("http://user:pw-secret@127.0.0.1:{closed}/hook?token=q-secret#f-secret");
    let failing_hook = format!("http://user:pw-secret@127.0.0.1:{port}/fail?token=q-secret");
    let id = home
        .ok(&[
            "run",
            "--webhook",
            &refused_hook,
            "--webhook",
            &failing_hook,
            "fake",
            "print done",
        ])
        .trim()
        .to_string();
    let log = || std::fs::read_to_string(home.path().join("daemon.log")).unwrap_or_default();
    let gave_up = |url: &str| {
        poll_until(Duration::from_secs(30), || {
            log()
                .lines()
                .any(|l| l.contains(url) && l.contains("gave up"))
        })
    };
    assert!(
        gave_up(&format!(
            "webhook http://***@127.0.0.1:{closed}/hook?***#*** failed"
        )),
        "the refused webhook is logged, redacted:\n{}",
        log()
    );
    assert!(
        gave_up(&format!(
            "webhook http://***@127.0.0.1:{port}/fail?*** failed: the server answered 500"
        )),
        "the failing webhook is logged, redacted:\n{}",
        log()
    );
    assert_eq!(
        ids_at(&got, "/fail"),
        vec![id.clone(), id.clone()],
        "tried twice"
    );

    // A bad target is refused without being echoed in full.
    let bad = refused(
        &home,
        &[
            "run",
            "--webhook",
            "ftp://u:pw-secret@h.example/x?t=q-secret",
            "fake",
            "print x",
        ],
        &["must start with http:// or https://"],
    );
    let unparsable = refused(
        &home,
        &[
            "run",
            "--webhook",
            "https://u:pw/secret@h.example/x",
            "fake",
            "print x",
        ],
        &["percent-encode"],
    );

    let shown = home.show(&id);
    assert_eq!(
        shown["notify"],
        serde_json::json!([
            {"webhook": format!("http://***@127.0.0.1:{closed}/hook?***#***")},
            {"webhook": format!("http://***@127.0.0.1:{port}/fail?***")}
        ]),
        "show --json names the targets without their credentials"
    );
    let outputs = [
        ("daemon.log", log()),
        ("run refusal", bad),
        ("run refusal (unparsable)", unparsable),
        ("show", home.ok(&["show", &id])),
        ("show --json", home.ok(&["show", "--json", &id])),
        ("ls --json", home.ok(&["ls", "--json"])),
        ("result --json", home.ok(&["result", "--json", &id])),
        ("wait --json", home.ok(&["wait", "--json", &id])),
        ("inbox --json", home.ok(&["inbox", "--json"])),
        ("events", home.ok(&["events", "--task", &id])),
    ];
    for (what, text) in outputs {
        assert!(!text.contains("secret"), "{what} holds a secret:\n{text}");
    }
}

#[test]
fn an_unknown_store_url_is_refused_without_its_credentials() {
    let home = Home::new("");
    let o = home
        .cmd(&["daemon"])
        .env(
            "LEGATE_STORE",
            "mysql://u:pw-secret@db.example/legate?token=q-secret",
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("mysql://***@db.example/legate?***") && !err.contains("secret"),
        "{err}"
    );
}
