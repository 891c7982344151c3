//! The bad-input catalogue: one table of refused inputs across CLI flags and environment,
//! config files and API requests. Each must exit non-zero (or answer an HTTP error with a
//! `{code, message}` body), say what was wrong, and change nothing: no task, no event, the
//! daemon still up with its last good config.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Home, raw};

enum Case {
    /// `legate ARGS` with extra environment; stderr must contain every needle.
    Cli(
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
    ),
    /// This text added to the config, then a submission; stderr must contain the needles.
    Config(&'static str, &'static [&'static str]),
    /// The config file given this mode and owner (uid), then a submission; stderr must
    /// contain the needles.
    ConfigFile(u32, u32, &'static [&'static str]),
    /// A raw API request: method, path, body, expected status and error code.
    Api(&'static str, &'static str, Vec<u8>, u16, &'static str),
}

use Case::{Api, Cli, Config, ConfigFile};

fn catalogue(home: &Home) -> Vec<Case> {
    let big = home.path().join("big");
    std::fs::write(&big, vec![b'a'; (8 << 20) + 1]).unwrap();
    let bad_utf8 = home.path().join("bad-utf8");
    std::fs::write(&bad_utf8, b"\xff\xfe").unwrap();
    let nul = home.path().join("nul");
    std::fs::write(&nul, b"print a\0b").unwrap();
    let mut huge = br#"{"agent":"fake-stdin","prompt":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', (8 << 20) + 10));
    huge.extend(br#""}"#);
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let big: &'static str = leak(big.display().to_string());
    let bad_utf8: &'static str = leak(bad_utf8.display().to_string());
    let nul: &'static str = leak(nul.display().to_string());
    // Homes another user could tamper with: a world-writable one, and one whose data
    // directory others may read.
    let open_home = home.path().join("open-home");
    std::fs::create_dir(&open_home).unwrap();
    std::fs::set_permissions(&open_home, std::fs::Permissions::from_mode(0o777)).unwrap();
    let read_home = home.path().join("read-home");
    std::fs::create_dir_all(read_home.join("data")).unwrap();
    std::fs::set_permissions(
        read_home.join("data"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let open_fix = leak(format!("chmod go-w {}", open_home.display()));
    let open_home = leak(open_home.display().to_string());
    let read_fix = leak(format!("chmod 700 {}", read_home.join("data").display()));
    let read_home = leak(read_home.display().to_string());
    let config = leak(home.path().join("config.toml").display().to_string());
    let config_fix = leak(format!("chmod go-w {config}"));
    let needles =
        |v: Vec<&'static str>| -> &'static [&'static str] { Box::leak(v.into_boxed_slice()) };
    let home_env = |h: &'static str| -> &'static [(&'static str, &'static str)] {
        Box::leak(vec![("LEGATE_HOME", h)].into_boxed_slice())
    };
    let args =
        |v: Vec<&'static str>| -> &'static [&'static str] { Box::leak(v.into_boxed_slice()) };
    vec![
        // CLI flags and environment.
        Cli(
            &["run", "nope", "hi"],
            &[],
            &["unknown agent 'nope'", "fake (scripted fake agent)"],
        ),
        Cli(
            &["run", "ghost", "hi"],
            &[],
            &["/nonexistent/agent-bin", "not on PATH"],
        ),
        Cli(&["run", "fake", "   "], &[], &["prompt is empty"]),
        Cli(
            &["run", "--origin", "", "fake", "x"],
            &[],
            &["origin is empty"],
        ),
        Cli(
            &["run", "--origin", "ann\u{1b}[2J", "fake", "x"],
            &[],
            &["origin holds a control character"],
        ),
        Cli(
            &["run", "fake", "x"],
            &[("LEGATE_ORIGIN", "ann\nbob")],
            &["origin holds a control character"],
        ),
        Cli(
            &["run", "fake", "-", "and", "more"],
            &[],
            &["`-` reads stdin and stands alone"],
        ),
        Cli(&["run", "fake"], &[], &["prompt is empty"]),
        Cli(
            args(vec!["run", "fake-stdin", "--file", big]),
            &[],
            &["8 MiB"],
        ),
        Cli(
            args(vec!["run", "fake", "--file", bad_utf8]),
            &[],
            &["UTF-8"],
        ),
        Cli(
            args(vec!["run", "fake", "--file", nul]),
            &[],
            &["NUL byte", "prompt = \"stdin\""],
        ),
        Cli(
            &["run", "fake", "--file", "/nonexistent/prompt.txt"],
            &[],
            &["cannot read the prompt file"],
        ),
        Cli(
            &["run", "--timeout", "soon", "fake", "x"],
            &[],
            &["--timeout", "not a duration"],
        ),
        Cli(
            &["run", "--cwd", "/nonexistent/dir", "fake", "x"],
            &[],
            &["does not exist"],
        ),
        Cli(
            &["run", "--notify", "notify-send 'unclosed", "fake", "x"],
            &[],
            &["unbalanced quotes"],
        ),
        Cli(
            &["run", "--notify", "  ", "fake", "x"],
            &[],
            &["--notify", "empty"],
        ),
        Cli(
            &["run", "--webhook", "ftp://example.org/x", "fake", "x"],
            &[],
            &["must start with http:// or https://"],
        ),
        Cli(
            &["run", "--label", "", "fake", "x"],
            &[],
            &["label is empty"],
        ),
        Cli(
            &["run", "--key", " ", "fake", "x"],
            &[],
            &["dedupe key is empty"],
        ),
        Cli(
            &["run", "fake", "x"],
            &[("LEGATE_DEPTH", "lots")],
            &["LEGATE_DEPTH"],
        ),
        Cli(
            &["run", "fake", "x"],
            &[("LEGATE_DEPTH", "2")],
            &["nested too deep", "max_depth"],
        ),
        Cli(
            &["run", "fake", "x"],
            &[("LEGATE_DEPTH", "-1")],
            &["LEGATE_DEPTH is '-1'", "whole number"],
        ),
        Cli(
            &["run", "fake", "x"],
            &[("LEGATE_DEPTH", "abc")],
            &["LEGATE_DEPTH is 'abc'", "unset it or fix it"],
        ),
        Cli(
            &["run", "fake", "x"],
            &[("LEGATE_TASK_ID", "../../etc")],
            &["LEGATE_TASK_ID is '../../etc'", "not a task id"],
        ),
        Cli(
            &["run", "fake", "x"],
            &[("LEGATE_TASK_ID", "abc")],
            &["LEGATE_TASK_ID is 'abc'", "8 characters"],
        ),
        Cli(
            &["send", "zzzzzzzz", "x"],
            &[("LEGATE_DEPTH", "-1")],
            &["LEGATE_DEPTH is '-1'"],
        ),
        Cli(
            &["ls"],
            &[("LEGATE_CLIENT_TIMEOUT", "soon")],
            &["LEGATE_CLIENT_TIMEOUT", "not a duration"],
        ),
        Cli(&["show", "../etc/passwd"], &[], &["not a task id"]),
        Cli(&["show", "zzzz"], &[], &["no task matches 'zzzz'"]),
        Cli(&["wait", "abcdefghjkmn"], &[], &["longer than a task id"]),
        Cli(
            &["wait", "--timeout", "forever", "abcd"],
            &[],
            &["--timeout"],
        ),
        Cli(&["logs", "zz"], &[], &["no task matches"]),
        Cli(&["send", "zzzzzzzz", "more"], &[], &["no task"]),
        Cli(&["send", "..%2Fx", "more"], &[], &["not a task id"]),
        Cli(
            &["ls", "--status", "done"],
            &[],
            &["unknown status 'done'", "timed_out"],
        ),
        Cli(&["ls", "--status", ","], &[], &["--status is empty"]),
        // Origins no task can have are refused for reading too, not followed forever.
        Cli(&["inbox", "--origin", "a\tb"], &[], &["control character"]),
        Cli(
            &["inbox", "--follow", "--origin", "a\nb"],
            &[],
            &["control character"],
        ),
        Cli(
            &["events", "-f", "--origin", "a\tb"],
            &[],
            &["control character"],
        ),
        Cli(
            &["prune", "--older-than", "whenever"],
            &[],
            &["--older-than"],
        ),
        Cli(&["events", "--kind", "done"], &[], &["'done'", "progress"]),
        Cli(&["ack", "zzzzzzzz"], &[], &["no task"]),
        // Places another user could tamper with.
        Cli(
            &["run", "fake", "x"],
            home_env(open_home),
            needles(vec![open_home, open_fix]),
        ),
        Cli(
            &["run", "fake", "x"],
            home_env(read_home),
            needles(vec![read_fix]),
        ),
        // Config files.
        Config(
            "[agents.broken]\ncommand = []\n",
            &["agents.broken.command"],
        ),
        Config(
            "[limits]\nmax_runing = 3\n",
            &["max_runing", "unknown field"],
        ),
        Config(
            "[agents.x]\ncommand = [\"x\"]\nmax_running = 0\n",
            &["agents.x.max_running", "at least 1"],
        ),
        Config("[limits]\nlog_cap = \"lots\"\n", &["limits.log_cap"]),
        Config("[agents.\"a b\"]\ncommand = [\"x\"]\n", &["agent names"]),
        Config(
            "[agents.x]\npreset = \"nope\"\n",
            &["agents.x.preset", "presets:"],
        ),
        Config(
            "[agents.x]\ncommand = [\"x\"]\npermissions = \"maybe\"\n",
            &["agents.x.permissions"],
        ),
        Config(
            "[agents.x]\ncommand = [\"x\"]\nresume = [\"--resume\"]\n",
            &["agents.x.resume", "{session}"],
        ),
        Config(
            "[agents.x]\ncommand = [\"x\"]\nkind = \"telepathy\"\n",
            &["unknown variant"],
        ),
        Config("[retention]\nmax_age = \"old\"\n", &["retention.max_age"]),
        Config(
            "[notify]\ntargets = [{ webhook = \"gopher://x\" }]\n",
            &["notify"],
        ),
        Config("this is not toml", &["config.toml:", ":6: "]),
        ConfigFile(0o666, 0, needles(vec![config, config_fix])),
        ConfigFile(0o644, 65534, needles(vec![config, "uid 65534"])),
        // API requests.
        Api(
            "POST",
            "/v1/tasks",
            b"{not json".to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","colour":"red"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":5}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","cwd":"relative/dir"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","metadata":[1]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","depth":9}"#.to_vec(),
            403,
            "depth_exceeded",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","parent":"abc","depth":1}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","env":{"A=B":"x"}}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","env":["PATH=/bin"]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","idempotency_key":"  "}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","notify":[{"command":[]}]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","notify":[{"shell":"rm -rf /"}]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api("POST", "/v1/tasks", huge, 413, "prompt_too_large"),
        Api(
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"print a\u0000b"}"#.to_vec(),
            400,
            "invalid_prompt",
        ),
        Api(
            "GET",
            "/v1/tasks/..%2F..%2Fetc",
            Vec::new(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks/..%2F..%2Fetc/send",
            br#"{"prompt":"x"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/tasks/zzzzzzzz/send",
            br#"{"prompt":"x","extra":1}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "GET",
            "/v1/tasks?limit=lots",
            Vec::new(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/wait",
            br#"{"ids":[]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "GET",
            "/v1/events?kind=done",
            Vec::new(),
            400,
            "invalid_request",
        ),
        Api(
            "GET",
            "/v1/events?after=x",
            Vec::new(),
            400,
            "invalid_request",
        ),
        Api(
            "GET",
            "/v1/agents?check=maybe",
            Vec::new(),
            400,
            "invalid_request",
        ),
        Api("GET", "/v1/inbox", Vec::new(), 400, "invalid_request"),
        Api(
            "POST",
            "/v1/inbox/ack",
            br#"{"origin":"ann"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api(
            "POST",
            "/v1/inbox/ack",
            br#"{"origin":"ann","ids":["ZZZZZZZZ"]}"#.to_vec(),
            404,
            "not_found",
        ),
        Api(
            "POST",
            "/v1/stop-gate",
            br#"{"origin":"","max_blocks":1}"#.to_vec(),
            400,
            "invalid_request",
        ),
        Api("GET", "/v2/nothing", Vec::new(), 404, "not_found"),
    ]
}

/// What must not change: the tasks, the events, the daemon.
fn state(home: &Home) -> (usize, usize, i32) {
    let events = home.ok(&["events"]).lines().count();
    (
        home.ls(&[]).len(),
        events,
        home.daemon_pid().expect("the daemon is up"),
    )
}

#[test]
fn every_bad_input_is_refused_clearly_and_changes_nothing() {
    let home = Home::new("[agents.ghost]\ncommand = [\"/nonexistent/agent-bin\"]\n");
    // The catalogue names tasks that do not exist as `zz…`: no stored id may start so.
    let mut seed = home.submit("fake", "print a task that exists");
    while seed.starts_with('z') {
        seed = home.submit("fake", "print a task that exists");
    }
    home.wait_all(
        &home
            .ls(&[])
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
    );
    let config_path = home.path().join("config.toml");
    let good_config = std::fs::read_to_string(&config_path).unwrap();
    let before = state(&home);
    let cases = catalogue(&home);
    assert!(cases.len() >= 30, "the catalogue has {} cases", cases.len());
    for case in cases {
        let what = match case {
            Cli(args, env, needles) => {
                let mut cmd = home.cmd(args);
                for (k, v) in env {
                    cmd.env(k, v);
                }
                let out = cmd.output().unwrap();
                let err = String::from_utf8_lossy(&out.stderr).to_string();
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "legate {args:?} should fail: {err}"
                );
                for n in needles {
                    assert!(
                        err.contains(n),
                        "legate {args:?}: stderr lacks {n:?}:\n{err}"
                    );
                }
                format!("legate {args:?}")
            }
            Config(text, needles) => {
                // Keys of `[limits]` go into the existing table; other tables are appended.
                let bad = match text.strip_prefix("[limits]\n") {
                    Some(keys) => {
                        good_config.replacen("[limits]\n", &format!("[limits]\n{keys}"), 1)
                    }
                    None => format!("{good_config}\n{text}"),
                };
                std::fs::write(&config_path, bad).unwrap();
                let out = home.run(&["run", "fake", "print x"]);
                let err = String::from_utf8_lossy(&out.stderr).to_string();
                std::fs::write(&config_path, &good_config).unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "config {text:?} should be refused: {err}"
                );
                for n in needles {
                    assert!(
                        err.contains(n),
                        "config {text:?}: stderr lacks {n:?}:\n{err}"
                    );
                }
                format!("config {text:?}")
            }
            ConfigFile(mode, uid, needles) => {
                std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(mode))
                    .unwrap();
                std::os::unix::fs::lchown(&config_path, Some(uid), None).unwrap();
                let out = home.run(&["run", "fake", "print x"]);
                let err = String::from_utf8_lossy(&out.stderr).to_string();
                std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644))
                    .unwrap();
                std::os::unix::fs::lchown(&config_path, Some(0), None).unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "config mode {mode:o} uid {uid} should be refused: {err}"
                );
                for n in needles {
                    assert!(
                        err.contains(n),
                        "config mode {mode:o}: stderr lacks {n:?}:\n{err}"
                    );
                }
                format!("config mode {mode:o} uid {uid}")
            }
            Api(method, path, body, status, code) => {
                let (got, text) = raw(&home, method, path, &body);
                let head = &text[..text.len().min(300)];
                assert_eq!(got, status, "{method} {path}: {head}");
                let v: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{path}: not JSON: {head}"));
                assert_eq!(v["code"], code, "{method} {path}: {head}");
                assert!(
                    !v["message"].as_str().unwrap_or_default().is_empty(),
                    "{path}: no message"
                );
                format!("{method} {path}")
            }
        };
        assert_eq!(state(&home), before, "{what} changed something");
    }
    // The last good config still works.
    let id = home.submit("fake", "print still fine");
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "succeeded");
}
