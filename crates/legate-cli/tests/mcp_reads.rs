//! The MCP server marks a result read only when a tool showed it, lets an agent's own `cwd`
//! apply unless the model names one, and answers a waiting delegation the host timed out and
//! the model made again with the task of the first call.

mod common;

use std::time::Duration;

use common::Home;
use common::mcp::{ids_of, ok, run_python_script, stdio};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_result_shows_the_result_so_it_is_not_news_again() {
    let home = Home::new("");
    let c = stdio(&home, false).await;
    let d = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print shown once"}),
    )
    .await;
    let id = d["task"]["task_id"].as_str().unwrap().to_string();
    home.wait_all(std::slice::from_ref(&id));
    let res = ok(&c, "task_result", json!({"task_id": id})).await;
    assert_eq!(res["task"]["result"], "shown once\n");
    assert!(
        ids_of(&res["finished_since_last_call"]).is_empty(),
        "shown by task_result, so not repeated as news: {res}"
    );
    let later = ok(&c, "list_agents", json!({})).await;
    assert!(
        ids_of(&later["finished_since_last_call"]).is_empty(),
        "{later}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_cwd_applies_to_delegations_unless_one_is_named() {
    let placed = tempfile::tempdir().unwrap();
    let named = tempfile::tempdir().unwrap();
    let home = Home::with_placed_agent(placed.path());
    let canon = |p: &std::path::Path| format!("{}\n", p.canonicalize().unwrap().display());
    let c = stdio(&home, false).await;
    let own = ok(
        &c,
        "delegate",
        json!({"agent": "placed", "prompt": "cwd", "wait": true}),
    )
    .await;
    assert_eq!(own["task"]["result"], canon(placed.path()), "{own}");
    let chosen = ok(
        &c,
        "delegate",
        json!({"agent": "placed", "prompt": "cwd", "wait": true, "cwd": named.path()}),
    )
    .await;
    assert_eq!(chosen["task"]["result"], canon(named.path()), "{chosen}");
    c.cancel().await.unwrap();
}

/// The Python SDK times a call out without telling the server (as Hermes does): the repeated
/// waiting delegation returns the first call's task, and a long result reaches the model once,
/// in a bounded text.
#[test]
fn a_waiting_delegation_repeated_after_a_client_timeout_is_one_task() {
    let home = Home::new("[mcp]\nresult_chars = 200\n");
    let bin = common::legate_bin();
    run_python_script(
        "mcp_retry.py",
        &[bin.to_str().unwrap(), home.path().to_str().unwrap(), "200"],
    );
}

/// A client that cancels its timed-out call (rmcp does): the task finishes unread, and the
/// same call made again returns it, finished; made once more after that, it is a new task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_waiting_delegation_gets_its_unread_finished_task() {
    let home = Home::new("");
    let c = stdio(&home, false).await;
    ok(&c, "list_agents", json!({})).await; // The daemon is up before the clock starts.
    let args = json!({"agent": "fake", "prompt": "sleep 2500; print late", "wait": true});
    let params = rmcp::model::CallToolRequestParams::new("delegate")
        .with_arguments(args.as_object().cloned().unwrap());
    let gave_up = tokio::time::timeout(Duration::from_secs(1), c.call_tool(params)).await;
    assert!(gave_up.is_err(), "the call should outlast 1 s: {gave_up:?}");
    let listed = home.ls(&[]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let finished = common::poll_until(Duration::from_secs(30), || {
        home.statuses().get(&id).is_some_and(|s| s == "succeeded")
    });
    assert!(finished, "{:?}", home.statuses());

    let again = ok(&c, "delegate", args.clone()).await;
    assert_eq!(again["task"]["task_id"], id.as_str(), "{again}");
    assert_eq!(again["deduplicated"], true, "{again}");
    assert_eq!(again["task"]["result"], "late\n", "{again}");
    assert!(
        ids_of(&again["finished_since_last_call"]).is_empty(),
        "the answer carries it: {again}"
    );

    let fresh = ok(&c, "delegate", args).await;
    assert_ne!(
        fresh["task"]["task_id"],
        id.as_str(),
        "read, so a new task: {fresh}"
    );
    assert_eq!(fresh["deduplicated"], false, "{fresh}");
    assert_eq!(home.ls(&[]).len(), 2);
    c.cancel().await.unwrap();
}
