//! Output: stdout and stderr that never panic, the `FAKE_AGENT_RECORD` lines, and exiting.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes `bytes` to stdout and flushes; on a write error (e.g. a closed pipe) the agent ends
/// quietly with status 0.
pub fn stdout(bytes: &[u8]) {
    let mut o = std::io::stdout().lock();
    if o.write_all(bytes).and_then(|()| o.flush()).is_err() {
        drop(o);
        finish(0);
    }
}

/// Writes `line` and a newline to stderr, ignoring errors.
pub fn err(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(format!("{line}\n").as_bytes());
}

/// Flushes stdout, appends the `end` record and exits with `code`.
pub fn finish(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    record("end");
    std::process::exit(code);
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Appends `WHAT TASK PID UNIX_MS` to `$FAKE_AGENT_RECORD`, if set, with a single `write` on
/// an `O_APPEND` file so that concurrent agents never interleave.
pub fn record(what: &str) {
    let Some(path) = std::env::var_os("FAKE_AGENT_RECORD") else {
        return;
    };
    let task = std::env::var("LEGATE_TASK_ID").unwrap_or_else(|_| "-".into());
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let line = format!("{what} {task} {} {ms}\n", std::process::id());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    match file.and_then(|mut f| f.write(line.as_bytes())) {
        Ok(n) if n == line.len() => {}
        Ok(n) => err(&format!(
            "fake-agent: short write ({n} bytes) to the record"
        )),
        Err(e) => err(&format!("fake-agent: cannot write the record: {e}")),
    }
}
