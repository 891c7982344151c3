//! The MCP server, driven through the real `legate mcp` / `legate serve` by rmcp's own client.

mod common;

use std::time::Duration;

use common::{Home, legate_bin};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ClientCapabilities,
    ClientConfig, GetTaskParams, Implementation, ReadResourceRequestParams, TaskPayload,
    TaskStatus,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

type McpClient = RunningService<RoleClient, ClientConfig>;

fn client_config(tasks: bool) -> ClientConfig {
    let caps = if tasks {
        ClientCapabilities::builder().enable_tasks().build()
    } else {
        ClientCapabilities::default()
    };
    ClientConfig::new(caps, Implementation::new("legate-tests", "0"))
}

/// `legate mcp` in this home, as a host starts it.
async fn stdio(home: &Home, tasks: bool) -> McpClient {
    let path = home.path().to_path_buf();
    let cmd = tokio::process::Command::new(legate_bin()).configure(|c| {
        c.arg("mcp")
            .env("LEGATE_HOME", &path)
            .env_remove("LEGATE_ORIGIN")
            .env_remove("LEGATE_DEPTH")
            .env_remove("LEGATE_TASK_ID");
    });
    client_config(tasks)
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .expect("the MCP session starts")
}

/// Calls a tool; returns the result.
async fn call(c: &McpClient, tool: &str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    c.call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// Calls a tool that must succeed; returns its structured content.
async fn ok(c: &McpClient, tool: &str, args: Value) -> Value {
    let r = call(c, tool, args.clone()).await;
    assert_ne!(
        r.is_error,
        Some(true),
        "{tool} {args} failed: {:?}",
        r.content
    );
    r.structured_content.expect("structured content")
}

/// Calls a tool that must fail; returns its text.
async fn refused(c: &McpClient, tool: &str, args: Value) -> String {
    let r = call(c, tool, args.clone()).await;
    assert_eq!(r.is_error, Some(true), "{tool} {args} should fail");
    r.content
        .iter()
        .filter_map(|b| b.as_text())
        .map(|t| t.text.clone())
        .collect()
}

/// Polls `tasks/get` until the task is terminal (30 s at most); returns it.
async fn settled(c: &McpClient, id: &str) -> rmcp::model::DetailedTask {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = c
            .get_task(GetTaskParams::new(id.to_string()))
            .await
            .unwrap();
        if got.task.status().is_terminal() {
            return got.task;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task {id} is still {:?}",
            got.task.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_over_stdio() {
    let home = Home::new("[mcp]\nresult_chars = 100\n");
    let c = stdio(&home, false).await;

    let tools = c.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "delegate",
            "list_agents",
            "task_cancel",
            "task_list",
            "task_result",
            "task_status",
            "task_wait"
        ]
    );
    for t in &tools {
        assert!(
            t.description.as_deref().is_some_and(|d| d.len() > 20),
            "{} needs a description",
            t.name
        );
        assert!(t.output_schema.is_some(), "{} has an output schema", t.name);
    }
    let agents = ok(&c, "list_agents", json!({})).await;
    let names: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"fake") && !names.contains(&"sh"),
        "{names:?}"
    );

    // Three at once, then gather.
    let (a, b, d) = tokio::join!(
        ok(
            &c,
            "delegate",
            json!({"agent": "fake", "prompt": "sleep 300; print alpha"})
        ),
        ok(
            &c,
            "delegate",
            json!({"agent": "fake", "prompt": "sleep 200; print beta", "title": "second"})
        ),
        ok(
            &c,
            "delegate",
            json!({"agent": "fake", "prompt": "print gamma"})
        ),
    );
    let ids: Vec<String> = [&a, &b, &d]
        .iter()
        .map(|v| v["task"]["task_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(b["task"]["title"], "second");
    assert!(["queued", "running"].contains(&a["task"]["status"].as_str().unwrap()));
    let gathered = ok(
        &c,
        "task_wait",
        json!({"task_ids": ids, "mode": "all", "timeout_secs": 60}),
    )
    .await;
    assert_eq!(gathered["timed_out"], false);
    let results: Vec<&str> = gathered["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["alpha\n", "beta\n", "gamma\n"]);
    assert!(
        gathered["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "succeeded")
    );

    // A finish seen elsewhere arrives in the next response, once.
    let news = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print news"}),
    )
    .await;
    let news_id = news["task"]["task_id"].as_str().unwrap().to_string();
    home.wait_all(std::slice::from_ref(&news_id));
    let first = ok(&c, "list_agents", json!({})).await;
    assert_eq!(
        ids_of(&first["finished_since_last_call"]),
        std::slice::from_ref(&news_id)
    );
    assert_eq!(first["finished_since_last_call"][0]["result"], "news\n");
    let second = ok(&c, "list_agents", json!({})).await;
    assert!(
        ids_of(&second["finished_since_last_call"]).is_empty(),
        "delivered once"
    );

    // Sync mode, with a result longer than the cap.
    let sync = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": format!("print {}", "z".repeat(300)), "wait": true}),
    )
    .await;
    assert_eq!(sync["task"]["status"], "succeeded");
    assert_eq!(sync["still_running"], false);
    let result = sync["task"]["result"].as_str().unwrap();
    assert!(
        result.contains("earlier characters left out")
            && result.trim_end().ends_with(&"z".repeat(50)),
        "{result}"
    );
    let sync_id = sync["task"]["task_id"].as_str().unwrap().to_string();
    assert!(
        sync["task"]["full_result"]
            .as_str()
            .unwrap()
            .contains(&format!("legate://tasks/{sync_id}"))
    );
    let whole = c
        .read_resource(ReadResourceRequestParams::new(format!(
            "legate://tasks/{sync_id}"
        )))
        .await
        .unwrap();
    let text = match &whole.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let task: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        task["result"].as_str().unwrap().len(),
        301,
        "the resource has the whole result"
    );
    let log = c
        .read_resource(ReadResourceRequestParams::new(format!(
            "legate://tasks/{sync_id}/log"
        )))
        .await
        .unwrap();
    assert!(format!("{:?}", log.contents[0]).contains(&"z".repeat(300)));

    // A wait that times out, then cancel.
    let slow = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "sleep 60000"}),
    )
    .await;
    let slow_id = slow["task"]["task_id"].as_str().unwrap().to_string();
    let waited = ok(
        &c,
        "task_wait",
        json!({"task_ids": [slow_id], "timeout_secs": 1}),
    )
    .await;
    assert_eq!(waited["timed_out"], true);
    let partial = ok(
        &c,
        "task_result",
        json!({"task_id": slow_id, "wait_secs": 1}),
    )
    .await;
    assert!(["queued", "running"].contains(&partial["task"]["status"].as_str().unwrap()));
    let canceled = ok(&c, "task_cancel", json!({"task_id": slow_id})).await;
    assert_eq!(canceled["task"]["status"], "canceled");
    let status = ok(&c, "task_status", json!({"task_id": &slow_id[..6]})).await;
    assert_eq!(status["task"]["status"], "canceled");

    // Only this session's tasks unless asked for all.
    let cli_task = home.submit("fake", "print from the cli");
    let mine = ok(&c, "task_list", json!({})).await;
    let mine = ids_of(&mine["tasks"]);
    assert!(
        mine.contains(&slow_id) && !mine.contains(&cli_task),
        "{mine:?}"
    );
    let all = ok(&c, "task_list", json!({"all": true})).await;
    assert!(ids_of(&all["tasks"]).contains(&cli_task));

    // Failures come back as tool errors that say what to do.
    let e = refused(&c, "delegate", json!({"agent": "nope", "prompt": "x"})).await;
    assert!(
        e.contains("unknown agent 'nope'") && e.contains("- fake: scripted fake agent"),
        "{e}"
    );
    let e = refused(&c, "delegate", json!({"agent": "sh", "prompt": "echo hi"})).await;
    assert!(
        e.contains("unknown agent 'sh'"),
        "sh is not offered to models: {e}"
    );
    let e = refused(&c, "delegate", json!({"agent": "fake", "prompt": "  "})).await;
    assert!(e.contains("prompt is empty"), "{e}");
    let e = refused(&c, "task_status", json!({"task_id": "../../etc"})).await;
    assert!(e.contains("not a task id"), "{e}");
    let e = refused(&c, "task_cancel", json!({"task_id": slow_id})).await;
    assert!(e.contains("already finished"), "{e}");
    let e = refused(&c, "task_wait", json!({"task_ids": []})).await;
    assert!(e.contains("task_ids is empty"), "{e}");
    let bad = c
        .call_tool(
            CallToolRequestParams::new("delegate")
                .with_arguments(json!({"agent": 5}).as_object().cloned().unwrap()),
        )
        .await;
    match bad {
        Ok(r) => assert_eq!(r.is_error, Some(true)),
        Err(e) => assert!(e.to_string().contains("agent"), "{e}"),
    }
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegate_runs_as_an_mcp_task_for_clients_that_negotiate_it() {
    let home = Home::new("");
    let c = stdio(&home, true).await;
    let args = json!({"agent": "fake", "prompt": "sleep 200; print done as a task"});
    let params =
        CallToolRequestParams::new("delegate").with_arguments(args.as_object().cloned().unwrap());
    let created = match c.call_tool_once(params).await.unwrap() {
        CallToolResponse::Task(t) => t,
        other => panic!("expected a task, got {other:?}"),
    };
    let id = created.task.task_id.clone();
    assert_eq!(created.task.status, TaskStatus::Working);
    // The MCP task is the legate task: the CLI sees it under the same id.
    assert_eq!(home.show(&id)["id"], id.as_str());
    let done = settled(&c, &id).await;
    match done.payload {
        TaskPayload::Completed { result } => {
            let r: CallToolResult = serde_json::from_value(Value::Object(result)).unwrap();
            assert_eq!(r.is_error, Some(false));
            assert_eq!(r.structured_content.unwrap()["result"], "done as a task\n");
        }
        other => panic!("{other:?}"),
    }

    // Cancel through the extension.
    let params = CallToolRequestParams::new("delegate").with_arguments(
        json!({"agent": "fake", "prompt": "sleep 60000"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let CallToolResponse::Task(t) = c.call_tool_once(params).await.unwrap() else {
        panic!("a task")
    };
    c.cancel_task(CancelTaskParams::new(t.task.task_id.clone()))
        .await
        .unwrap();
    let done = settled(&c, &t.task.task_id).await;
    assert_eq!(done.status(), TaskStatus::Cancelled);
    assert_eq!(home.show(&t.task.task_id)["status"], "canceled");
    // A task id that does not exist is invalid params.
    let err = c
        .get_task(GetTaskParams::new("ZZZZZZZZ"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no task"), "{err}");
    // An unknown agent is still a tool error the model can read.
    let params = CallToolRequestParams::new("delegate").with_arguments(
        json!({"agent": "nope", "prompt": "x"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    match c.call_tool_once(params).await.unwrap() {
        CallToolResponse::Complete(r) => assert_eq!(r.is_error, Some(true)),
        other => panic!("{other:?}"),
    }
    c.cancel().await.unwrap();
}

/// Python with the pinned `mcp` package, installed into `target/mcp-venv` on first use.
fn python_with_mcp() -> std::path::PathBuf {
    static READY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/mcp-venv");
            let python = venv.join("bin/python");
            let has = |p: &std::path::Path| {
                std::process::Command::new(p)
                    .args(["-c", &format!("import importlib.metadata as m; assert m.version('mcp') == '{PYTHON_MCP}'")])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if !has(&python) {
                let run = |cmd: &mut std::process::Command| {
                    let o = cmd.output().expect("python3 runs");
                    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
                };
                run(std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv));
                run(std::process::Command::new(venv.join("bin/pip")).args(["install", "-q", &format!("mcp=={PYTHON_MCP}")]));
            }
            python
        })
        .clone()
}

/// The Python MCP SDK version the independent-client tests use.
const PYTHON_MCP: &str = "1.30.0";

fn run_python_client(args: &[&str]) {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mcp_client.py");
    let o = std::process::Command::new(python_with_mcp())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("OK"),
        "the Python MCP client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn an_independent_client_runs_the_flow_over_stdio() {
    let home = Home::new("");
    let bin = legate_bin();
    run_python_client(&[
        "stdio",
        bin.to_str().unwrap(),
        home.path().to_str().unwrap(),
    ]);
}

/// `legate serve` on a free loopback port with a token; returns the process and its URL.
fn serve(home: &Home, token: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = home
        .cmd(&["serve", "--listen", "127.0.0.1:0"])
        .env("LEGATE_TOKEN", token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("http://127.0.0.1:"),
        "serve printed {line:?}"
    );
    (child, line.trim().to_string())
}

#[test]
fn an_independent_client_runs_the_flow_over_http_with_the_token() {
    let home = Home::new("");
    let (mut server, url) = serve(&home, "s3cret-token");
    let bin = legate_bin();
    run_python_client(&[
        "http",
        bin.to_str().unwrap(),
        home.path().to_str().unwrap(),
        &url,
        "s3cret-token",
    ]);
    let _ = server.kill();
    let _ = server.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_over_http_needs_the_token() {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let home = Home::new("");
    let (mut server, url) = serve(&home, "another-token");
    let config =
        StreamableHttpClientTransportConfig::with_uri(url.clone()).auth_header("another-token");
    let c = client_config(true)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("an HTTP session with the token");
    // Each HTTP request is served on its own; the task lives in the daemon, so tasks/get works
    // on any of them.
    let params = CallToolRequestParams::new("delegate").with_arguments(
        json!({"agent": "fake", "prompt": "print task over http"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let CallToolResponse::Task(t) = c.call_tool_once(params).await.unwrap() else {
        panic!("a task")
    };
    assert_eq!(
        settled(&c, &t.task.task_id).await.status(),
        TaskStatus::Completed
    );
    assert_eq!(home.show(&t.task.task_id)["result"], "task over http\n");
    let done = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print over http", "wait": true}),
    )
    .await;
    assert_eq!(done["task"]["result"], "over http\n");
    c.cancel().await.unwrap();
    let wrong = StreamableHttpClientTransportConfig::with_uri(url).auth_header("wrong");
    assert!(
        client_config(false)
            .serve(StreamableHttpClientTransport::from_config(wrong))
            .await
            .is_err(),
        "a wrong token is refused"
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn serving_beyond_loopback_without_a_token_is_refused() {
    let home = Home::new("");
    let o = home
        .cmd(&["serve", "--listen", "0.0.0.0:0"])
        .env_remove("LEGATE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("without a token") && err.contains("LEGATE_TOKEN"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_code_sessions_mcp_tasks_come_back_through_its_hooks() {
    use std::io::Write;
    let home = Home::new("");
    // Claude Code runs the hook and the MCP server as children of the same process: here,
    // this test.
    let hook = |event: &str| {
        let mut child = home
            .cmd(&["hook", "claude-code"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let payload = json!({"session_id": "sess-42", "hook_event_name": event, "cwd": "/tmp", "transcript_path": "/tmp/t.jsonl"});
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.to_string().as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    hook("SessionStart");
    let c = stdio(&home, false).await;
    let d = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print from mcp"}),
    )
    .await;
    let id = d["task"]["task_id"].as_str().unwrap().to_string();
    assert_eq!(home.show(&id)["origin"], "claude-code:sess-42");
    home.wait_all(std::slice::from_ref(&id));
    let out = hook("UserPromptSubmit");
    assert!(out.contains(&id) && out.contains("from mcp"), "{out}");
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_http_client_polls_its_task_across_requests() {
    use rmcp::model::ProtocolVersion;
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let home = Home::new("");
    let (mut server, url) = serve(&home, "t0ken");
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header("t0ken");
    // 2026-07-28: no session; every request stands alone and a new server instance serves it.
    let c = client_config(true)
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(config),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("a stateless client");
    let params = CallToolRequestParams::new("delegate").with_arguments(
        json!({"agent": "fake", "prompt": "sleep 300; print stateless"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let CallToolResponse::Task(t) = c.call_tool_once(params).await.unwrap() else {
        panic!("a task")
    };
    let done = settled(&c, &t.task.task_id).await;
    let TaskPayload::Completed { result } = done.payload else {
        panic!("{:?}", done.payload)
    };
    let r: CallToolResult = serde_json::from_value(Value::Object(result)).unwrap();
    assert_eq!(r.structured_content.unwrap()["result"], "stateless\n");
    let _ = c.cancel().await;
    let _ = server.kill();
    let _ = server.wait();
}
