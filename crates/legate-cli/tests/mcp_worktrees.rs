//! Worktree isolation over MCP, through the real `legate mcp` and rmcp's client: `delegate`
//! with `isolation: "worktree"`, the worktree in task_status, `task_diff` (the patch, and the
//! files two tasks both changed) and `task_merge`.

mod common;

use common::Home;
use common::git::{git, repo};
use common::mcp::{ok, refused, stdio};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_delegates_into_worktrees_reviews_and_merges() {
    let home = Home::new("");
    let repo = repo(&home.path().join("repo"));
    let cwd = repo.display().to_string();
    let c = stdio(&home, false).await;

    let delegate = |prompt: &str| json!({"agent": "fake", "prompt": prompt, "cwd": cwd, "isolation": "worktree", "wait": true});
    let a = ok(
        &c,
        "delegate",
        delegate("write a.txt from a; append README a"),
    )
    .await;
    let b = ok(&c, "delegate", delegate("append README b")).await;
    assert_eq!(a["task"]["status"], "succeeded", "{a}");
    let a_id = a["task"]["task_id"].as_str().unwrap();
    let b_id = b["task"]["task_id"].as_str().unwrap();
    let w = &a["task"]["worktree"];
    assert_eq!(
        (w["state"].as_str(), w["files_changed"].as_u64()),
        (Some("kept"), Some(2)),
        "{a}"
    );
    assert_eq!(w["branch"], format!("legate/{a_id}").as_str());
    let status = ok(&c, "task_status", json!({"task_id": a_id})).await;
    assert_eq!(status["task"]["worktree"]["path"], w["path"]);

    let diff = ok(&c, "task_diff", json!({"task_id": a_id})).await;
    let patch = diff["diff"].as_str().unwrap();
    assert!(patch.contains("+from a") && patch.contains("+a"), "{diff}");
    let both = ok(
        &c,
        "task_diff",
        json!({"task_id": a_id, "against_task_id": b_id}),
    )
    .await;
    assert_eq!(both["changed_by_both"], json!(["README"]), "{both}");

    let merged = ok(&c, "task_merge", json!({"task_id": a_id})).await;
    assert_eq!(merged["merged_into"], "main", "{merged}");
    assert_eq!(merged["worktree"]["state"], "merged");
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD"]),
        merged["commit"].as_str().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("a.txt")).unwrap(),
        "from a\n"
    );
    // The second touches the same line: merging it now would conflict, and changes nothing.
    let why = refused(&c, "task_merge", json!({"task_id": b_id})).await;
    assert!(why.contains("conflict in: README"), "{why}");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    let plain = home.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let why = refused(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print x", "cwd": plain.display().to_string(), "isolation": "worktree"}),
    )
    .await;
    assert!(why.contains("needs a git repository"), "{why}");
    c.cancel().await.unwrap();
}
