//! `legate-fake-agent`: a deterministic stand-in for a model-backed agent.
//!
//! legate's tests and benchmarks run it instead of a real model. Its behaviour is scripted by
//! its prompt.
//!
//! # Command line
//!
//! `legate-fake-agent [FLAGS] [PROMPT]`. Flags come before the prompt; the first argument that
//! is not a flag (or everything after `--`) is positional, and the prompt is the last positional
//! argument. Flags:
//!
//! - `--stdin`: read the whole prompt (bytes, any size) from standard input instead;
//! - `--prompt-file PATH`: read the prompt from PATH instead;
//! - `--prompt=TEXT`: the prompt is TEXT (as Gemini CLI takes it);
//! - `--dump PATH`: first write the exact prompt bytes received to PATH (create/truncate);
//! - `--echo`: do not interpret the prompt; write it verbatim to stdout and exit 0;
//! - `--format claude|codex|gemini|opencode`: print like that agent CLI (see `format.rs`), with
//!   `--resume ID` / `--session ID` / `resume ID` continuing a session and `--model M` ignored;
//! - `--acp`: speak the Agent Client Protocol on stdin/stdout (see `acp.rs`).
//!
//! # Script
//!
//! The prompt is a list of steps separated by newlines or `;` (so no step can contain a `;`).
//! Each step is trimmed and empty steps are skipped. A step is a word, then whitespace, then
//! its argument. Steps run in order; when all have run, the agent exits 0.
//!
//! | step | effect |
//! |---|---|
//! | `print TEXT` | TEXT and `\n` on stdout (flushed) |
//! | `shout TEXT` | as `print`, TEXT in upper case: a result whose words the prompt does not hold |
//! | `eprint TEXT` | TEXT and `\n` on stderr |
//! | `sleep MS` | sleep MS milliseconds |
//! | `exit CODE` | exit with CODE at once |
//! | `fail TEXT` | TEXT and `\n` on stderr, exit 1 |
//! | `signal NAME` | send itself SIG`NAME`: `TERM`, `KILL`, `SEGV`, `ABRT`, `INT` or `HUP` (no core file); a TERM ignored by `ignore-term` lets the script go on |
//! | `ignore-term` | ignore SIGTERM from now on (KILL still kills) |
//! | `grandchild MS` | start a grandchild (same process group, TERM ignored from its first instruction, stdio on `/dev/null`) that lives MS ms; print `grandchild PID`; do not wait for it |
//! | `flood BYTES` | write exactly BYTES bytes of 64-byte lines `flood-0123…ghij\n` to stdout, in 64 KiB chunks |
//! | `flood N SIZE` | N messages of SIZE bytes each (`m<i> ` and `x` filler), one at a time: the format's assistant text (the answer becomes the last one), or without a format N lines of SIZE bytes with their newline |
//! | `hang` | sleep forever |
//! | `invalid-utf8` | write the bytes `b"bad \xff\xfe utf8\n"` to stdout |
//! | `env NAME` | print `NAME=VALUE` (`NAME=` when unset) |
//! | `cwd` | print the working directory |
//! | `stdin` | one read of stdin: print `stdin=closed` at EOF, else `stdin=open` |
//! | `tool NAME DETAIL` | with a format: a tool call |
//! | `agent-error MESSAGE` | with a format: the format's error, then exit 1 |
//! | `recall` | say `earlier: ` and the session's earlier prompts joined by ` / ` |
//! | `write PATH TEXT` | create or replace file PATH (relative to the working directory; parent directories made) holding TEXT and `\n` |
//! | `append PATH TEXT` | add a line TEXT to file PATH (created when missing) |
//! | `wait-file PATH` | wait until PATH exists (checked every 10 ms) |
//! | `commit MESSAGE` | `git add -A` then `git commit -q -m MESSAGE` in the working directory (the user's git and configuration); a failure prints git's words on stderr and exits 1 |
//!
//! An unknown step prints `fake-agent: unknown step 'WORD'` on stderr and exits 2; a step with a
//! missing or malformed number prints `fake-agent: bad step 'STEP'` and exits 2. A plain prompt
//! like `hello world` is therefore an error: say `print hello world`.
//!
//! SIGTERM starts at its default action whatever the parent left, so the agent dies on TERM
//! unless the script says `ignore-term`. A write error on stdout (e.g. a closed pipe) ends the
//! agent quietly with status 0.
//!
//! # Records
//!
//! With `FAKE_AGENT_RECORD=PATH` the agent appends `start TASK PID UNIX_MS` once the prompt is
//! read and `end TASK PID UNIX_MS` whenever it exits by itself (end of script, `exit`, `fail`, an
//! error, a closed stdout). TASK is `$LEGATE_TASK_ID` or `-`. Each line is one `write` on an
//! `O_APPEND` file, so concurrent agents never interleave. An agent killed by a signal writes no
//! `end` line.

mod acp;
mod files;
mod format;
mod out;
mod script;
mod sessions;
mod sys;

use std::io::Read;
use std::time::Duration;

/// The hidden first argument that makes the process a grandchild (see `grandchild MS`).
const GRANDCHILD: &str = "__grandchild";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(GRANDCHILD) {
        grandchild(args.get(1).map(String::as_str));
    }
    sys::default_term();
    if args.first().map(String::as_str) == Some("--acp") {
        acp::serve();
    }
    let opts = Options::parse(&args).unwrap_or_else(|e| {
        out::err(&format!("fake-agent: {e}"));
        std::process::exit(2);
    });
    let prompt = opts.read_prompt().unwrap_or_else(|e| {
        out::err(&format!("fake-agent: cannot read the prompt: {e}"));
        std::process::exit(2);
    });
    if let Some(path) = &opts.dump
        && let Err(e) = std::fs::write(path, &prompt)
    {
        out::err(&format!("fake-agent: cannot write {path}: {e}"));
        std::process::exit(2);
    }
    out::record("start");
    if opts.echo {
        out::stdout(&prompt);
        out::finish(0);
    }
    let prompt = String::from_utf8_lossy(&prompt);
    if let Some(f) = opts.format {
        format::start(f, opts.session.clone(), &prompt);
    }
    script::run(&prompt);
    format::finish();
    out::finish(0);
}

/// The grandchild's whole life: ignore TERM, sleep `ms` milliseconds, exit 0.
fn grandchild(ms: Option<&str>) -> ! {
    sys::ignore_term();
    let ms = ms.and_then(|m| m.parse().ok()).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(ms));
    std::process::exit(0);
}

/// The command line, parsed.
#[derive(Debug, Default)]
struct Options {
    /// `--stdin`: the prompt is standard input.
    stdin: bool,
    /// `--prompt-file PATH`: the prompt is this file.
    prompt_file: Option<String>,
    /// `--echo`: write the prompt back instead of running it.
    echo: bool,
    /// `--dump PATH`: copy the prompt here first.
    dump: Option<String>,
    /// The last positional argument.
    prompt: Option<String>,
    /// `--format NAME`: speak like that agent CLI.
    format: Option<format::Format>,
    /// `--resume ID`, `--session ID` or positional `resume ID`: continue that session.
    session: Option<String>,
}

impl Options {
    /// Parses the arguments after the program name.
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match a.as_str() {
                "--stdin" => o.stdin = true,
                "--echo" => o.echo = true,
                "--prompt-file" => o.prompt_file = Some(value(a)?),
                "--dump" => o.dump = Some(value(a)?),
                "--format" => o.format = Some(format::Format::parse(&value(a)?)?),
                "--resume" | "--session" => o.session = Some(value(a)?),
                "--model" => {
                    value(a)?;
                }
                "resume" if o.format.is_some() => o.session = Some(value(a)?),
                flag if flag.starts_with("--prompt=") => {
                    o.prompt = Some(flag["--prompt=".len()..].to_string());
                }
                "--" => {
                    o.prompt = it.next_back().cloned().or(o.prompt);
                    break;
                }
                _ => {
                    // The first positional argument ends the flags; the last one is the prompt.
                    o.prompt = Some(it.next_back().unwrap_or(a).clone());
                    break;
                }
            }
        }
        Ok(o)
    }

    /// Reads the prompt from where the options say.
    fn read_prompt(&self) -> std::io::Result<Vec<u8>> {
        if self.stdin {
            let mut buf = Vec::new();
            std::io::stdin().lock().read_to_end(&mut buf)?;
            Ok(buf)
        } else if let Some(f) = &self.prompt_file {
            std::fs::read(f)
        } else {
            Ok(self.prompt.clone().unwrap_or_default().into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Options;

    fn parse(args: &[&str]) -> Options {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Options::parse(&args).unwrap()
    }

    #[test]
    fn flags_come_first_and_the_prompt_is_the_last_positional() {
        let o = parse(&["--dump", "d", "--echo", "a", "--stdin", "print x"]);
        assert!(o.echo && !o.stdin);
        assert_eq!(o.dump.as_deref(), Some("d"));
        assert_eq!(o.prompt.as_deref(), Some("print x"));
        assert_eq!(parse(&["--", "--echo"]).prompt.as_deref(), Some("--echo"));
        assert_eq!(parse(&["--echo", "--"]).prompt, None);
        let o = parse(&["--prompt-file", "f", "--stdin"]);
        assert!(o.stdin && o.prompt.is_none());
        assert_eq!(o.prompt_file.as_deref(), Some("f"));
        let o = parse(&["--prompt=print a=b", "--stdin"]);
        assert_eq!(o.prompt.as_deref(), Some("print a=b"));
        assert!(Options::parse(&["--dump".to_string()]).is_err());
    }
}
