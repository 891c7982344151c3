//! Whom an MCP server's results go to: a later session of the same host in the same project
//! gets what an earlier one left unread, another project does not; stateless HTTP clients
//! with different scopes keep their results apart; a result unread past `orphan_after` is
//! announced to the next session of its project. Real `legate mcp` / `legate serve`
//! processes driven by rmcp's client and the pinned Python SDK.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::Home;
use common::mcp::{McpClient, client_config, ids_of, ok, run_python_client, serve};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

/// `legate mcp` started by a host named `host` in `cwd`, with these extra variables.
async fn started_by(home: &Home, host: &str, cwd: &Path, vars: &[(&str, &str)]) -> McpClient {
    let path = home.path().to_path_buf();
    let cmd = tokio::process::Command::new(common::legate_bin()).configure(|c| {
        c.arg("mcp")
            .current_dir(cwd)
            .env("LEGATE_HOME", &path)
            .env_remove("LEGATE_ORIGIN")
            .env_remove("LEGATE_DEPTH")
            .env_remove("LEGATE_TASK_ID")
            .envs(vars.iter().copied());
    });
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new(host, "1"),
    )
    .serve(TokioChildProcess::new(cmd).unwrap())
    .await
    .expect("the MCP session starts")
}

/// A project directory (a repository's top level) with a subdirectory to start hosts in.
fn project(home: &Home, name: &str) -> std::path::PathBuf {
    let top = home.path().join(name);
    std::fs::create_dir_all(top.join(".git")).unwrap();
    std::fs::create_dir_all(top.join("src")).unwrap();
    top
}

/// Delegates without waiting; returns the task id.
async fn delegate(c: &McpClient, text: &str) -> String {
    let d = ok(
        c,
        "delegate",
        json!({"agent": "fake", "prompt": format!("print {text}")}),
    )
    .await;
    d["task"]["task_id"].as_str().unwrap().to_string()
}

/// The news a call brings (`list_agents` changes nothing else).
async fn news(c: &McpClient) -> Vec<String> {
    ids_of(&ok(c, "list_agents", json!({})).await["finished_since_last_call"])
}

/// Waits for tasks to finish without reading their results.
fn finished(home: &Home, ids: &[&str]) {
    let mut args = vec!["wait", "--timeout", "120s"];
    args.extend_from_slice(ids);
    home.ok(&args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_session_of_the_same_host_and_project_gets_what_an_earlier_left_unread() {
    let home = Home::new("");
    let here = project(&home, "here");
    let there = project(&home, "there");
    let first = started_by(&home, "opencode", &here.join("src"), &[]).await;
    let id = delegate(&first, "left behind").await;
    first.cancel().await.unwrap();
    assert_eq!(
        home.show(&id)["origin"],
        format!("mcp:opencode:{}", here.display())
    );
    finished(&home, &[&id]);

    // Another project, and another host in this project (before the result is an orphan),
    // get nothing.
    let elsewhere = started_by(&home, "opencode", &there, &[]).await;
    assert!(news(&elsewhere).await.is_empty());
    elsewhere.cancel().await.unwrap();
    let other_host = started_by(&home, "codex", &here, &[]).await;
    assert!(news(&other_host).await.is_empty());
    other_host.cancel().await.unwrap();

    // The same host in the same project, in a new process, gets it once.
    let later = started_by(&home, "opencode", &here, &[]).await;
    assert_eq!(news(&later).await, [id.as_str()]);
    assert!(news(&later).await.is_empty());
    later.cancel().await.unwrap();
}

#[test]
fn an_independent_client_finds_in_a_later_session_what_it_left_unread() {
    let home = Home::new("");
    let here = project(&home, "here");
    let there = project(&home, "there");
    run_python_client(&[
        "origins",
        common::legate_bin().to_str().unwrap(),
        home.path().to_str().unwrap(),
        here.join("src").to_str().unwrap(),
        there.to_str().unwrap(),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_unread_result_is_announced_to_the_next_session_of_its_project() {
    let home = Home::new("[retention]\norphan_after = \"1s\"\n");
    let here = project(&home, "here");
    let there = project(&home, "there");
    // Sessions a host names itself (as a Claude Code session's is named): each new one is a
    // new origin.
    let one = started_by(
        &home,
        "claude-code",
        &here,
        &[("LEGATE_ORIGIN", "session-one")],
    )
    .await;
    let id = delegate(&one, "unread").await;
    one.cancel().await.unwrap();
    finished(&home, &[&id]);
    // Once it is an orphan, `legate inbox --orphans` lists it (without reading it).
    assert!(common::poll_until(Duration::from_secs(30), || {
        let v: Value = serde_json::from_str(&home.ok(&["inbox", "--json", "--orphans"])).unwrap();
        let orphans: Vec<&str> = v["orphans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        orphans == [id.as_str()]
    }));

    let other = started_by(
        &home,
        "claude-code",
        &there,
        &[("LEGATE_ORIGIN", "session-x")],
    )
    .await;
    assert!(news(&other).await.is_empty(), "another project's orphan");
    other.cancel().await.unwrap();

    let listed = home.ok(&["inbox", "--orphans"]);
    assert!(
        listed.contains(&id) && listed.contains("[session-one]"),
        "{listed}"
    );

    let two = started_by(
        &home,
        "claude-code",
        &here,
        &[("LEGATE_ORIGIN", "session-two")],
    )
    .await;
    assert_eq!(news(&two).await, [id.as_str()]);
    assert!(news(&two).await.is_empty(), "announced once");
    two.cancel().await.unwrap();
    assert!(
        home.inbox("session-one", &[]).is_empty(),
        "read by the later session, it is read"
    );
}

/// Runs `legate hook claude-code` for a prompt of `session` working in `cwd`; returns stdout.
fn prompt_hook(home: &Home, session: &str, cwd: &Path) -> String {
    use std::io::Write;
    let mut child = home
        .cmd(&["hook", "claude-code"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let payload = json!({"session_id": session, "hook_event_name": "UserPromptSubmit",
        "cwd": cwd, "transcript_path": "/tmp/t.jsonl", "prompt": "go on"});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.to_string().as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_claude_code_session_hears_through_its_hooks_what_an_earlier_left_unread() {
    let home = Home::new("[retention]\norphan_after = \"1s\"\n");
    let here = project(&home, "here");
    let one = started_by(
        &home,
        "claude-code",
        &here,
        &[("LEGATE_ORIGIN", "claude-code:old")],
    )
    .await;
    let id = delegate(&one, "for whoever comes next").await;
    one.cancel().await.unwrap();
    finished(&home, &[&id]);
    // Another project's session hears nothing; this project's next one hears it once.
    let mut heard = String::new();
    assert!(common::poll_until(Duration::from_secs(30), || {
        assert!(!prompt_hook(&home, "elsewhere", home.path()).contains(&id));
        heard = prompt_hook(&home, "new", &here.join("src"));
        !heard.is_empty()
    }));
    assert!(
        heard.contains(&id)
            && heard.contains("earlier session")
            && heard.contains("whoever comes next"),
        "{heard}"
    );
    assert!(!prompt_hook(&home, "new", &here).contains(&id));
}

/// A stateless (2026-07-28) HTTP client named `name`, sending these headers.
async fn stateless(url: &str, token: &str, name: &str, headers: &[(&str, &str)]) -> McpClient {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let headers: HashMap<_, _> = headers
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
        .collect();
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .auth_header(token.to_string())
        .custom_headers(headers);
    let mut c = client_config(false);
    c.client_info = Implementation::new(name, "1");
    c.serve_with_lifecycle(
        StreamableHttpClientTransport::from_config(config),
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .expect("a stateless client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_http_clients_with_different_scopes_keep_their_results_apart() {
    let home = Home::new("");
    let (mut server, url) = serve(&home, "tok");
    // Told apart by their names, or (same name) by the origin header their hosts send.
    let alpha = stateless(&url, "tok", "alpha", &[]).await;
    let beta = stateless(&url, "tok", "beta", &[]).await;
    let mine = stateless(&url, "tok", "claude-code", &[("x-legate-origin", "proj-a")]).await;
    let yours = stateless(&url, "tok", "claude-code", &[("x-legate-origin", "proj-b")]).await;
    let mut ids = Vec::new();
    for c in [&alpha, &beta, &mine, &yours] {
        ids.push(delegate(c, "scoped").await);
    }
    let wanted: Vec<&str> = ids.iter().map(String::as_str).collect();
    finished(&home, &wanted);
    assert_eq!(home.show(&ids[0])["origin"], "mcp-http:alpha");
    assert_eq!(home.show(&ids[2])["origin"], "proj-a");
    for (c, id) in [alpha, beta, mine, yours].into_iter().zip(&ids) {
        assert_eq!(news(&c).await, [id.as_str()]);
        let _ = c.cancel().await;
    }
    let _ = server.kill();
    let _ = server.wait();
}
