//! Whatever an agent prints, the daemon's memory stays bounded: floods in every exec format,
//! plain, and over ACP; results keep their last `result_cap` bytes after a marker; progress
//! events are bounded per event and per task.

mod common;

use common::{Home, fake_agent};
use serde_json::Value;

const MIB: usize = 1 << 20;
/// The default `result_cap`.
const RESULT_CAP: usize = MIB;
/// Room for the marker line before a cut result.
const MARKER: usize = 300;

fn flood_home() -> Home {
    let fake = fake_agent().display().to_string();
    let home = Home::new("");
    let mut extra = String::new();
    for f in ["claude", "codex", "gemini", "opencode"] {
        extra.push_str(&format!(
            "[agents.f-{f}]\ncommand = [\"{fake}\", \"--format\", \"{f}\", \"{{prompt}}\"]\nformat = \"{f}\"\n"
        ));
    }
    extra.push_str(&format!(
        "[agents.f-acp]\nkind = \"acp\"\ncommand = [\"{fake}\", \"--acp\"]\n"
    ));
    home.write_config(8, &extra);
    // Small logs: the floods are about memory, not disk.
    let cfg = std::fs::read_to_string(home.path().join("config.toml"))
        .unwrap()
        .replace(
            "kill_grace = \"1s\"",
            "kill_grace = \"1s\"\nlog_cap = \"2MiB\"",
        );
    std::fs::write(home.path().join("config.toml"), cfg).unwrap();
    home
}

/// The daemon's peak resident memory so far, in bytes.
fn peak_rss(pid: i32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn progress_events(home: &Home, id: &str) -> Vec<Value> {
    home.ok(&["events", "--task", id, "--kind", "progress"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn floods_in_every_format_leave_the_daemon_small_and_results_capped() {
    let home = flood_home();
    // 150 messages of 1 MiB each: 150 MiB per task, 900 MiB through the daemon in all.
    let flood = "flood 150 1048576";
    let agents = [
        "f-claude",
        "f-codex",
        "f-gemini",
        "f-opencode",
        "f-acp",
        "fake",
    ];
    let ids: Vec<(String, &str)> = agents.iter().map(|a| (home.submit(a, flood), *a)).collect();
    // One claude `result` line of 15 MB: longer than legate reads whole.
    let huge = home.submit("f-claude", "flood 1 15000000");
    let all: Vec<String> = ids
        .iter()
        .map(|(id, _)| id.clone())
        .chain([huge.clone()])
        .collect();
    let statuses = home.wait_all(&all);
    let pid = home.daemon_pid().unwrap();
    let peak = peak_rss(pid);
    assert!(
        peak < 150 * MIB,
        "the daemon's peak memory was {} MiB for a 900 MiB flood",
        peak / MIB
    );

    for (id, agent) in &ids {
        let t = home.show(id);
        assert_eq!(statuses[id], "succeeded", "{agent}: {}", t["error"]);
        let result = t["result"].as_str().unwrap();
        assert!(
            result.len() <= RESULT_CAP + MARKER,
            "{agent}: a result of {} bytes against a cap of {RESULT_CAP}",
            result.len()
        );
        assert!(
            result.trim_end().ends_with(&"x".repeat(1000)),
            "{agent}: the tail is kept"
        );
        let events = progress_events(&home, id);
        for e in &events {
            let text = e["data"]["text"].as_str().unwrap();
            assert!(text.len() <= 4096 + 40, "{agent}: a step of {}", text.len());
        }
    }
    // Answers made of many messages are cut to their tail, with a marker saying how much went.
    for (id, agent) in &ids {
        if ["f-gemini", "f-opencode", "f-acp", "fake"].contains(agent) {
            let result = home.show(id)["result"].as_str().unwrap().to_string();
            let (marker, kept) = result.split_once('\n').unwrap();
            assert!(
                marker.starts_with("[legate: the result is longer than result_cap; the first "),
                "{agent}: {marker}"
            );
            assert!(kept.len() <= RESULT_CAP && kept.len() > RESULT_CAP - 100);
            assert!(kept.contains("m149 "), "{agent}: the last message is kept");
        }
    }
    let t = home.show(&huge);
    assert_eq!(t["status"], "succeeded");
    let result = t["result"].as_str().unwrap();
    assert!(result.len() <= RESULT_CAP + MARKER, "{}", result.len());
    assert!(
        result.contains("longer than the 4194304 bytes legate parses"),
        "{result}"
    );
    let notices = progress_events(&home, &huge);
    assert!(
        notices.iter().any(|e| e["data"]["text"]
            .as_str()
            .unwrap()
            .contains("skipped an output line")),
        "{notices:?}"
    );
}

#[test]
fn progress_events_are_bounded_per_task() {
    let home = flood_home();
    let many = home.submit("f-codex", "flood 3000 64");
    let acp = home.submit("f-acp", "tool read a; flood 1 64; tool read b; flood 1 64");
    let statuses = home.wait_all(&[many.clone(), acp.clone()]);
    assert_eq!(statuses[&many], "succeeded");
    let events = progress_events(&home, &many);
    assert_eq!(events.len(), 2000, "at most 2000 notes per task");
    let last = events.last().unwrap();
    assert_eq!(last["data"]["kind"], "notice");
    assert!(
        last["data"]["text"]
            .as_str()
            .unwrap()
            .contains("at most 2000 notes")
    );
    let t = home.show(&many);
    assert_eq!(t["metadata"]["progress_dropped"], 1001);
    assert!(t["result"].as_str().unwrap().starts_with("m2999 "));
    // Below the budget nothing is dropped or said.
    assert_eq!(statuses[&acp], "succeeded");
    assert_eq!(progress_events(&home, &acp).len(), 4);
    assert!(home.show(&acp)["metadata"]["progress_dropped"].is_null());
}
