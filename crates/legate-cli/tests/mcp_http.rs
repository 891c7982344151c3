//! The MCP server over streamable HTTP (`legate serve`) with its token, and an independent
//! client (Python's official SDK) over stdio and HTTP.

mod common;

use common::mcp::{client_config, ok, run_python_client, serve, settled};
use common::{Home, legate_bin};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, TaskPayload, TaskStatus,
};
use serde_json::{Value, json};

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
    assert_eq!(common::mcp::answer(&r)["result"], "stateless\n");
    let _ = c.cancel().await;
    let _ = server.kill();
    let _ = server.wait();
}
