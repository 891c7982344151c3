//! Driving legate's MCP server from tests: rmcp's client over a child process or HTTP, and the
//! pinned Python SDK as an independent client.

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, GetTaskParams,
    Implementation,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::Value;

use super::{Home, legate_bin};

/// A connected rmcp client.
pub type McpClient = RunningService<RoleClient, ClientConfig>;

/// A client that declares the tasks extension, or not.
pub fn client_config(tasks: bool) -> ClientConfig {
    let caps = if tasks {
        ClientCapabilities::builder().enable_tasks().build()
    } else {
        ClientCapabilities::default()
    };
    ClientConfig::new(caps, Implementation::new("legate-tests", "0"))
}

/// `legate mcp` in this home, as a host starts it.
pub async fn stdio(home: &Home, tasks: bool) -> McpClient {
    stdio_with(home, tasks, &[]).await
}

/// `legate mcp` in this home with these extra environment variables.
pub async fn stdio_with(home: &Home, tasks: bool, vars: &[(&str, &str)]) -> McpClient {
    stdio_args(home, tasks, &[], vars).await
}

/// `legate mcp ARGS…` in this home with these extra environment variables.
pub async fn stdio_args(
    home: &Home,
    tasks: bool,
    args: &[&str],
    vars: &[(&str, &str)],
) -> McpClient {
    let path = home.path().to_path_buf();
    let cmd = tokio::process::Command::new(legate_bin()).configure(|c| {
        c.arg("mcp")
            .args(args)
            .env("LEGATE_HOME", &path)
            .env_remove("LEGATE_ORIGIN")
            .env_remove("LEGATE_DEPTH")
            .env_remove("LEGATE_TASK_ID")
            .envs(vars.iter().copied());
    });
    client_config(tasks)
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .expect("the MCP session starts")
}

/// Calls a tool; returns the result.
pub async fn call(c: &McpClient, tool: &str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    c.call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// Calls a tool that must succeed; returns its answer (see [`answer`]).
pub async fn ok(c: &McpClient, tool: &str, args: Value) -> Value {
    let r = call(c, tool, args.clone()).await;
    assert_ne!(
        r.is_error,
        Some(true),
        "{tool} {args} failed: {:?}",
        r.content
    );
    answer(&r)
}

/// A tool's answer: the JSON of its one text block. legate sends it once, with no
/// structured content beside it.
pub fn answer(r: &CallToolResult) -> Value {
    assert!(
        r.structured_content.is_none(),
        "the answer is sent once, as text: {r:?}"
    );
    assert_eq!(r.content.len(), 1, "{r:?}");
    let text = &r.content[0].as_text().expect("a text block").text;
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Calls a tool that must fail; returns its text.
pub async fn refused(c: &McpClient, tool: &str, args: Value) -> String {
    let r = call(c, tool, args.clone()).await;
    assert_eq!(r.is_error, Some(true), "{tool} {args} should fail");
    r.content
        .iter()
        .filter_map(|b| b.as_text())
        .map(|t| t.text.clone())
        .collect()
}

/// Polls `tasks/get` until the task is terminal (30 s at most); returns it.
pub async fn settled(c: &McpClient, id: &str) -> rmcp::model::DetailedTask {
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

/// The `task_id`s of a list of tasks.
pub fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect()
}

/// `legate serve` on a free loopback port with a token; returns the process and its URL.
pub fn serve(home: &Home, token: &str) -> (std::process::Child, String) {
    let mut cmd = home.cmd(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("LEGATE_TOKEN", token);
    let (child, url, _) = start_serve(cmd);
    (child, url)
}

/// Starts a `legate serve` command; returns the process, its URL (the first line it prints)
/// and its stderr as it arrives.
pub fn start_serve(
    mut cmd: std::process::Command,
) -> (
    std::process::Child,
    String,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    use std::io::{BufRead, Read};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (sink, mut pipe) = (stderr.clone(), child.stderr.take().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("http://127.0.0.1:") || line.starts_with("http://0.0.0.0:"),
        "serve printed {line:?}; stderr: {}",
        stderr.lock().unwrap()
    );
    (child, line.trim().to_string(), stderr)
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

/// Runs `tests/support/mcp_client.py` with these arguments; it must print OK.
pub fn run_python_client(args: &[&str]) {
    run_python_script("mcp_client.py", args);
}

/// Runs the script `tests/support/NAME` with the pinned Python SDK and these arguments; it
/// must print OK.
pub fn run_python_script(name: &str, args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name);
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
