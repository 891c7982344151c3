//! The MCP server over stdio, driven through the real `legate mcp` by rmcp's own client.

mod common;

use std::time::Duration;

use common::Home;
use common::mcp::{answer, call, ids_of, ok, refused, settled, stdio};
use legate_mcp::schema::{STANDARD_FORMATS, formats};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, GetTaskParams,
    ReadResourceRequestParams, TaskPayload, TaskStatus,
};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_over_stdio() {
    let home = Home::new("[mcp]\nresult_chars = 100\n");
    let c = stdio(&home, false).await;

    let tools = c.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "delegate",
            "list_agents",
            "task_cancel",
            "task_diff",
            "task_list",
            "task_merge",
            "task_result",
            "task_send",
            "task_status",
            "task_wait"
        ]
    );
    for t in &tools {
        assert!(
            t.description.as_deref().is_some_and(|d| d.len() > 20),
            "{} needs a description",
            t.name
        );
        assert!(
            t.output_schema.is_none(),
            "{}: answers are text, so no output schema",
            t.name
        );
    }
    let agents = ok(&c, "list_agents", json!({})).await;
    let names: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"fake") && !names.contains(&"sh"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"codex"),
        "presets not installed here are not offered: {names:?}"
    );

    // Three at once, then gather.
    let (a, b, d) = tokio::join!(
        ok(
            &c,
            "delegate",
            json!({"agent": "fake", "prompt": "sleep 300; print alpha"})
        ),
        ok(
            &c,
            "delegate",
            json!({"agent": "fake", "prompt": "sleep 200; print beta", "title": "second"})
        ),
        ok(
            &c,
            "delegate",
            json!({"agent": "fake", "prompt": "print gamma"})
        ),
    );
    let ids: Vec<String> = [&a, &b, &d]
        .iter()
        .map(|v| v["task"]["task_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(b["task"]["title"], "second");
    assert!(["queued", "running"].contains(&a["task"]["status"].as_str().unwrap()));
    let gathered = ok(
        &c,
        "task_wait",
        json!({"task_ids": ids, "mode": "all", "timeout_secs": 60}),
    )
    .await;
    assert_eq!(gathered["timed_out"], false);
    let results: Vec<&str> = gathered["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["alpha\n", "beta\n", "gamma\n"]);
    assert!(
        gathered["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "succeeded")
    );

    // A finish seen elsewhere arrives in the next response, once.
    let news = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print news"}),
    )
    .await;
    let news_id = news["task"]["task_id"].as_str().unwrap().to_string();
    home.wait_all(std::slice::from_ref(&news_id));
    let first = ok(&c, "list_agents", json!({})).await;
    assert_eq!(
        ids_of(&first["finished_since_last_call"]),
        std::slice::from_ref(&news_id)
    );
    assert_eq!(first["finished_since_last_call"][0]["result"], "news\n");
    let second = ok(&c, "list_agents", json!({})).await;
    assert!(
        ids_of(&second["finished_since_last_call"]).is_empty(),
        "delivered once"
    );

    // Sync mode, with a result longer than the cap.
    let sync = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": format!("print {}", "z".repeat(300)), "wait": true}),
    )
    .await;
    assert_eq!(sync["task"]["status"], "succeeded");
    assert_eq!(sync["still_running"], false);
    let result = sync["task"]["result"].as_str().unwrap();
    assert!(
        result.contains("earlier characters left out")
            && result.trim_end().ends_with(&"z".repeat(50)),
        "{result}"
    );
    let sync_id = sync["task"]["task_id"].as_str().unwrap().to_string();
    assert!(
        sync["task"]["full_result"]
            .as_str()
            .unwrap()
            .contains(&format!("legate://tasks/{sync_id}"))
    );
    let whole = c
        .read_resource(ReadResourceRequestParams::new(format!(
            "legate://tasks/{sync_id}"
        )))
        .await
        .unwrap();
    let text = match &whole.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let task: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        task["result"].as_str().unwrap().len(),
        301,
        "the resource has the whole result"
    );
    let log = c
        .read_resource(ReadResourceRequestParams::new(format!(
            "legate://tasks/{sync_id}/log"
        )))
        .await
        .unwrap();
    assert!(format!("{:?}", log.contents[0]).contains(&"z".repeat(300)));

    // A wait that times out, then cancel.
    let slow = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "sleep 60000"}),
    )
    .await;
    let slow_id = slow["task"]["task_id"].as_str().unwrap().to_string();
    let waited = ok(
        &c,
        "task_wait",
        json!({"task_ids": [slow_id], "timeout_secs": 1}),
    )
    .await;
    assert_eq!(waited["timed_out"], true);
    let partial = ok(
        &c,
        "task_result",
        json!({"task_id": slow_id, "wait_secs": 1}),
    )
    .await;
    assert!(["queued", "running"].contains(&partial["task"]["status"].as_str().unwrap()));
    let canceled = ok(&c, "task_cancel", json!({"task_id": slow_id})).await;
    assert_eq!(canceled["task"]["status"], "canceled");
    let status = ok(&c, "task_status", json!({"task_id": &slow_id[..6]})).await;
    assert_eq!(status["task"]["status"], "canceled");

    // Only this session's tasks unless asked for all.
    let cli_task = home.submit("fake", "print from the cli");
    let mine = ok(&c, "task_list", json!({})).await;
    let mine = ids_of(&mine["tasks"]);
    assert!(
        mine.contains(&slow_id) && !mine.contains(&cli_task),
        "{mine:?}"
    );
    let all = ok(&c, "task_list", json!({"all": true})).await;
    assert!(ids_of(&all["tasks"]).contains(&cli_task));

    // Failures come back as tool errors that say what to do.
    let e = refused(&c, "delegate", json!({"agent": "nope", "prompt": "x"})).await;
    assert!(
        e.contains("unknown agent 'nope'") && e.contains("- fake: scripted fake agent"),
        "{e}"
    );
    let e = refused(&c, "delegate", json!({"agent": "sh", "prompt": "echo hi"})).await;
    assert!(
        e.contains("unknown agent 'sh'"),
        "sh is not offered to models: {e}"
    );
    let e = refused(&c, "delegate", json!({"agent": "fake", "prompt": "  "})).await;
    assert!(e.contains("prompt is empty"), "{e}");
    let e = refused(&c, "task_status", json!({"task_id": "../../etc"})).await;
    assert!(e.contains("not a task id"), "{e}");
    let e = refused(&c, "task_cancel", json!({"task_id": slow_id})).await;
    assert!(e.contains("already finished"), "{e}");
    let e = refused(&c, "task_wait", json!({"task_ids": []})).await;
    assert!(e.contains("task_ids is empty"), "{e}");
    let bad = c
        .call_tool(
            CallToolRequestParams::new("delegate")
                .with_arguments(json!({"agent": 5}).as_object().cloned().unwrap()),
        )
        .await;
    match bad {
        Ok(r) => assert_eq!(r.is_error, Some(true)),
        Err(e) => assert!(e.to_string().contains("agent"), "{e}"),
    }
    c.cancel().await.unwrap();
}

/// `legate mcp --no-tasks` (what Claude Code's plugin runs): no tasks extension, so even a
/// client that follows MCP tasks gets the task at once and its result only through the inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tasks_delegate_answers_at_once_even_to_clients_that_negotiate_them() {
    let home = Home::new("");
    let c = common::mcp::stdio_args(&home, true, &["--no-tasks"], &[]).await;
    let caps = &c
        .peer_info()
        .expect("the server introduced itself")
        .capabilities;
    assert!(!caps.supports_tasks(), "{caps:?}");
    let args = json!({"agent": "fake", "prompt": "print not a task"});
    let params =
        CallToolRequestParams::new("delegate").with_arguments(args.as_object().cloned().unwrap());
    let id = match c.call_tool_once(params).await.unwrap() {
        CallToolResponse::Complete(r) => {
            answer(&r)["task"]["task_id"].as_str().unwrap().to_string()
        }
        other => panic!("expected the answer, got {other:?}"),
    };
    assert_eq!(home.show(&id)["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegate_runs_as_an_mcp_task_for_clients_that_negotiate_it() {
    let home = Home::new("");
    let c = stdio(&home, true).await;
    let args = json!({"agent": "fake", "prompt": "sleep 200; print done as a task"});
    let params =
        CallToolRequestParams::new("delegate").with_arguments(args.as_object().cloned().unwrap());
    let created = match c.call_tool_once(params).await.unwrap() {
        CallToolResponse::Task(t) => t,
        other => panic!("expected a task, got {other:?}"),
    };
    let id = created.task.task_id.clone();
    assert_eq!(created.task.status, TaskStatus::Working);
    // The MCP task is the legate task: the CLI sees it under the same id.
    assert_eq!(home.show(&id)["id"], id.as_str());
    let done = settled(&c, &id).await;
    match done.payload {
        TaskPayload::Completed { result } => {
            let r: CallToolResult = serde_json::from_value(Value::Object(result)).unwrap();
            assert_eq!(r.is_error, Some(false));
            assert_eq!(answer(&r)["result"], "done as a task\n");
        }
        other => panic!("{other:?}"),
    }

    // Cancel through the extension.
    let params = CallToolRequestParams::new("delegate").with_arguments(
        json!({"agent": "fake", "prompt": "sleep 60000"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let CallToolResponse::Task(t) = c.call_tool_once(params).await.unwrap() else {
        panic!("a task")
    };
    c.cancel_task(CancelTaskParams::new(t.task.task_id.clone()))
        .await
        .unwrap();
    let done = settled(&c, &t.task.task_id).await;
    assert_eq!(done.status(), TaskStatus::Cancelled);
    assert_eq!(home.show(&t.task.task_id)["status"], "canceled");
    // A task id that does not exist is invalid params.
    let err = c
        .get_task(GetTaskParams::new("ZZZZZZZZ"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no task"), "{err}");
    // An unknown agent is still a tool error the model can read.
    let params = CallToolRequestParams::new("delegate").with_arguments(
        json!({"agent": "nope", "prompt": "x"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    match c.call_tool_once(params).await.unwrap() {
        CallToolResponse::Complete(r) => assert_eq!(r.is_error, Some(true)),
        other => panic!("{other:?}"),
    }
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_code_sessions_mcp_tasks_come_back_through_its_hooks() {
    use std::io::Write;
    let home = Home::new("");
    // Claude Code runs the hook and the MCP server as children of the same process: here,
    // this test.
    let hook = |event: &str| {
        let mut child = home
            .cmd(&["hook", "claude-code"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let payload = json!({"session_id": "sess-42", "hook_event_name": event, "cwd": "/tmp", "transcript_path": "/tmp/t.jsonl"});
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.to_string().as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    hook("SessionStart");
    let c = stdio(&home, false).await;
    let d = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print from mcp"}),
    )
    .await;
    let id = d["task"]["task_id"].as_str().unwrap().to_string();
    assert_eq!(home.show(&id)["origin"], "claude-code:sess-42");
    home.wait_all(std::slice::from_ref(&id));
    let out = hook("UserPromptSubmit");
    assert!(out.contains(&id) && out.contains("from mcp"), "{out}");
    c.cancel().await.unwrap();

    // An MCP server further down (here under two shells: another host's, say) is not the
    // session's: it keeps an origin of its own.
    let path = home.path().to_path_buf();
    let inner = format!("{} mcp; :", common::legate_bin().display());
    let cmd = tokio::process::Command::new("sh").configure(|c| {
        c.args(["-c", &format!("sh -c '{inner}'; :")])
            .env("LEGATE_HOME", &path)
            .env_remove("LEGATE_ORIGIN");
    });
    let far = common::mcp::client_config(false)
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .unwrap();
    let d = ok(
        &far,
        "delegate",
        json!({"agent": "fake", "prompt": "print elsewhere"}),
    )
    .await;
    let origin = home.show(d["task"]["task_id"].as_str().unwrap())["origin"].clone();
    assert!(origin.as_str().unwrap().starts_with("mcp:"), "{origin}");
    far.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_its_daemon_and_the_tasks_outlive_the_session() {
    let home = Home::new("");
    let c = stdio(&home, false).await;
    let done = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print before", "wait": true}),
    )
    .await;
    let before = done["task"]["task_id"].as_str().unwrap().to_string();
    let pid = home.daemon_pid().expect("the session started the daemon");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(common::poll_until(Duration::from_secs(10), || home
        .daemon_pid()
        != Some(pid)));
    // The next call brings a daemon back; the earlier result is still there.
    let status = ok(&c, "task_status", json!({"task_id": before})).await;
    assert_eq!(status["task"]["status"], "succeeded");
    assert_ne!(home.daemon_pid(), Some(pid));
    // A task delegated here keeps running after the session ends.
    let later = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "sleep 500; print after the session"}),
    )
    .await;
    let later = later["task"]["task_id"].as_str().unwrap().to_string();
    c.cancel().await.unwrap();
    let statuses = home.wait_all(std::slice::from_ref(&later));
    assert_eq!(statuses[&later], "succeeded");
    assert_eq!(home.show(&later)["result"], "after the session\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_send_continues_an_agent_session() {
    let fake = common::fake_agent().display().to_string();
    let home = Home::new(&format!(
        "[agents.acp]\nkind = \"acp\"\ncommand = [\"{fake}\", \"--acp\"]\n"
    ));
    let c = stdio(&home, false).await;
    let agents = ok(&c, "list_agents", json!({})).await;
    let acp = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "acp")
        .unwrap()
        .clone();
    assert_eq!(acp["resumable"], true);
    let first = ok(
        &c,
        "delegate",
        json!({"agent": "acp", "prompt": "print remembered words", "wait": true}),
    )
    .await;
    assert_eq!(first["task"]["status"], "succeeded", "{first}");
    let id = first["task"]["task_id"].as_str().unwrap();
    let next = ok(
        &c,
        "task_send",
        json!({"task_id": id, "prompt": "recall", "wait": true}),
    )
    .await;
    assert_eq!(next["task"]["status"], "succeeded", "{next}");
    assert_eq!(
        next["task"]["result"], "earlier: print remembered words",
        "{next}"
    );
    let plain = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print x", "wait": true}),
    )
    .await;
    let why = refused(
        &c,
        "task_send",
        json!({"task_id": plain["task"]["task_id"], "prompt": "more"}),
    )
    .await;
    assert!(why.contains("cannot continue a session"), "{why}");
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_say_what_they_mean_once() {
    let home = Home::new("[mcp]\nresult_chars = 30000\n");
    let c = stdio(&home, false).await;

    // Only formats JSON Schema defines: hosts warn about any other.
    for t in c.list_all_tools().await.unwrap() {
        let mut found = formats(&t.input_schema);
        if let Some(o) = &t.output_schema {
            found.extend(formats(o));
        }
        for f in found {
            assert!(
                STANDARD_FORMATS.contains(&f.as_str()),
                "{}: format {f:?}",
                t.name
            );
        }
    }

    // A task that has not finished is still running, whatever its status.
    let queued = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "sleep 60000"}),
    )
    .await;
    assert!(["queued", "running"].contains(&queued["task"]["status"].as_str().unwrap()));
    assert_eq!(queued["still_running"], true, "{queued}");
    let queued_id = queued["task"]["task_id"].as_str().unwrap().to_string();

    // A list has no wait that could have timed out.
    let listed = ok(&c, "task_list", json!({})).await;
    assert!(listed.get("timed_out").is_none(), "{listed}");
    assert_eq!(ids_of(&listed["tasks"]), std::slice::from_ref(&queued_id));

    // A 20,000-character result travels once.
    let long = "r".repeat(20_000);
    let r = call(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": format!("print {long}"), "wait": true}),
    )
    .await;
    let size: usize = r
        .content
        .iter()
        .filter_map(|b| b.as_text())
        .map(|t| t.text.len())
        .sum::<usize>()
        + r.structured_content
            .as_ref()
            .map_or(0, |s| s.to_string().len());
    assert!(
        (20_000..22_000).contains(&size),
        "one copy of the result, not {size} characters"
    );
    let done = answer(&r);
    assert_eq!(done["still_running"], false);
    assert_eq!(done["task"]["result"], format!("{long}\n"));

    // A failure says the agent's own words.
    let failed = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "eprint the model is unreachable\nexit 7", "wait": true}),
    )
    .await;
    let error = failed["task"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("exit_nonzero: the agent exited with code 7")
            && error.ends_with("  the model is unreachable"),
        "{error}"
    );

    // A result read with task_result is not repeated as news in the same answer.
    let direct = ok(
        &c,
        "delegate",
        json!({"agent": "fake", "prompt": "print read directly"}),
    )
    .await;
    let direct_id = direct["task"]["task_id"].as_str().unwrap().to_string();
    home.wait_all(std::slice::from_ref(&direct_id));
    let read = ok(&c, "task_result", json!({"task_id": direct_id})).await;
    assert_eq!(read["task"]["result"], "read directly\n");
    assert!(
        !ids_of(&read["finished_since_last_call"]).contains(&direct_id),
        "the result is in the answer already: {read}"
    );
    let again = ok(&c, "list_agents", json!({})).await;
    assert!(
        !ids_of(&again["finished_since_last_call"]).contains(&direct_id),
        "and it counts as read: {again}"
    );
    home.ok(&["cancel", &queued_id]);
    c.cancel().await.unwrap();
}
