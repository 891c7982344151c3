//! Where an agent runs: `--cwd` > the agent's configured `cwd` > the submitter's directory.

mod common;

use common::Home;

#[test]
fn an_agents_cwd_applies_from_the_cli_and_cwd_overrides_it() {
    let placed = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let explicit = tempfile::tempdir().unwrap();
    let home = Home::with_placed_agent(placed.path());
    let run_in = |dir: &std::path::Path, args: &[&str]| {
        let o = home.cmd(args).current_dir(dir).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let canon = |p: &std::path::Path| p.canonicalize().unwrap().display().to_string();

    // Run from another directory: the agent's own applies.
    let got = run_in(elsewhere.path(), &["run", "--wait", "placed", "cwd"]);
    assert_eq!(got, canon(placed.path()));
    // --cwd wins over it.
    let got = run_in(
        elsewhere.path(),
        &[
            "run",
            "--wait",
            "--cwd",
            explicit.path().to_str().unwrap(),
            "placed",
            "cwd",
        ],
    );
    assert_eq!(got, canon(explicit.path()));
    // An agent without a cwd of its own runs where it was submitted.
    let got = run_in(elsewhere.path(), &["run", "--wait", "fake", "cwd"]);
    assert_eq!(got, canon(elsewhere.path()));
}

#[test]
fn the_directory_that_applies_is_checked_at_submit_and_shown() {
    let placed = tempfile::tempdir().unwrap();
    let home = Home::with_placed_agent(placed.path());
    let id = home.submit("placed", "cwd");
    assert_eq!(
        home.show(&id)["cwd"].as_str(),
        Some(placed.path().to_str().unwrap()),
        "show says where it runs, also when the agent's config chose it"
    );

    // An agent whose configured directory is gone is refused at submit, naming it.
    let gone = placed.path().join("gone");
    let home = Home::with_placed_agent(&gone);
    let before = home.ls(&[]).len();
    let out = home.run(&["run", "placed", "cwd"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(gone.to_str().unwrap()) && err.contains("`cwd` of agent `placed`"),
        "{err}"
    );
    assert_eq!(home.ls(&[]).len(), before, "nothing stored");
}

#[test]
fn a_directory_whose_path_is_not_utf8_is_refused_for_what_it_is() {
    use std::os::unix::ffi::OsStrExt;
    let placed = tempfile::tempdir().unwrap();
    let home = Home::with_placed_agent(placed.path());
    let odd = home
        .path()
        .join(std::ffi::OsStr::from_bytes(b"not-utf8-\xff"));
    std::fs::create_dir(&odd).unwrap();
    for (dir, args) in [
        (
            home.path(),
            vec![std::ffi::OsStr::new("--cwd"), odd.as_os_str()],
        ),
        (odd.as_path(), vec![]),
    ] {
        let mut all: Vec<&std::ffi::OsStr> = vec!["run".as_ref()];
        all.extend(args);
        all.extend([std::ffi::OsStr::new("fake"), "x".as_ref()]);
        let out = home.cmd(&[]).args(&all).current_dir(dir).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("is not valid UTF-8"), "{err}");
    }
    assert!(home.ls(&[]).is_empty(), "nothing stored");

    // From such a directory, a task that is told where to run (by --cwd or by its agent's
    // configured directory) is accepted: the current directory does not matter to it.
    let canon = |p: &std::path::Path| p.canonicalize().unwrap().display().to_string();
    let elsewhere = tempfile::tempdir().unwrap();
    for (args, want) in [
        (
            vec![
                "run",
                "--wait",
                "--cwd",
                elsewhere.path().to_str().unwrap(),
                "fake",
                "cwd",
            ],
            canon(elsewhere.path()),
        ),
        (vec!["run", "--wait", "placed", "cwd"], canon(placed.path())),
    ] {
        let out = home.cmd(&args).current_dir(&odd).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want,
            "{args:?}"
        );
    }
}

#[test]
fn a_directory_removed_while_its_task_waits_is_named_as_the_reason() {
    let home = Home::with_max_running(1, "");
    let ahead = home.submit("fake", "hang");
    let dir = tempfile::tempdir().unwrap();
    let waiting = home.ok(&["run", "--cwd", dir.path().to_str().unwrap(), "fake", "cwd"]);
    let waiting = waiting.trim().to_string();
    assert_eq!(home.show(&waiting)["status"], "queued");
    let path = dir.path().display().to_string();
    drop(dir);
    home.ok(&["cancel", &ahead]);
    let done = home.wait_all(std::slice::from_ref(&waiting));
    assert_eq!(done[&waiting], "failed");
    let error = &home.show(&waiting)["error"];
    assert_eq!(error["kind"], "spawn_failed", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&path) && message.contains("no longer exists"),
        "{message}"
    );
    assert!(home.ok(&["logs", &waiting]).contains("no longer exists"));
}

#[test]
fn from_a_removed_directory_a_task_told_where_to_run_is_accepted() {
    let placed = tempfile::tempdir().unwrap();
    let home = Home::with_placed_agent(placed.path());
    let elsewhere = tempfile::tempdir().unwrap();
    let canon = |p: &std::path::Path| p.canonicalize().unwrap().display().to_string();
    // `legate ARGS` run from a directory removed before it starts.
    let from_removed = |args: &[&str]| {
        let gone = home.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        let legate = common::legate_bin();
        // The same environment as every legate command of this home.
        let sh = home.cmd(&[]);
        let mut c = std::process::Command::new("sh");
        c.args(["-c", r#"cd "$1" && rmdir "$1" && shift && exec "$@""#, "sh"])
            .arg(&gone)
            .arg(&legate)
            .args(args);
        for (k, v) in sh.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let dir = elsewhere.path().to_str().unwrap();
    let (code, out, err) = from_removed(&["run", "--wait", "--cwd", dir, "fake", "cwd"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, canon(elsewhere.path()));
    let (code, out, err) = from_removed(&["run", "--wait", "placed", "cwd"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, canon(placed.path()));
    // Nothing else says where: refused, saying why.
    let before = home.ls(&[]).len();
    let (code, _, err) = from_removed(&["run", "fake", "cwd"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot read the current directory"), "{err}");
    assert_eq!(home.ls(&[]).len(), before, "nothing stored");
}
