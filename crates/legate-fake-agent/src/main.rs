//! `legate-fake-agent`: a deterministic stand-in for a model-backed agent.
//!
//! legate's tests and benchmarks drive it instead of a real model. Its behaviour is scripted
//! by its prompt: steps separated by newlines or `;`.
//!
//! | step | effect |
//! |---|---|
//! | `print TEXT` / `eprint TEXT` | TEXT and a newline on stdout / stderr |
//! | `sleep MS` | sleep MS milliseconds |
//! | `exit CODE` | exit with CODE |
//! | `fail TEXT` | TEXT on stderr, exit 1 |
//! | `signal NAME` | send itself TERM, KILL, SEGV, ABRT, INT or HUP |
//! | `ignore-term` | ignore SIGTERM from now on |
//! | `grandchild MS` | start a grandchild in the same process group that ignores TERM and lives MS ms; prints `grandchild PID` |
//! | `flood BYTES` | write BYTES bytes of text to stdout |
//! | `hang` | sleep forever |
//! | `invalid-utf8` | write bytes that are not UTF-8 |
//! | `env NAME` | print `NAME=VALUE` |
//! | `cwd` | print the working directory |
//! | `stdin` | print `stdin=closed` when stdin is at EOF, else `stdin=open` |
//!
//! Flags before the prompt: `--stdin` (read the prompt from stdin), `--prompt-file PATH`,
//! `--echo` (print the prompt verbatim instead of running it), `--dump PATH` (write the prompt
//! received to PATH first). With `FAKE_AGENT_RECORD=PATH` it appends `start TASK PID MS` and
//! `end TASK PID MS` lines (one `write` each, so concurrent agents never interleave).

mod sys;

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__grandchild") {
        sys::ignore_term();
        let ms = args.get(1).and_then(|m| m.parse().ok()).unwrap_or(60_000);
        std::thread::sleep(Duration::from_millis(ms));
        return;
    }
    let opts = match Options::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fake-agent: {e}");
            std::process::exit(2);
        }
    };
    let prompt = match opts.read_prompt() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fake-agent: cannot read the prompt: {e}");
            std::process::exit(2);
        }
    };
    if let Some(path) = &opts.dump {
        std::fs::write(path, &prompt).expect("write --dump file");
    }
    record("start");
    if opts.echo {
        let _ = std::io::stdout().write_all(&prompt);
        finish(0);
    }
    let text = String::from_utf8_lossy(&prompt).into_owned();
    for step in text
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        run_step(step);
    }
    finish(0);
}

struct Options {
    stdin: bool,
    prompt_file: Option<String>,
    echo: bool,
    dump: Option<String>,
    prompt: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            stdin: false,
            prompt_file: None,
            echo: false,
            dump: None,
            prompt: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--stdin" => o.stdin = true,
                "--echo" => o.echo = true,
                "--prompt-file" => {
                    o.prompt_file = Some(it.next().ok_or("--prompt-file needs a path")?.clone())
                }
                "--dump" => o.dump = Some(it.next().ok_or("--dump needs a path")?.clone()),
                _ => o.prompt = Some(a.clone()),
            }
        }
        Ok(o)
    }

    fn read_prompt(&self) -> std::io::Result<Vec<u8>> {
        if self.stdin {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Ok(buf)
        } else if let Some(f) = &self.prompt_file {
            std::fs::read(f)
        } else {
            Ok(self.prompt.clone().unwrap_or_default().into_bytes())
        }
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn record(what: &str) {
    let Some(path) = std::env::var_os("FAKE_AGENT_RECORD") else {
        return;
    };
    let task = std::env::var("LEGATE_TASK_ID").unwrap_or_else(|_| "-".into());
    let line = format!("{what} {task} {} {}\n", std::process::id(), now_ms());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

fn finish(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    record("end");
    std::process::exit(code);
}

fn out(bytes: &[u8]) {
    let mut o = std::io::stdout().lock();
    if o.write_all(bytes).and_then(|_| o.flush()).is_err() {
        std::process::exit(0);
    }
}

fn run_step(step: &str) {
    let (word, rest) = step.split_once(' ').unwrap_or((step, ""));
    let rest = rest.trim();
    let num = |r: &str| r.parse::<u64>().unwrap_or(0);
    match word {
        "print" => out(format!("{rest}\n").as_bytes()),
        "eprint" => eprintln!("{rest}"),
        "sleep" => std::thread::sleep(Duration::from_millis(num(rest))),
        "exit" => finish(rest.parse().unwrap_or(1)),
        "fail" => {
            eprintln!("{rest}");
            finish(1);
        }
        "signal" => sys::raise(rest),
        "ignore-term" => sys::ignore_term(),
        "grandchild" => {
            let exe = std::env::current_exe().expect("own path");
            let child = std::process::Command::new(exe)
                .args(["__grandchild", &num(rest).to_string()])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn grandchild");
            out(format!("grandchild {}\n", child.id()).as_bytes());
        }
        "flood" => {
            let line = b"flood-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghij\n";
            let chunk: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
            let mut left = num(rest) as usize;
            while left > 0 {
                let n = left.min(chunk.len());
                out(&chunk[..n]);
                left -= n;
            }
        }
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        "invalid-utf8" => out(b"bad \xff\xfe utf8\n"),
        "env" => out(format!("{rest}={}\n", std::env::var(rest).unwrap_or_default()).as_bytes()),
        "cwd" => out(format!(
            "{}\n",
            std::env::current_dir().unwrap_or_default().display()
        )
        .as_bytes()),
        "stdin" => {
            let mut b = [0u8; 1];
            let open = matches!(std::io::stdin().read(&mut b), Ok(n) if n > 0);
            out(if open {
                b"stdin=open\n"
            } else {
                b"stdin=closed\n"
            });
        }
        other => {
            eprintln!("fake-agent: unknown step '{other}'");
            std::process::exit(2);
        }
    }
}
