//! Worktree isolation through the real `legate` binary, the fake agent editing and committing
//! files in real git repositories: eight tasks at once, a follow-up in the same worktree,
//! review and merge from the command line, bad input, and a daemon killed while git was
//! creating a worktree.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::git::{git, repo};
use common::{Home, poll_until, refused};
use serde_json::Value;

fn worktree(home: &Home, id: &str) -> Value {
    home.show(id)["worktree"].clone()
}

#[test]
fn eight_agents_sent_at_once_into_one_repository_each_commit_on_their_own_branch() {
    let home = Home::with_max_running(8, "");
    let repo = repo(&home.path().join("repo"));
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let cwd = repo.display().to_string();
    let ids: Vec<String> = (0..8)
        .map(|i| {
            let prompt = format!("write file{i}.txt hello {i}; commit add file{i}; cwd");
            let out = home.ok(&["run", "fake", "--worktree", "--cwd", &cwd, &prompt]);
            out.trim().to_string()
        })
        .collect();
    let done = home.wait_all(&ids);
    let mut dirs = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(done[id], "succeeded", "task {i}: {}", home.show(id));
        let w = worktree(&home, id);
        assert_eq!(w["state"], "kept", "{w}");
        assert_eq!(w["base"], head.as_str());
        assert_eq!(w["files"], serde_json::json!([format!("file{i}.txt")]));
        assert_eq!(
            (w["files_changed"].as_u64(), w["insertions"].as_u64()),
            (Some(1), Some(1))
        );
        let branch = format!("legate/{id}");
        assert_eq!(w["branch"], branch.as_str());
        let path = w["path"].as_str().unwrap();
        let in_data = home.path().join("data").join("worktrees").join(id);
        assert_eq!(
            Path::new(path),
            in_data,
            "not under legate's data directory"
        );
        let result = home.ok(&["result", id]);
        assert!(
            result.contains(path),
            "task {i} ran in {result}, not in {path}"
        );
        dirs.insert(path.to_string());
        let range = format!("{head}..{branch}");
        assert_eq!(git(&repo, &["rev-list", "--count", &range]), "1");
        let changed = git(&repo, &["diff", "--name-only", &head, &branch]);
        assert_eq!(
            changed,
            format!("file{i}.txt"),
            "branch {branch} holds more than its own commit"
        );
    }
    assert_eq!(dirs.len(), 8, "two tasks shared a directory");
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        "",
        "the checkout changed"
    );
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&repo, &["symbolic-ref", "--short", "HEAD"]), "main");
}

#[test]
fn a_follow_up_continues_in_the_worktree_and_the_cli_reviews_and_merges_it() {
    let sessions = tempfile::tempdir().unwrap();
    let home = Home::with_resumable_agent(sessions.path());
    let repo = repo(&home.path().join("repo"));
    let cwd = repo.display().to_string();
    let first = home.ok(&[
        "run",
        "resumable",
        "--worktree",
        "--cwd",
        &cwd,
        "write a.txt one; commit one",
    ]);
    let a = first.trim().to_string();
    home.wait_all(std::slice::from_ref(&a));
    let path = worktree(&home, &a)["path"].as_str().unwrap().to_string();

    let b = home
        .ok(&["send", &a, "append a.txt two"])
        .trim()
        .to_string();
    home.wait_all(std::slice::from_ref(&b));
    let wb = worktree(&home, &b);
    assert_eq!(
        wb["path"],
        path.as_str(),
        "the follow-up got another worktree"
    );
    assert_eq!(wb["branch"], format!("legate/{a}").as_str());
    assert_eq!(
        (wb["state"].as_str(), wb["files_changed"].as_u64()),
        (Some("kept"), Some(1))
    );
    let text = std::fs::read_to_string(Path::new(&path).join("a.txt")).unwrap();
    assert_eq!(
        text, "one\ntwo\n",
        "the follow-up did not continue in the worktree"
    );
    assert_eq!(worktree(&home, &a)["continued_by"], b.as_str());
    let shown = home.ok(&["show", &a]);
    assert!(shown.contains(&format!("continued by task {b}")), "{shown}");
    refused(&home, &["send", &a, "more"], &["already continues", &b]);

    // Reviewing the first task reads the worktree its follow-up continued.
    let patch = home.ok(&["diff", &a]);
    assert!(patch.contains("+one") && patch.contains("+two"), "{patch}");
    let stat = home.ok(&["diff", &b, "--stat"]);
    assert!(
        stat.contains("a.txt") && stat.contains("1 file changed"),
        "{stat}"
    );

    // A dirty checkout is refused and nothing moves.
    let head = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("README"), "edited\n").unwrap();
    refused(&home, &["merge", &a], &["uncommitted changes", "README"]);
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
    git(&repo, &["checkout", "-q", "README"]);

    let merged = home.ok(&["merge", &a, "--squash"]);
    assert!(
        merged.contains(&format!("merged task {b}")) && merged.contains("into main"),
        "{merged}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("a.txt")).unwrap(),
        "one\ntwo\n"
    );
    assert_eq!(
        git(&repo, &["rev-list", "--count", &format!("{head}..HEAD")]),
        "1"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    for id in [&a, &b] {
        assert_eq!(worktree(&home, id)["state"], "merged");
    }
    assert!(!Path::new(&path).exists());
    refused(&home, &["merge", &b], &["already merged"]);
    refused(&home, &["discard", &a], &["already merged"]);
}

#[test]
fn bad_worktree_requests_exit_non_zero_and_change_nothing() {
    let home = Home::new("");
    let repo = repo(&home.path().join("repo"));
    let cwd = repo.display().to_string();
    let plain = home.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let plain = plain.display().to_string();
    refused(
        &home,
        &["run", "fake", "--worktree", "--cwd", &plain, "print x"],
        &["needs a git repository", "--no-worktree"],
    );
    refused(
        &home,
        &[
            "run",
            "fake",
            "--worktree",
            "--base",
            "nope",
            "--cwd",
            &cwd,
            "print x",
        ],
        &["'nope' names no commit"],
    );
    let bare = home.path().join("bare.git");
    git(
        home.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    refused(
        &home,
        &[
            "run",
            "fake",
            "--worktree",
            "--cwd",
            bare.to_str().unwrap(),
            "print x",
        ],
        &["bare repository"],
    );
    refused(
        &home,
        &["run", "fake", "--base", "main", "--cwd", &cwd, "print x"],
        &["--base applies only to a task that runs in a worktree"],
    );
    assert!(
        home.ls(&[]).is_empty(),
        "a refused submission stored a task"
    );

    // A running task's worktree cannot be merged or discarded; a plain task has none.
    let go = home.path().join("go");
    let hold = format!("write x.txt x; wait-file {}", go.display());
    let running = home.ok(&["run", "fake", "--worktree", "--cwd", &cwd, &hold]);
    let running = running.trim();
    assert!(poll_until(
        Duration::from_secs(60),
        || home.show(running)["status"] == "running"
    ));
    refused(&home, &["merge", running], &["is running"]);
    refused(&home, &["discard", running], &["is running"]);
    std::fs::write(&go, "").unwrap();
    home.wait_all(&[running.to_string()]);
    let plain_task = home.submit("fake", "print x");
    home.wait_all(std::slice::from_ref(&plain_task));
    refused(&home, &["diff", &plain_task], &["has no worktree"]);
    let gone = home.ok(&["discard", running]);
    assert!(gone.contains("discarded"), "{gone}");
    refused(&home, &["discard", running], &["was discarded"]);
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn a_daemon_killed_while_git_creates_a_worktree_recovers_it_at_the_next_start() {
    let home = Home::new(&format!(
        "[agents.again]\ncommand = [\"{}\", \"{{prompt}}\"]\nretry_interrupted = true\n",
        common::fake_agent().display()
    ));
    let repo = repo(&home.path().join("repo"));
    // The user's smudge filter holds git's checkout while `block` exists, as a large
    // checkout takes time: the daemon dies with `git worktree add` half way.
    let (entered, block) = (home.path().join("entered"), home.path().join("block"));
    let later = home.path().join("later");
    let filter = format!(
        "if [ ! -e '{}' ]; then touch '{}'; while [ -e '{}' ]; do sleep 0.01; done; fi; cat",
        later.display(),
        entered.display(),
        block.display()
    );
    git(&repo, &["config", "filter.hold.smudge", &filter]);
    std::fs::write(repo.join(".git/info/attributes"), "* filter=hold\n").unwrap();
    std::fs::write(&block, "").unwrap();
    let cwd = repo.display().to_string();
    let id = home.ok(&[
        "run",
        "again",
        "--worktree",
        "--cwd",
        &cwd,
        "write x.txt x; commit x",
    ]);
    let id = id.trim().to_string();
    assert!(
        poll_until(Duration::from_secs(60), || entered.exists()),
        "git never checked out"
    );
    let pid = home.daemon_pid().unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    // Dead (gone, or a zombie nobody reaps in a container).
    let dead = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')').next().unwrap().trim_start().starts_with('Z')
        })
    };
    assert!(poll_until(Duration::from_secs(30), dead));
    // The git that `worktree add` started goes on (held in the filter) in the half-made
    // worktree; later checkouts pass.
    std::fs::write(&later, "").unwrap();
    let path = home.path().join("data").join("worktrees").join(&id);
    let working_there = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path().join("cwd")).ok())
            .filter(|cwd| cwd.starts_with(&path))
            .count()
    };
    assert!(
        working_there() > 0,
        "no git was left working in the worktree"
    );

    // The next command starts a daemon, which takes the task back, kills what was left
    // working in the half-made worktree, clears it, makes it again and runs the task in it.
    let done = home.wait_all(std::slice::from_ref(&id));
    assert_eq!(
        working_there(),
        0,
        "the crashed daemon's git is still at work"
    );
    std::fs::remove_file(&block).unwrap();
    assert_eq!(done[&id], "succeeded", "{}", home.show(&id));
    let t = home.show(&id);
    assert_eq!(t["attempt"], 2);
    let w = &t["worktree"];
    assert_eq!(w["files"], serde_json::json!(["x.txt"]), "{w}");
    let path = Path::new(w["path"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(path.join("README")).unwrap(),
        "hello\n"
    );
    let branch = format!("legate/{id}");
    let base = w["base"].as_str().unwrap();
    assert_eq!(
        git(
            &repo,
            &["rev-list", "--count", &format!("{base}..{branch}")]
        ),
        "1"
    );
    let list = git(&repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(
        list.lines().filter(|l| l.starts_with("worktree ")).count(),
        2,
        "{list}"
    );
    assert!(!list.contains("locked"), "{list}");
    assert_eq!(
        git(&repo, &["worktree", "prune", "--dry-run", "-v"]),
        "",
        "stale worktree entries"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(
        working_there(),
        0,
        "the crashed daemon's git is still at work"
    );
}
