//! legate's OpenCode plugin (`integrations/opencode/legate.ts`) in the real OpenCode server
//! (npm `opencode-ai`, pinned in `scripts/install-test-agents`), whose model is the scripted
//! model server: the model calls the plugin's tools (`CALL async_task {…}`), legate runs the
//! tasks, and finished results come back into the delegating session as messages, which the
//! model server's request log shows.
//!
//! The tasks run a shell script that waits for a gate file, so the test decides when they
//! finish; each prints `res-N` computed by the shell (`$((…))`), so the result text never
//! appears in a prompt or a tool call.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Home;
use legate_test_model::{ModelServer, user_texts};
use serde_json::{Value, json};

/// How long a condition the tests wait for may take.
const PATIENCE: Duration = Duration::from_secs(90);

/// A running `opencode serve` with legate's plugin installed in its user configuration, on a
/// new git project, its model the scripted server and its legate the home of the test.
struct OpenCode {
    bin: PathBuf,
    child: Child,
    url: String,
    env: Vec<(String, String)>,
    project: tempfile::TempDir,
}

impl OpenCode {
    fn start(home: &Home, server: &ModelServer) -> Option<OpenCode> {
        let bin = common::agents::installed("opencode")?;
        let modules = common::agents::installed("opencode-plugin")?;
        let h = home.path().join("oc-home");
        let cfg = h.join(".config/opencode");
        std::fs::create_dir_all(&cfg).unwrap();
        // The plugin package, already there, so opencode installs nothing at start.
        std::os::unix::fs::symlink(&modules, cfg.join("node_modules")).unwrap();
        std::fs::write(
            cfg.join("package.json"),
            r#"{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}"#,
        )
        .unwrap();
        std::fs::write(
            cfg.join("package-lock.json"),
            r#"{"lockfileVersion":3,"packages":{"":{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}}}"#,
        )
        .unwrap();
        // Installed as a user would: it pins this legate and this home, so OpenCode needs
        // neither in its environment.
        setup_opencode(home, &h, &h, &[]);
        assert!(cfg.join("plugin/legate.ts").is_file());
        let config = json!({
            "$schema": "https://opencode.ai/config.json",
            "autoupdate": false, "share": "disabled",
            "model": "scripted/m", "small_model": "scripted/m",
            "provider": {"scripted": {"npm": "@ai-sdk/openai-compatible", "name": "scripted",
                "options": {"baseURL": server.base_url(), "apiKey": "x"}, "models": {"m": {"name": "m"}}}}
        });
        std::fs::write(h.join("opencode.json"), config.to_string()).unwrap();
        let s = |p: &Path| p.display().to_string();
        let env: Vec<(String, String)> = [
            ("HOME", s(&h)),
            ("OPENCODE_CONFIG", s(&h.join("opencode.json"))),
            ("OPENCODE_DISABLE_AUTOUPDATE", "1".into()),
            ("OPENCODE_DISABLE_SHARE", "1".into()),
            ("OPENCODE_DISABLE_MODELS_FETCH", "1".into()),
            ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let project = common::agents::new_project();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(&bin);
        cmd.args([
            "serve",
            "--hostname",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(project.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        clean_env(&mut cmd, &env);
        let mut child = cmd.spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        let oc = OpenCode {
            bin,
            child,
            url: format!("http://127.0.0.1:{port}"),
            env,
            project,
        };
        rx.recv_timeout(PATIENCE)
            .expect("opencode serve says it listens");
        Some(oc)
    }

    /// Sends `text` (on stdin, unquoted) as a user message to `session` (a new session when
    /// `None`) with `opencode run --attach`, waits for the turn to end and returns its JSON
    /// lines.
    fn prompt(&self, session: Option<&str>, text: &str) -> Vec<Value> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["run", "--attach", &self.url, "--format", "json"])
            .current_dir(self.project.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(s) = session {
            cmd.args(["--session", s]);
        }
        clean_env(&mut cmd, &self.env);
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "opencode run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for OpenCode {
    fn drop(&mut self) {
        // TERM lets the plugin end its follower; KILL if it does not exit in time.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let ended = common::poll_until(Duration::from_secs(10), || {
            self.child.try_wait().is_ok_and(|s| s.is_some())
        });
        if !ended {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `legate setup opencode ARGS` for the user whose HOME is `user_home`, in `cwd`, with
/// the legate home `home`; returns what it said on stderr.
fn setup_opencode(home: &Home, user_home: &Path, cwd: &Path, args: &[&str]) -> String {
    let mut argv = vec!["setup", "opencode"];
    argv.extend_from_slice(args);
    let out = home
        .cmd(&argv)
        .current_dir(cwd)
        .env("HOME", user_home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "legate {argv:?}: {said}");
    said
}

/// `cmd` with `env` and none of the variables that would tie it to a legate task or store
/// (the plugin reaches the store `legate setup` pinned).
fn clean_env(cmd: &mut Command, env: &[(String, String)]) {
    for k in [
        "LEGATE_HOME",
        "LEGATE_BIN",
        "XDG_CONFIG_HOME",
        "LEGATE_CONFIG",
        "LEGATE_DEPTH",
        "LEGATE_TASK_ID",
        "LEGATE_ORIGIN",
        "LEGATE_TOKEN",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
}

/// The session a turn ran in.
fn session_of(lines: &[Value]) -> String {
    lines
        .iter()
        .find_map(|l| l["sessionID"].as_str())
        .expect("opencode printed a session id")
        .to_string()
}

/// The outputs (or errors) of the calls of `tool` in a turn.
fn tool_outputs(lines: &[Value], tool: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["type"] == "tool_use" && l["part"]["tool"] == tool)
        .map(|l| {
            let state = &l["part"]["state"];
            state["output"]
                .as_str()
                .or(state["error"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The one output of `tool` in a turn.
fn output_of(lines: &[Value], tool: &str) -> String {
    let outs = tool_outputs(lines, tool);
    assert_eq!(outs.len(), 1, "one call of {tool} in {lines:#?}");
    outs[0].clone()
}

/// A home whose agent `gated` runs its prompt as a shell script.
fn gated_home() -> Home {
    Home::new("[agents.gated]\ncommand = [\"/bin/sh\", \"-c\", \"{prompt}\"]\n")
}

/// A script that waits for `gate`, then prints `res-N`.
fn gated_script(gate: &Path, n: u32) -> String {
    format!(
        "until [ -e '{}' ]; do sleep 0.05; done; echo \"res-$((1000+{}))\"",
        gate.display(),
        n - 1000
    )
}

/// Delegates the gated script printing `res-N` in `session` (a new one when `None`); returns
/// the session and the task id.
fn delegate(oc: &OpenCode, session: Option<&str>, gate: &Path, n: u32) -> (String, String) {
    let args = json!({"agent": "gated", "prompt": gated_script(gate, n), "description": format!("job {n}")});
    let lines = oc.prompt(session, &format!("CALL async_task {args}"));
    let out = output_of(&lines, "async_task");
    let id = out
        .strip_prefix("Task ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("async_task answered: {out}"))
        .to_string();
    assert!(out.contains("delegated to gated"), "{out}");
    (session_of(&lines), id)
}

/// The user messages of the last request that carried tools (the conversation as the model
/// last saw it).
fn last_conversation(server: &ModelServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .rev()
        .find(|r| r.get("tools").is_some())
        .map(user_texts)
        .unwrap_or_default()
}

/// Whether any request's user messages hold `needle`.
fn model_saw(server: &ModelServer, needle: &str) -> bool {
    server
        .requests()
        .iter()
        .any(|r| user_texts(r).iter().any(|t| t.contains(needle)))
}

/// Runs `prompt` in `session` on another thread, creates `gate` once the model received it (so
/// the tool it calls is under way before the tasks end), and returns the turn's lines.
fn prompt_then_open(
    oc: &OpenCode,
    server: &ModelServer,
    session: &str,
    prompt: &str,
    gate: &Path,
) -> Vec<Value> {
    std::thread::scope(|s| {
        let turn = s.spawn(|| oc.prompt(Some(session), prompt));
        assert!(common::poll_until(PATIENCE, || model_saw(server, prompt)));
        std::fs::write(gate, "").unwrap();
        turn.join().unwrap()
    })
}

#[test]
fn fan_out_gather_any_and_cancel_through_the_plugin_tools() {
    let server = ModelServer::start().unwrap();
    let home = gated_home();
    let Some(oc) = OpenCode::start(&home, &server) else {
        return;
    };
    let gates = tempfile::tempdir().unwrap();
    let all = gates.path().join("all");

    // An unknown agent is refused with the list of agents.
    let lines = oc.prompt(
        None,
        r#"CALL async_task {"agent": "nosuch", "prompt": "x", "description": "x"}"#,
    );
    let refused = output_of(&lines, "async_task");
    assert!(
        refused.contains("unknown agent 'nosuch'") && refused.contains("gated"),
        "{refused}"
    );

    // Fan out three, then gather them.
    let (session, a) = delegate(&oc, None, &all, 1001);
    let (_, b) = delegate(&oc, Some(&session), &all, 1002);
    let (_, c) = delegate(&oc, Some(&session), &all, 1003);
    let origin = format!("opencode:{session}");
    for id in [&a, &b, &c] {
        let t = home.show(id);
        assert_eq!(t["origin"], origin.as_str(), "{t}");
        assert_eq!(t["cwd"], oc.project.path().to_str().unwrap(), "{t}");
    }
    let wait = json!({"task_ids": [a, b, c], "mode": "all", "timeout": 60});
    let lines = prompt_then_open(
        &oc,
        &server,
        &session,
        &format!("CALL async_task_wait {wait}"),
        &all,
    );
    let gathered = output_of(&lines, "async_task_wait");
    assert!(gathered.starts_with("All the tasks finished"), "{gathered}");
    for (id, res) in [(&a, "res-1001"), (&b, "res-1002"), (&c, "res-1003")] {
        assert!(
            gathered.contains(&format!("Task {id} ")) && gathered.contains(res),
            "{gathered}"
        );
    }
    // Shown by the tool, so read: nothing is left to post.
    assert!(home.inbox(&origin, &[]).is_empty());

    // Wait for any: one ends, the other goes on; then cancel it.
    let one = gates.path().join("one");
    let never = gates.path().join("never");
    let (_, x) = delegate(&oc, Some(&session), &one, 1004);
    let (_, y) = delegate(&oc, Some(&session), &never, 1005);
    let wait = json!({"task_ids": [x, y], "mode": "any", "timeout": 60});
    let lines = prompt_then_open(
        &oc,
        &server,
        &session,
        &format!("CALL async_task_wait {wait}"),
        &one,
    );
    let first = output_of(&lines, "async_task_wait");
    assert!(first.starts_with("A task finished"), "{first}");
    assert!(first.contains("res-1004"), "{first}");
    assert!(
        first.contains(&format!("Task {y} (agent gated, \"job 1005\"): running")),
        "{first}"
    );

    let lines = oc.prompt(
        Some(&session),
        &format!("CALL async_task_cancel {}", json!({"task_id": y})),
    );
    let canceled = output_of(&lines, "async_task_cancel");
    assert!(
        canceled.contains(&format!("Task {y} (agent gated): canceled")),
        "{canceled}"
    );
    assert_eq!(home.show(&y)["status"], "canceled");
    assert!(common::poll_until(Duration::from_secs(10), || {
        common::processes_of_task(&y).is_empty()
    }));

    let lines = oc.prompt(
        Some(&session),
        &format!("CALL async_task_result {}", json!({"task_id": y})),
    );
    let result = output_of(&lines, "async_task_result");
    assert!(result.contains("canceled"), "{result}");
    assert!(home.inbox(&origin, &[]).is_empty());
    let conversation = last_conversation(&server);
    assert!(
        !conversation.iter().any(|m| m.starts_with("[legate]")),
        "results the tools showed are not posted again: {conversation:#?}"
    );
}

#[test]
fn finished_results_are_posted_into_the_idle_session_once() {
    let server = ModelServer::start().unwrap();
    let home = gated_home();
    let Some(oc) = OpenCode::start(&home, &server) else {
        return;
    };
    let gates = tempfile::tempdir().unwrap();
    let gate = gates.path().join("go");
    let (session, a) = delegate(&oc, None, &gate, 2001);
    let (_, b) = delegate(&oc, Some(&session), &gate, 2002);
    let (_, c) = delegate(&oc, Some(&session), &gate, 2003);
    let origin = format!("opencode:{session}");

    // The session is idle: the finishes wake it.
    std::fs::write(&gate, "").unwrap();
    let results = ["res-2001", "res-2002", "res-2003"];
    assert!(
        common::poll_until(PATIENCE, || results.iter().all(|r| model_saw(&server, r))),
        "the results reached the model: {:#?}",
        last_conversation(&server)
    );
    assert!(common::poll_until(PATIENCE, || home
        .inbox(&origin, &[])
        .is_empty()));
    for id in [&a, &b, &c] {
        assert!(home.show(id)["acked_at"].is_string(), "{id} is read");
    }

    // A later turn's conversation holds each result once.
    oc.prompt(Some(&session), "and now something else");
    let conversation = last_conversation(&server);
    assert_eq!(
        conversation.last().map(String::as_str),
        Some("and now something else")
    );
    for (id, res) in [(&a, results[0]), (&b, results[1]), (&c, results[2])] {
        let posts: Vec<&String> = conversation.iter().filter(|m| m.contains(res)).collect();
        assert_eq!(posts.len(), 1, "{res} posted once: {conversation:#?}");
        assert!(
            posts[0].starts_with("[legate]") && posts[0].contains(&format!("Task {id} ")),
            "{}",
            posts[0]
        );
    }

    // The plugin's follower outlives a daemon restart: a task of the session delegated after
    // one (from the CLI, which starts the next daemon) is posted too.
    home.ok(&["daemon", "stop", "--yes"]);
    let late = home
        .ok(&[
            "run",
            "--origin",
            &origin,
            "gated",
            "--",
            "echo res-$((3000+1))",
        ])
        .trim()
        .to_string();
    assert!(
        common::poll_until(PATIENCE, || model_saw(&server, "res-3001")),
        "the result after the restart reached the model"
    );
    assert!(common::poll_until(PATIENCE, || {
        home.show(&late)["acked_at"].is_string()
    }));
}

#[test]
fn legate_setup_opencode_installs_the_plugin_and_on_request_the_mcp_entry_once() {
    let home = Home::new("");
    let user = tempfile::tempdir().unwrap();
    let project = common::agents::new_project();
    let plugin = user.path().join(".config/opencode/plugin/legate.ts");

    let said = setup_opencode(&home, user.path(), project.path(), &[]);
    assert!(
        said.contains(&format!(
            "wrote legate's OpenCode plugin into {}",
            plugin.display()
        )),
        "{said}"
    );
    assert!(said.contains("async_task"), "{said}");
    let text = std::fs::read_to_string(&plugin).unwrap();
    let pinned = text.lines().find(|l| l.starts_with("const SETUP")).unwrap();
    let legate = common::legate_bin().display().to_string();
    assert!(
        pinned.contains(&legate) && pinned.contains(&home.path().display().to_string()),
        "{pinned}"
    );
    assert!(
        !user.path().join(".config/opencode/opencode.json").exists(),
        "no MCP entry unless asked"
    );

    let again = setup_opencode(&home, user.path(), project.path(), &[]);
    assert!(again.contains("nothing changed"), "{again}");
    assert_eq!(std::fs::read_to_string(&plugin).unwrap(), text);

    // The project's: the plugin under .opencode, the MCP entry in its opencode.json, whose
    // other settings stay.
    let config = project.path().join("opencode.json");
    std::fs::write(&config, r#"{"model": "a/b"}"#).unwrap();
    let said = setup_opencode(&home, user.path(), project.path(), &["--project", "--mcp"]);
    assert!(
        project.path().join(".opencode/plugin/legate.ts").is_file(),
        "{said}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(v["model"], "a/b");
    assert_eq!(v["mcp"]["legate"]["command"], json!([legate, "mcp"]));
    assert_eq!(
        v["mcp"]["legate"]["environment"]["LEGATE_HOME"],
        home.path().display().to_string()
    );
    let again = setup_opencode(&home, user.path(), project.path(), &["--project", "--mcp"]);
    assert_eq!(again.matches("nothing changed").count(), 2, "{again}");

    // --mcp belongs to OpenCode's setup.
    let out = home
        .cmd(&["setup", "codex", "--mcp"])
        .env("HOME", user.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mcp is for `legate setup opencode`"));
    assert!(!user.path().join(".codex").exists());

    // A configuration legate cannot edit is left alone, and the plugin is not written either.
    let other = common::agents::new_project();
    std::fs::write(other.path().join("opencode.json"), "{ // mine\n}").unwrap();
    let out = home
        .cmd(&["setup", "opencode", "--project", "--mcp"])
        .current_dir(other.path())
        .env("HOME", user.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a JSON object legate can edit"),
        "{err}"
    );
    assert!(!other.path().join(".opencode").exists());
    assert_eq!(
        std::fs::read_to_string(other.path().join("opencode.json")).unwrap(),
        "{ // mine\n}"
    );
}
