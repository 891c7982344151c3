//! The `legate-test-model` binary: it announces its address, serves, and logs requests.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_announces_its_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_legate-test-model"))
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .expect("announcement")
        .to_owned();
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");
    let body = serde_json::json!({"messages": [{"role": "user", "content": "hi"}]});
    let url = format!("{address}/v1/chat/completions");
    let reply: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "turn 1: hi | earlier: "
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut logged = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logged)
        .unwrap();
    assert_eq!(logged.trim(), body.to_string());
}

#[test]
fn binary_refuses_unknown_arguments() {
    let status = Command::new(env!("CARGO_BIN_EXE_legate-test-model"))
        .arg("--bogus")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
