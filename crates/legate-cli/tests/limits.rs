//! Caps under concurrent submitters, and many tasks at once.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Home, max_overlap, records};

/// The load case: 50 concurrent clients × 100 submissions each (`LEGATE_LOAD_CLIENTS` and
/// `LEGATE_LOAD_SUBMITS` change it). Zero errors, every task runs exactly once, the global and
/// per-agent caps are never exceeded; the submit latency percentiles are printed.
#[test]
fn caps_hold_and_nothing_fails_under_50_clients_submitting_100_each() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (clients, each) = (
        env("LEGATE_LOAD_CLIENTS", 50),
        env("LEGATE_LOAD_SUBMITS", 100),
    );
    let total = clients * each;
    let home = Home::new("");
    home.ok(&["ls"]);
    let started = Instant::now();
    let results: Vec<(String, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let home = &home;
                s.spawn(move || {
                    (0..each)
                        .map(|i| {
                            let agent = if (c + i) % 4 == 0 { "capped" } else { "fake" };
                            let t = Instant::now();
                            let id = home.submit(agent, "sleep 5");
                            (id, t.elapsed())
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
    let submitted_in = started.elapsed();
    let ids: Vec<String> = results.iter().map(|r| r.0.clone()).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        total,
        "every submission got its own id"
    );
    let mut lat: Vec<Duration> = results.iter().map(|r| r.1).collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    let statuses = home.wait_all(&ids);
    println!(
        "load: {clients} clients × {each} submits = {total} in {:.1}s, 0 errors; submit latency (whole `legate run` process) \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all done after {:.1}s",
        submitted_in.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64()
    );
    assert!(statuses.values().all(|s| s == "succeeded"), "{statuses:?}");

    let recs = records(&home.records_path());
    assert_eq!(recs.len(), total, "every task ran exactly once");
    let tasks: HashSet<_> = recs.iter().map(|r| r.0.clone()).collect();
    assert_eq!(tasks.len(), total);
    let all: Vec<(i64, i64)> = recs.iter().map(|r| (r.2, r.3.unwrap())).collect();
    let overlap = max_overlap(&all);
    assert!(overlap <= 4, "global cap exceeded: {overlap} at once");
    assert!(overlap >= 2, "tasks did not run in parallel at all");
    let capped: HashSet<String> = home
        .ls(&["--agent", "capped"])
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(capped.len(), total / 4);
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
