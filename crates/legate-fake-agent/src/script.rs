//! The script interpreter: one function per step (see the crate documentation).

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::out::{self, finish};
use crate::{format, sys};

/// One 64-byte line of `flood` output.
const FLOOD_LINE: &[u8; 64] = b"flood-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghij\n";

/// The size of each `flood` write.
const FLOOD_CHUNK: usize = 64 * 1024;

/// Runs every step of `prompt` in order; returns when all have run.
pub fn run(prompt: &str) {
    for step in prompt
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        step_once(step);
    }
}

/// Runs one trimmed, non-empty step.
fn step_once(step: &str) {
    let (word, arg) = step
        .split_once(char::is_whitespace)
        .map_or((step, ""), |(w, a)| (w, a.trim_start()));
    let num = || {
        arg.parse::<u64>().unwrap_or_else(|_| {
            out::err(&format!("fake-agent: bad step '{step}'"));
            finish(2)
        })
    };
    match word {
        "print" => {
            if !format::text(arg) {
                out::stdout(format!("{arg}\n").as_bytes());
            }
        }
        "shout" => {
            let loud = arg.to_uppercase();
            if !format::text(&loud) {
                out::stdout(format!("{loud}\n").as_bytes());
            }
        }
        "tool" => {
            let (name, detail) = arg.split_once(' ').unwrap_or((arg, ""));
            format::tool(name, detail);
        }
        "agent-error" => format::error(arg),
        "recall" => {
            let earlier = format::earlier().unwrap_or_default().join(" / ");
            let said = format!("earlier: {earlier}");
            if !format::text(&said) {
                out::stdout(format!("{said}\n").as_bytes());
            }
        }
        "eprint" => out::err(arg),
        "sleep" => std::thread::sleep(Duration::from_millis(num())),
        "exit" => match arg.parse::<i32>() {
            Ok(code) => finish(code),
            Err(_) => {
                out::err(&format!("fake-agent: bad step '{step}'"));
                finish(2)
            }
        },
        "fail" => {
            out::err(arg);
            finish(1);
        }
        "signal" => signal(arg),
        "ignore-term" => sys::ignore_term(),
        "grandchild" => grandchild(num()),
        "flood" => {
            let nums: Vec<u64> = arg
                .split_whitespace()
                .map(|n| {
                    n.parse().unwrap_or_else(|_| {
                        out::err(&format!("fake-agent: bad step '{step}'"));
                        finish(2)
                    })
                })
                .collect();
            match nums[..] {
                [bytes] => flood(bytes),
                [n, size] => flood_messages(n, size),
                _ => {
                    out::err(&format!("fake-agent: bad step '{step}'"));
                    finish(2)
                }
            }
        }
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        "invalid-utf8" => out::stdout(b"bad \xff\xfe utf8\n"),
        "env" => {
            let value = std::env::var_os(arg).unwrap_or_default();
            out::stdout(&[arg.as_bytes(), b"=", value.as_bytes(), b"\n"].concat());
        }
        "cwd" => {
            let dir = std::env::current_dir().unwrap_or_default();
            out::stdout(&[dir.as_os_str().as_bytes(), b"\n"].concat());
        }
        "stdin" => {
            let mut b = [0u8; 1];
            let open = matches!(std::io::stdin().lock().read(&mut b), Ok(n) if n > 0);
            out::stdout(if open {
                b"stdin=open\n"
            } else {
                b"stdin=closed\n"
            });
        }
        "write" | "append" => {
            let Some((path, text)) = arg.split_once(' ') else {
                out::err(&format!("fake-agent: bad step '{step}'"));
                finish(2)
            };
            crate::files::write(path, text, word == "append");
        }
        "commit" => crate::files::commit(arg),
        "wait-file" => {
            while !std::path::Path::new(arg).exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        other => {
            out::err(&format!("fake-agent: unknown step '{other}'"));
            finish(2);
        }
    }
}

/// `signal NAME`.
pub(crate) fn signal(name: &str) {
    let Some(sig) = sys::signal_by_name(name) else {
        out::err(&format!("fake-agent: unknown signal '{name}'"));
        finish(2);
    };
    let _ = std::io::Write::flush(&mut std::io::stdout());
    sys::raise(sig);
    // Only a TERM ignored by `ignore-term` gets here: the script goes on.
}

/// `grandchild MS`: a re-exec of this binary that sleeps `ms` milliseconds with TERM ignored,
/// in this process group, with its stdio on `/dev/null`; not waited for.
fn grandchild(ms: u64) {
    let exe = std::env::current_exe().unwrap_or_else(|e| {
        out::err(&format!("fake-agent: cannot find my own binary: {e}"));
        finish(2)
    });
    let mut cmd = Command::new(exe);
    cmd.arg0("legate-fake-agent-grandchild")
        .args([crate::GRANDCHILD, &ms.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    sys::ignore_term_in_child(&mut cmd);
    match cmd.spawn() {
        // Dropping the handle neither waits for nor kills the grandchild.
        Ok(child) => out::stdout(format!("grandchild {}\n", child.id()).as_bytes()),
        Err(e) => {
            out::err(&format!("fake-agent: cannot start the grandchild: {e}"));
            finish(2);
        }
    }
}

/// The `i`th message of a `flood N SIZE`: `m<i> ` and filler, `size` bytes in all (at least
/// the prefix).
pub fn flood_message(i: u64, size: u64, into: &mut String) {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let prefix = format!("m{i} ");
    if into.len() != size.max(prefix.len()) || !into.ends_with('x') {
        // The first message (or a new size): the filler is made once.
        *into = "x".repeat(size.max(prefix.len()));
    }
    into.replace_range(..prefix.len(), &prefix);
}

/// `flood N SIZE`: `n` messages of `size` bytes, one at a time: in the format's assistant text
/// when one is active, else as lines (the newline counted in `size`).
fn flood_messages(n: u64, size: u64) {
    let mut text = String::new();
    for i in 0..n {
        flood_message(i, size, &mut text);
        if !format::flood_text(&text) {
            let body = &text.as_bytes()[..text.len().saturating_sub(1)];
            out::stdout(&[body, b"\n"].concat());
        }
    }
}

/// `flood BYTES`: exactly `bytes` bytes of [`FLOOD_LINE`]s in [`FLOOD_CHUNK`] writes.
fn flood(bytes: u64) {
    let chunk: Vec<u8> = FLOOD_LINE
        .iter()
        .copied()
        .cycle()
        .take(FLOOD_CHUNK)
        .collect();
    let mut left = bytes;
    while left > 0 {
        // Every chunk is a whole number of lines, so the pattern continues across chunks.
        let n = usize::try_from(left).map_or(FLOOD_CHUNK, |l| l.min(FLOOD_CHUNK));
        out::stdout(&chunk[..n]);
        left -= n as u64;
    }
}
