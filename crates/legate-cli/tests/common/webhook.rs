//! A local webhook receiver that records what it is sent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What the test webhook server received: (path, task JSON) in arrival order.
pub type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A local HTTP server: `/ok` answers 200; `/flaky` answers 500 to a task's first delivery
/// and 200 to the next; `/fail` always 500.
pub fn webhook_server() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let seen = got.clone();
    std::thread::spawn(move || {
        let mut failed_once: HashMap<String, bool> = HashMap::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // The path without its query string.
            let path = request_line
                .split_whitespace()
                .nth(1)
                .and_then(|t| t.split('?').next())
                .unwrap_or("")
                .to_string();
            let mut length = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let task: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let id = task["id"].as_str().unwrap_or("").to_string();
            let fail = path == "/fail" || (path == "/flaky" && !failed_once.contains_key(&id));
            if fail {
                failed_once.insert(id, true);
            }
            seen.lock().unwrap().push((path, task));
            let status = if fail {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, got)
}

/// The ids of the tasks delivered to `path`, in arrival order.
pub fn ids_at(got: &Received, path: &str) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, t)| t["id"].as_str().unwrap().to_string())
        .collect()
}
