//! Real git repositories in temporary directories, for the worktree tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use legate_domain::api::SubmitRequest;
use legate_domain::{Isolation, Task};

use super::Engine;

/// A checkout with one commit (`README` holding `hello`) on branch `main`, its own identity
/// configured.
pub struct Repo {
    /// The checkout's top directory.
    pub dir: PathBuf,
}

impl Repo {
    /// A new repository in `dir` (created).
    pub fn init(dir: &Path) -> Repo {
        std::fs::create_dir_all(dir).unwrap();
        let repo = Repo {
            dir: std::fs::canonicalize(dir).unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Test User"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo.write("README", "hello\n");
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "first"]);
        repo
    }

    /// Runs git in the checkout; its trimmed output. Panics when git fails.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.dir, args)
    }

    /// Whether `git ARGS` succeeds in the checkout.
    pub fn git_ok(&self, args: &[&str]) -> bool {
        Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
            .status
            .success()
    }

    /// Writes a file of the checkout.
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    /// The checkout's `HEAD` commit.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// `git status --porcelain` (untracked files included): empty for a clean checkout.
    pub fn status(&self) -> String {
        self.git(&["status", "--porcelain"])
    }

    /// The branches whose names start with `legate/`.
    pub fn task_branches(&self) -> Vec<String> {
        let out = self.git(&["branch", "--list", "legate/*", "--format=%(refname:short)"]);
        out.lines().map(str::to_string).collect()
    }

    /// How many worktrees git knows of, the checkout included.
    pub fn worktree_count(&self) -> usize {
        self.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count()
    }
}

/// Runs git in `dir`; its trimmed output. Panics when git fails.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A submission of `script` to the `sh` agent in `cwd`, in a worktree.
pub fn isolated(cwd: &Path, script: &str) -> SubmitRequest {
    SubmitRequest {
        agent: "sh".into(),
        prompt: script.into(),
        cwd: Some(cwd.display().to_string()),
        isolation: Some(Isolation::Worktree),
        ..SubmitRequest::default()
    }
}

impl Engine {
    /// Submits `script` to run in a worktree of the checkout at `cwd`.
    pub async fn isolated(&self, cwd: &Path, script: &str) -> Task {
        self.submit_with(isolated(cwd, script)).await
    }

    /// Runs `script` in a worktree of the checkout at `cwd` to its end; the task as it
    /// ended, which must be without error.
    pub async fn isolated_done(&self, cwd: &Path, script: &str) -> Task {
        let t = self.isolated(cwd, script).await;
        let t = self.finished(std::slice::from_ref(&t.id)).await.remove(0);
        assert!(t.error.is_none(), "{:?}", t.error);
        t
    }

    /// The task's worktree record as stored now.
    pub async fn worktree_of(&self, task: &Task) -> legate_domain::Worktree {
        let t = self.svc.get(task.id.as_str(), false).await.unwrap();
        t.worktree.expect("the task has a worktree")
    }
}
