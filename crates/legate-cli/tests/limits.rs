//! Caps under concurrent submitters, and many tasks at once.

mod common;

use std::collections::HashSet;

use common::{Home, max_overlap, records};

#[test]
fn caps_hold_for_200_submissions_from_20_concurrent_clients() {
    let home = Home::new("");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|c| {
                let home = &home;
                s.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let agent = if (c + i) % 4 == 0 { "capped" } else { "fake" };
                            home.submit(agent, "sleep 40")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), 200);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 200);
    let statuses = home.wait_all(&ids);
    assert!(statuses.values().all(|s| s == "succeeded"), "{statuses:?}");

    let recs = records(&home.records_path());
    assert_eq!(recs.len(), 200, "every task ran exactly once");
    let tasks: HashSet<_> = recs.iter().map(|r| r.0.clone()).collect();
    assert_eq!(tasks.len(), 200);
    let all: Vec<(i64, i64)> = recs.iter().map(|r| (r.2, r.3.unwrap())).collect();
    let overlap = max_overlap(&all);
    assert!(overlap <= 4, "global cap exceeded: {overlap} at once");
    assert!(overlap >= 2, "tasks did not run in parallel at all");
    let capped: HashSet<String> = home
        .ls(&["--agent", "capped"])
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(capped.len(), 50);
    let capped_runs: Vec<(i64, i64)> = recs
        .iter()
        .filter(|r| capped.contains(&r.0))
        .map(|r| (r.2, r.3.unwrap()))
        .collect();
    assert!(max_overlap(&capped_runs) <= 2, "per-agent cap exceeded");
}

#[test]
fn priority_runs_first_then_fifo() {
    let home = Home::with_max_running(1, "");
    let blocker = home.submit("fake", "sleep 2000");
    let low = home.submit("fake", "print low");
    let high = home
        .ok(&["run", "--priority", "5", "fake", "print high"])
        .trim()
        .to_string();
    let low2 = home.submit("fake", "print low2");
    home.wait_all(&[blocker, low.clone(), high.clone(), low2.clone()]);
    let started = |id: &str| home.show(id)["started_at"].as_str().unwrap().to_string();
    assert!(started(&high) <= started(&low), "priority first");
    assert!(started(&low) <= started(&low2), "then FIFO");
}

#[test]
fn a_thousand_tasks_all_reach_a_terminal_state() {
    let home = Home::new("[agents.noop]\ncommand = [\"true\"]\n");
    let mut ids = Vec::new();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let home = &home;
                s.spawn(move || {
                    (0..125)
                        .map(|_| home.submit("noop", "x"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in hs {
            ids.extend(h.join().unwrap());
        }
    });
    let statuses = home.wait_all(&ids);
    assert_eq!(statuses.len(), 1000);
    assert!(statuses.values().all(|s| s == "succeeded"));
    assert!(home.ls(&["--status", "queued,running"]).is_empty());
}
