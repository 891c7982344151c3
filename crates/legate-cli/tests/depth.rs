//! The delegation depth is decided by the daemon from facts a child cannot forge: the process
//! that submits, walked up to the agent of a running task, and the recorded parent. Changing
//! or removing `LEGATE_DEPTH` and `LEGATE_TASK_ID` cannot lower it, and invalid values are
//! refused by every frontend.

mod common;

use std::time::Duration;

use common::mcp::{refused, stdio_with};
use common::{Home, legate_bin, poll_until};
use serde_json::json;

/// A home whose only agent is the built-in `sh`, with this `max_depth`.
fn home_with_max_depth(max_depth: u32) -> Home {
    Home::with_config(&format!("[limits]\nmax_depth = {max_depth}\n"))
}

#[test]
fn a_task_at_max_depth_cannot_delegate_by_editing_its_environment() {
    let home = home_with_max_depth(1);
    let legate = legate_bin().display().to_string();
    let script = format!(
        "env -u LEGATE_DEPTH -u LEGATE_TASK_ID {legate} run sh 'echo too deep'; echo stripped=$?\n\
         env LEGATE_DEPTH=0 {legate} run sh 'echo too deep'; echo zeroed=$?\n"
    );
    let out = home.ok(&["run", "--wait", "sh", &script]);
    assert!(out.contains("stripped=1"), "{out}");
    assert!(out.contains("zeroed=1"), "{out}");
    let all = home.ls(&[]);
    assert_eq!(all.len(), 1, "no task below max_depth: {all:?}");
    let log = home.ok(&["logs", all[0]["id"].as_str().unwrap()]);
    assert_eq!(log.matches("nested too deep").count(), 2, "{log}");
    assert!(log.contains("max_depth is 1"), "{log}");
}

#[test]
fn a_chain_that_strips_every_legate_variable_stops_at_max_depth() {
    let home = home_with_max_depth(3);
    let dir = home.path().display().to_string();
    let legate = legate_bin().display().to_string();
    // Each level delegates the next with no trace of legate's variables; a fuse ends the chain
    // at level 6 should the daemon let it through.
    let chain = format!(
        "n=$(( $(cat {dir}/level 2>/dev/null || echo 0) + 1 ))\n\
         echo $n > {dir}/level\n\
         if [ $n -ge 6 ]; then echo fuse > {dir}/end; exit 0; fi\n\
         env -u LEGATE_DEPTH -u LEGATE_TASK_ID -u LEGATE_ORIGIN {legate} run sh 'sh {dir}/chain.sh' \
           || echo \"refused at $n\" > {dir}/end\n"
    );
    std::fs::write(home.path().join("chain.sh"), chain).unwrap();
    home.submit("sh", &format!("sh {dir}/chain.sh"));
    let end = home.path().join("end");
    assert!(
        poll_until(Duration::from_secs(60), || std::fs::read_to_string(&end)
            .is_ok_and(|e| !e.is_empty())),
        "the chain did not end"
    );
    assert_eq!(
        std::fs::read_to_string(&end).unwrap().trim(),
        "refused at 3"
    );
    let all = home.ls(&[]);
    let mut depths: Vec<u64> = all.iter().map(|t| t["depth"].as_u64().unwrap()).collect();
    depths.sort();
    assert_eq!(depths, [1, 2, 3], "{all:?}");
    // Each level is recorded as its delegator's child, whatever its environment said.
    for t in &all {
        let depth = t["depth"].as_u64().unwrap();
        let parent = all.iter().find(|p| p["id"] == t["parent"]);
        match depth {
            1 => assert!(t["parent"].is_null(), "{t}"),
            _ => assert_eq!(parent.unwrap()["depth"].as_u64(), Some(depth - 1), "{t}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_server_refuses_invalid_delegation_variables() {
    let home = Home::new("");
    for (var, value) in [
        ("LEGATE_DEPTH", "-1"),
        ("LEGATE_DEPTH", "abc"),
        ("LEGATE_TASK_ID", "not-an-id"),
    ] {
        let c = stdio_with(&home, false, &[(var, value)]).await;
        let text = refused(
            &c,
            "delegate",
            json!({"agent": "fake", "prompt": "print hi"}),
        )
        .await;
        assert!(
            text.contains(&format!("{var} is '{value}'")) && text.contains("unset it or fix it"),
            "{var}={value}: {text}"
        );
        c.cancel().await.unwrap();
    }
    assert!(home.ls(&[]).is_empty(), "nothing was delegated");
}
