//! legate talks only to its own daemon. Before sending anything every client (the CLI, the
//! hooks) checks that no other user could have put the socket where it is (the directories
//! on the way, symlinks included) and that the process listening runs as the same user
//! (`SO_PEERCRED`). Another user's impostor listening there gets nothing, not even a prompt;
//! the daemon refuses the same directories at start.

mod common;

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::perms::{
    Impostor, KillOnDrop, chmod, chown_nobody, mkdir, mode_of, nobody_ok, refused_cmd,
    under_umask_000,
};
use common::{Home, legate_bin, legate_in, refused};

const SECRET: &str = "print SECRET-PROMPT-4711";

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn assert_unheard(impostor: Impostor) {
    let heard = impostor.received();
    assert!(
        !heard.contains("received"),
        "the impostor received: {heard}"
    );
}

#[test]
fn a_socket_whose_listener_is_another_user_gets_nothing_from_the_cli_or_hooks() {
    let home = Home::new("");
    mkdir(&home.path().join("run"), 0o700);
    // Another user listens; the socket file is then put where legate looks and given to root,
    // so only the listener's credentials give it away.
    let theirs = tempfile::tempdir().unwrap();
    chown_nobody(theirs.path());
    let impostor = Impostor::listen(&theirs.path().join("s.sock"));
    std::fs::rename(theirs.path().join("s.sock"), home.socket()).unwrap();
    std::os::unix::fs::lchown(home.socket(), Some(0), Some(0)).unwrap();

    let sock = s(&home.socket());
    refused(
        &home,
        &["run", "fake", SECRET],
        &[&sock, "runs as uid 65534", "sent it nothing"],
    );
    let mut hook = home.cmd(&["hook", "claude-code"]);
    let mut child = hook
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"session_id":"s1","hook_event_name":"UserPromptSubmit"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the hook must fail: {err}");
    assert!(err.contains(&sock), "{err}");
    refused(&home, &["daemon", "stop"], &[&sock]);
    assert_unheard(impostor);
}

#[test]
fn a_run_directory_of_another_user_is_refused_by_the_client_and_the_daemon() {
    let home = Home::new("");
    chmod(home.path(), 0o711);
    let run = home.path().join("run");
    mkdir(&run, 0o700);
    chown_nobody(&run);
    let impostor = Impostor::listen(&home.socket());
    refused(
        &home,
        &["run", "fake", SECRET],
        &[&s(&run), "uid 65534", "not by you (uid 0)"],
    );
    refused(&home, &["daemon"], &[&s(&run), "uid 65534"]);
    assert_unheard(impostor);
}

#[test]
fn a_world_writable_run_directory_or_home_is_refused() {
    let home = Home::new("");
    chmod(home.path(), 0o711);
    let run = home.path().join("run");
    mkdir(&run, 0o777);
    let impostor = Impostor::listen(&home.socket());
    refused(
        &home,
        &["run", "fake", SECRET],
        &[&s(&run), "0777", &format!("chmod go-w {}", run.display())],
    );
    refused(&home, &["daemon"], &[&s(&run)]);
    assert_unheard(impostor);

    let open = Home::new("");
    chmod(open.path(), 0o777);
    nobody_ok("/bin/mkdir", &[&s(&open.path().join("run"))]);
    let impostor = Impostor::listen(&open.socket());
    refused(
        &open,
        &["run", "fake", SECRET],
        &[
            &s(open.path()),
            &format!("chmod go-w {}", open.path().display()),
        ],
    );
    assert_unheard(impostor);
}

#[test]
fn a_legate_home_symlink_is_checked_itself_and_where_it_leads() {
    let top = tempfile::tempdir().unwrap();
    chmod(top.path(), 0o1777);
    // A symlink of root's leading to another user's directory, where that user listens.
    let theirs = top.path().join("theirs");
    nobody_ok("/bin/mkdir", &["-p", &s(&theirs.join("run"))]);
    let impostor = Impostor::listen(&theirs.join("run/legate.sock"));
    let mine = top.path().join("mine");
    symlink(&theirs, &mine).unwrap();
    let _reap = KillOnDrop(vec![format!("LEGATE_HOME={}", mine.display())]);
    refused_cmd(
        legate_in(&mine, &["run", "sh", SECRET]),
        &[
            &s(&theirs),
            "uid 65534",
            &format!("where {}", mine.display()),
        ],
    );
    assert_unheard(impostor);

    // A symlink of another user's (they may swap it at any time) leading to root's home.
    let real = top.path().join("real");
    mkdir(&real, 0o700);
    let link = top.path().join("link");
    nobody_ok("/bin/ln", &["-s", &s(&real), &s(&link)]);
    let _reap_link = KillOnDrop(vec![format!("LEGATE_HOME={}", link.display())]);
    refused_cmd(
        legate_in(&link, &["run", "sh", SECRET]),
        &[&s(&link), "uid 65534"],
    );
    assert!(
        std::fs::read_dir(&real).unwrap().next().is_none(),
        "nothing was created through it"
    );
}

/// `legate ARGS` with no `LEGATE_HOME` and no `XDG_RUNTIME_DIR`: the run directory falls back
/// to `$TMPDIR/legate-UID`, the rest to the XDG directories under `home`.
fn xdg_cmd(tmp: &Path, home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(legate_bin());
    c.args(args)
        .env("TMPDIR", tmp)
        .env("HOME", home)
        .stdin(Stdio::null());
    for k in [
        "LEGATE_HOME",
        "LEGATE_CONFIG",
        "LEGATE_DEPTH",
        "LEGATE_TASK_ID",
        "LEGATE_ORIGIN",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
    ] {
        c.env_remove(k);
    }
    c
}

#[test]
fn without_a_runtime_dir_the_tmp_run_directory_is_checked_then_made_private() {
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o1777);
    let user = tempfile::tempdir().unwrap();
    let _reap = KillOnDrop(vec![format!("TMPDIR={}", tmp.path().display())]);
    let run = tmp
        .path()
        .join(format!("legate-{}", nix::unistd::geteuid()));

    // Another user got there first.
    nobody_ok("/bin/mkdir", &[&s(&run)]);
    let impostor = Impostor::listen(&run.join("legate.sock"));
    refused_cmd(
        xdg_cmd(tmp.path(), user.path(), &["run", "sh", SECRET]),
        &[&s(&run), "uid 65534"],
    );
    assert_unheard(impostor);
    std::fs::remove_dir_all(&run).unwrap();

    // Free again: legate makes its own, private whatever the umask.
    let config = user.path().join(".config/legate");
    std::fs::create_dir_all(&config).unwrap();
    let fake = common::fake_agent().display().to_string();
    std::fs::write(
        config.join("config.toml"),
        format!("[agents.fake]\ncommand = [\"{fake}\", \"{{prompt}}\"]\n"),
    )
    .unwrap();
    let out = under_umask_000(&xdg_cmd(
        tmp.path(),
        user.path(),
        &["run", "--wait", "fake", "print hello"],
    ))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(mode_of(&run), 0o700);
    let roots: Vec<PathBuf> = vec![
        run.clone(),
        user.path().join(".local/share/legate"),
        user.path().join(".local/state/legate"),
    ];
    let names = common::perms::assert_all_private(&roots);
    for n in ["legate.sock", "legate.db", "output.log", "daemon.log"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let stop = xdg_cmd(tmp.path(), user.path(), &["daemon", "stop"])
        .output()
        .unwrap();
    assert!(stop.status.success());
}
