//! Output capture: caps, invalid UTF-8, and the maintenance commands.

mod common;

use common::{Home, raw};

#[test]
fn a_flood_is_capped_keeping_the_tail_and_saying_so() {
    let home = Home::new("");
    let cfg = std::fs::read_to_string(home.path().join("config.toml"))
        .unwrap()
        .replace(
            "kill_grace = \"1s\"",
            "kill_grace = \"1s\"\nlog_cap = \"64KiB\"",
        );
    let cfg = format!(
        "{cfg}\n[agents.strict]\ncommand = [\"{}\", \"{{prompt}}\"]\non_output_cap = \"fail\"\n",
        common::fake_agent().display()
    );
    std::fs::write(home.path().join("config.toml"), cfg).unwrap();

    let id = home.submit("fake", "flood 1000000; print the end");
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "succeeded");
    let log = home.ok(&["logs", &id]);
    assert!(log.len() <= 64 * 1024 + 200, "log is {} bytes", log.len());
    assert!(
        log.starts_with("[legate: output exceeded the log cap"),
        "{}",
        &log[..100]
    );
    assert!(log.ends_with("the end\n"));
    let t = home.show(&id);
    assert!(t["metadata"]["output_dropped_bytes"].as_u64().unwrap() > 900_000);

    let id = home.submit("strict", "flood 1000000");
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "failed");
    assert_eq!(home.show(&id)["error"]["kind"], "output_too_large");
}

#[test]
fn invalid_utf8_output_is_kept_in_the_log_and_replaced_in_the_result() {
    let home = Home::new("");
    let id = home.submit("fake", "invalid-utf8");
    home.wait_all(std::slice::from_ref(&id));
    assert_eq!(home.show(&id)["result"], "bad \u{fffd}\u{fffd} utf8\n");
    let raw = home.run(&["logs", "--stdout", &id]).stdout;
    assert_eq!(raw, b"bad \xff\xfe utf8\n");
}

#[test]
fn agents_prune_completions_and_events() {
    let home = Home::new(
        "[agents.ghost]\ncommand = [\"/nonexistent/x\"]\nenv = { SECRET_TOKEN = \"hunter2\" }\n",
    );
    let out = home.ok(&["agents", "--json"]);
    assert!(
        !out.contains("hunter2"),
        "agent env values must not be shown"
    );
    let agents: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let ghost = agents.iter().find(|a| a["name"] == "ghost").unwrap();
    assert_eq!(ghost["available"], false);
    assert_eq!(ghost["env_keys"][0], "SECRET_TOKEN");
    let sh = agents.iter().find(|a| a["name"] == "sh").unwrap();
    assert_eq!(sh["available"], true);
    assert_eq!(sh["for_models"], false);
    assert!(
        home.ok(&["agents"])
            .lines()
            .any(|l| l.starts_with("ghost") && l.contains("missing"))
    );

    let done = home.submit("fake", "print old");
    home.wait_all(std::slice::from_ref(&done));
    let live = home.submit("fake", "sleep 5000");
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["prune", "--json", "--older-than", "1h"])).unwrap();
    assert_eq!(v["tasks"], 0, "nothing is an hour old");
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["prune", "--json", "--older-than", "1ms"])).unwrap();
    assert_eq!(v["tasks"], 1);
    assert!(v["log_bytes"].as_u64().unwrap() > 0);
    assert!(
        home.run(&["show", &done]).status.code() == Some(1),
        "the pruned task is gone"
    );
    assert!(!home.path().join("logs").join(&done).exists());
    assert_eq!(
        home.show(&live)["status"],
        "running",
        "unfinished tasks are never pruned"
    );
    home.ok(&["cancel", &live]);

    let bash = home.ok(&["completions", "bash"]);
    assert!(bash.contains("legate") && bash.contains("wait"));

    // The event log tells the whole story of a task, in order.
    let (code, body) = raw(
        &home,
        "GET",
        &format!("/v1/events?after=0&task={live}"),
        b"",
    );
    assert_eq!(code, 200, "{body}");
    let end = body.rfind(']').unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_str(&body[..=end]).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["queued", "started", "cancel_requested", "finished"]);
    assert_eq!(events[3]["data"]["status"], "canceled");
}
