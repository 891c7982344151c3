//! The real agent CLIs the end-to-end tests drive, installed (pinned, with npm) by
//! `scripts/install-test-agents`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Installs (once) and finds the pinned CLI `name` (`opencode` or `gemini`); `None`, said on
/// stderr, when npm is missing, so there is nothing to install it with.
pub fn installed(name: &str) -> Option<PathBuf> {
    let npm = Command::new("npm").arg("--version").output();
    if !npm.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: npm is not installed, so the real `{name}` CLI cannot be installed");
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/install-test-agents"))
        .arg(name)
        .output()
        .expect("scripts/install-test-agents runs");
    assert!(
        out.status.success(),
        "installing {name} failed (the npm registry is needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

/// Installs (once) and finds the pinned CLI `name` (any `scripts/install-test-agents` knows:
/// opencode, gemini, claude, codex, hermes); panics saying why when it cannot be installed
/// (npm, or python3 for hermes, missing; the registry out of reach).
pub fn required(name: &str) -> PathBuf {
    let tool = if name == "hermes" { "python3" } else { "npm" };
    let present = Command::new(tool).arg("--version").output();
    assert!(
        present.is_ok_and(|o| o.status.success()),
        "`{tool}` is not installed, so the real `{name}` CLI this test drives cannot be \
         installed: install {tool}, or run scripts/install-test-agents {name} where it is"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/install-test-agents"))
        .arg(name)
        .output()
        .expect("scripts/install-test-agents runs");
    assert!(
        out.status.success(),
        "installing {name} with scripts/install-test-agents failed (its registry is needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A new, empty git project no agent CLI has seen (so none trusts it yet), as a user's new
/// project would be: the directory the preset tests delegate in.
pub fn new_project() -> tempfile::TempDir {
    let project = tempfile::Builder::new().prefix("proj").tempdir().unwrap();
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(project.path())
        .status()
        .unwrap();
    assert!(git.success(), "git init in {}", project.path().display());
    project
}
