//! `legate-test-model [--port PORT]`: runs the scripted model server (OpenAI Chat Completions
//! and Responses, Anthropic Messages and Gemini APIs).
//!
//! It prints `listening on http://127.0.0.1:PORT` on stdout, then serves until killed; the
//! OpenAI base URL is that address followed by `/v1`, the Anthropic and Gemini base URL the
//! address itself. `--port 0`, the default, picks a free port. Each request body received by a
//! model route is written to stderr as one JSON line (within 200 ms); a request to any other
//! path (a token count, a route the server lacks) as `{"path": PATH, "body": BODY}`. It exists so that a person (or a script) can point a real
//! agent CLI at the scripted model by hand; see the library documentation for the script.

use legate_test_model::ModelServer;
use std::io::Write;

fn main() {
    let port = match parse_port(std::env::args().skip(1)) {
        Ok(port) => port,
        Err(message) => {
            eprintln!("legate-test-model: {message}\nusage: legate-test-model [--port PORT]");
            std::process::exit(2);
        }
    };
    let server = match ModelServer::start_on(port) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("legate-test-model: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on http://{}", server.addr());
    let _ = std::io::stdout().flush();
    let mut seen = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let requests = server.received();
        for request in &requests[seen..] {
            if request.is_model_call() {
                eprintln!("{}", request.body);
            } else {
                let line = serde_json::json!({"path": request.path, "body": request.body});
                eprintln!("{line}");
            }
        }
        seen = requests.len();
    }
}

/// The port asked for by the command line arguments `args`: `--port N` or `--port=N`, else 0.
fn parse_port(mut args: impl Iterator<Item = String>) -> Result<u16, String> {
    let mut port = 0;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--port" => args.next().ok_or("--port needs a value")?,
            _ => match arg.strip_prefix("--port=") {
                Some(v) => v.to_owned(),
                None => return Err(format!("unknown argument '{arg}'")),
            },
        };
        port = value.parse().map_err(|_| format!("bad port '{value}'"))?;
    }
    Ok(port)
}
