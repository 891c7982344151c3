//! The MCP server marks a result read only when a tool showed it, and lets an agent's own
//! `cwd` apply unless the model names one.

mod common;

use common::Home;
use common::mcp::{ids_of, ok, stdio};
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
