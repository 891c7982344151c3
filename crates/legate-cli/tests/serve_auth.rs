//! Who may use `legate serve`: a bearer token always (one is made and kept private when none is
//! given), no browser page from another origin, no rebound host name; serving openly only when
//! asked for, on loopback, with a warning.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command};
use std::time::Duration;

use common::mcp::start_serve;
use common::{Home, poll_until, refused};

/// An MCP `initialize` request, as any client starts.
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;

/// The `host:port` of a served `http://host:port/mcp`.
fn addr_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string()
}

/// POSTs `initialize` to `url` with these extra headers (a `Host` among them replaces the
/// real one); returns the HTTP status.
fn status(url: &str, headers: &[(&str, &str)]) -> u16 {
    let addr = addr_of(url);
    let mut s = TcpStream::connect(&addr).unwrap();
    let host = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map_or(addr.as_str(), |(_, v)| v);
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
        INITIALIZE.len()
    );
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(INITIALIZE.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {line:?}"))
}

/// `legate serve ARGS` on a free loopback port, without `LEGATE_TOKEN`.
fn serve(home: &Home, args: &[&str]) -> (Child, String, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    start_serve(home.cmd(&all))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn without_a_token_serve_makes_a_private_one_and_requires_it() {
    let home = Home::new("");
    let (child, url, stderr) = serve(&home, &[]);
    let file = home.path().join("serve.token");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "a long random token: {token}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only its owner can read the token file");
    let told = |s: &str| {
        poll_until(Duration::from_secs(10), || {
            stderr.lock().unwrap().contains(s)
        })
    };
    assert!(
        told(&file.display().to_string()) && told("Authorization: Bearer"),
        "serve says how clients authenticate: {}",
        stderr.lock().unwrap()
    );
    assert!(
        !stderr.lock().unwrap().contains(&token),
        "the token itself is not printed"
    );

    assert_eq!(status(&url, &[]), 401, "no token");
    assert_eq!(status(&url, &[("Authorization", "Bearer wrong")]), 401);
    assert_eq!(status(&url, &[("Authorization", &token)]), 401, "no scheme");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} {token}");
        assert_eq!(status(&url, &[("Authorization", &auth)]), 200, "{auth}");
    }
    stop(child);

    // A later start keeps the token, so configured clients go on working.
    let (child, url, _) = serve(&home, &[]);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
    let auth = format!("Bearer {token}");
    assert_eq!(status(&url, &[("Authorization", &auth)]), 200);
    stop(child);
}

#[test]
fn another_local_user_can_neither_use_the_server_nor_read_its_token() {
    let home = Home::new("");
    // The home may be entered (not listed) by others: the token file's own mode must guard it.
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let (child, url, _) = serve(&home, &[]);
    let file = home.path().join("serve.token");
    let as_nobody = |program: &str, args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", program])
            .args(args)
            .output()
            .unwrap()
    };
    let cat = as_nobody("cat", &[file.to_str().unwrap()]);
    assert!(
        !cat.status.success() && cat.stdout.is_empty(),
        "nobody read the token: {}",
        String::from_utf8_lossy(&cat.stdout)
    );
    assert!(String::from_utf8_lossy(&cat.stderr).contains("Permission denied"));
    let curl = |auth: Option<&str>| {
        let mut args = vec![
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Accept: application/json, text/event-stream",
            "--data",
            INITIALIZE,
        ];
        let header = auth.map(|a| format!("Authorization: {a}"));
        if let Some(h) = &header {
            args.extend(["-H", h]);
        }
        args.push(&url);
        let o = as_nobody("curl", &args);
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    assert_eq!(curl(None), "401", "nobody without a token");
    assert_eq!(curl(Some("Bearer guessed")), "401", "nobody with a guess");
    // What refused nobody is the token, not the network.
    let token = std::fs::read_to_string(&file).unwrap();
    assert_eq!(curl(Some(&format!("Bearer {}", token.trim()))), "200");
    stop(child);
}

#[test]
fn serving_without_a_token_takes_a_flag_warns_and_stays_on_loopback() {
    let home = Home::new("");
    let (child, url, stderr) = serve(&home, &["--no-token"]);
    assert!(
        poll_until(Duration::from_secs(10), || {
            let e = stderr.lock().unwrap();
            e.contains("WARNING") && e.contains("without a token")
        }),
        "{}",
        stderr.lock().unwrap()
    );
    assert_eq!(status(&url, &[]), 200, "open, as asked");
    assert!(!home.path().join("serve.token").exists());
    stop(child);

    refused(
        &home,
        &["serve", "--no-token", "--listen", "0.0.0.0:0"],
        &["refusing to serve 0.0.0.0:0 without a token", "--no-token"],
    );
    let o = home
        .cmd(&["serve", "--no-token", "--listen", "127.0.0.1:0"])
        .env("LEGATE_TOKEN", "a-token-0123456789")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("contradict"));
    let o = home
        .cmd(&["serve", "--listen", "127.0.0.1:0"])
        .env("LEGATE_TOKEN", "two words")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("visible ASCII without spaces"));
}

#[test]
fn beyond_loopback_a_token_is_made_and_required() {
    let home = Home::new("");
    let (child, url, _) = start_serve(home.cmd(&["serve", "--listen", "0.0.0.0:0"]));
    let url = url.replace("0.0.0.0", "127.0.0.1");
    let token = std::fs::read_to_string(home.path().join("serve.token")).unwrap();
    assert_eq!(status(&url, &[]), 401);
    let auth = format!("Bearer {}", token.trim());
    // Reached by any name, as a server on the network is.
    assert_eq!(
        status(
            &url,
            &[("Authorization", &auth), ("Host", "legate.example:7171")]
        ),
        200
    );
    assert_eq!(
        status(
            &url,
            &[
                ("Authorization", &auth),
                ("Origin", "http://localhost:3000")
            ]
        ),
        403,
        "off loopback, no browser origin is accepted unless allowed"
    );
    stop(child);
}

#[test]
fn browser_requests_from_other_origins_and_rebound_hosts_are_refused() {
    let home = Home::new("");
    let token = "origin-test-token";
    let mut cmd = home.cmd(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--allow-origin",
        "https://app.example:443",
    ]);
    cmd.env("LEGATE_TOKEN", token);
    let (child, url, _) = start_serve(cmd);
    let auth = ("Authorization", "Bearer origin-test-token");
    assert_eq!(status(&url, &[auth]), 200, "no Origin: not a browser");
    for ok in [
        "http://localhost:5173",
        "http://127.0.0.1:8080",
        "http://[::1]:1",
        "https://app.example",
    ] {
        assert_eq!(status(&url, &[auth, ("Origin", ok)]), 200, "{ok}");
    }
    for bad in [
        "http://evil.example",
        "https://app.example:8443",
        "http://app.example",
        "null",
    ] {
        assert_eq!(status(&url, &[auth, ("Origin", bad)]), 403, "{bad}");
    }
    // DNS rebinding: a page whose name now points to 127.0.0.1.
    assert_eq!(status(&url, &[auth, ("Host", "evil.example")]), 403);
    assert_eq!(status(&url, &[auth, ("Host", "localhost")]), 200);
    stop(child);
    refused(
        &home,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-origin",
            "app.example",
        ],
        &["--allow-origin \"app.example\" is not an origin"],
    );
}
