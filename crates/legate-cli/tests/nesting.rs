//! Nested delegation under tight caps: a task that waits on its own children lends them its
//! slot, so it never starves them; `show` says why a queued task waits.

mod common;

use std::time::Duration;

use common::{Home, legate_bin, poll_until};

/// Waits until the task runs (claims happen in the background after a submit).
fn until_running(home: &Home, id: &str) {
    assert!(
        poll_until(Duration::from_secs(30), || home.show(id)["status"]
            == "running"),
        "{id} never started"
    );
}

#[test]
fn a_task_waiting_on_its_child_lends_it_the_only_slot() {
    let home = Home::with_max_running(1, "");
    let legate = legate_bin().display().to_string();
    // The parent holds the only slot while it waits; without lending, the child would wait
    // behind it until the parent's timeout.
    let script = format!(
        "{legate} run --wait sh 'echo from the child' && {legate} run --wait sh 'echo and the next'"
    );
    let out = home.ok(&["run", "--wait", "--timeout", "2m", "sh", &script]);
    assert!(out.contains("from the child"), "{out}");
    assert!(out.contains("and the next"), "{out}");
    let all = home.ls(&["--status", "succeeded"]);
    assert_eq!(
        all.len(),
        3,
        "the parent and both children succeeded: {all:?}"
    );
}

#[test]
fn show_says_why_a_queued_task_waits() {
    let home = Home::with_max_running(1, "");
    let busy = home.submit("fake", "sleep 60000");
    until_running(&home, &busy);
    let first = home.submit("fake", "hello");
    let second = home.submit("fake", "hello again");

    let shown = home.ok(&["show", &first]);
    assert!(shown.contains("all 1 slot is taken"), "{shown}");
    assert!(shown.contains(&busy), "names what holds the slot: {shown}");
    assert!(shown.contains("first in the queue"), "{shown}");
    let shown = home.ok(&["show", &second]);
    assert!(shown.contains("1 queued ahead of it"), "{shown}");
    let json = home.show(&second);
    assert_eq!(json["queue"]["ahead"], 1, "{json}");
    assert!(
        json["queue"]["reason"]
            .as_str()
            .unwrap()
            .contains("all 1 slot is taken"),
        "{json}"
    );
    let running = home.ok(&["show", &busy]);
    assert!(
        !running.contains("waiting"),
        "only queued tasks wait: {running}"
    );
    home.ok(&["cancel", "--all"]);
}

#[test]
fn show_names_an_agent_at_its_cap() {
    // `capped` allows 2 at once; the global cap has room.
    let home = Home::new("");
    let a = home.submit("capped", "sleep 60000");
    let b = home.submit("capped", "sleep 60000");
    until_running(&home, &a);
    until_running(&home, &b);
    let third = home.submit("capped", "hello");
    let shown = home.ok(&["show", &third]);
    assert!(
        shown.contains("agent `capped` is at its cap (max_running = 2)"),
        "{shown}"
    );
    assert!(shown.contains(&a) && shown.contains(&b), "{shown}");
    home.ok(&["cancel", "--all"]);
}
