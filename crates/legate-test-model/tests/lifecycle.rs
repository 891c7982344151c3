//! Stopping a `ModelServer`: dropping it ends the server at once, requests in flight included.

use legate_test_model::ModelServer;
use std::time::{Duration, Instant};

#[test]
fn drop_stops_the_server_even_during_a_slow_request() {
    let server = ModelServer::start().unwrap();
    let addr = server.addr();
    let mut held = std::net::TcpStream::connect(addr).unwrap();
    let body = r#"{"messages":[{"role":"user","content":"SLOW60"}]}"#;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}",
        body.len()
    );
    std::io::Write::write_all(&mut held, format!("{head}\r\n\r\n{body}").as_bytes()).unwrap();
    while server.requests().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(std::net::TcpStream::connect(addr).is_err());
}
