//! At submit: the repository a task's working directory is in, and the commit its worktree
//! will start from.

use std::path::Path;

use legate_domain::Worktree;
use legate_domain::api::ErrorCode;

use super::git::Git;
use crate::EngineError;
use crate::error::ServiceError;

fn refused(message: String, hint: &str) -> ServiceError {
    EngineError::refused(ErrorCode::Worktree, message, hint)
}

/// The pending worktree record of a task running in `cwd`: the checkout's top directory, the
/// cwd's place in it, and `base` (any revision; `None`: `HEAD`) resolved to a commit now.
/// Errors: `cwd` in no git repository, in a bare one or inside its `.git`; an unknown base;
/// a repository with no commit yet.
pub(crate) async fn locate(cwd: &str, base: Option<&str>) -> Result<Worktree, ServiceError> {
    let git = Git::at(Path::new(cwd));
    let kind = git
        .run(&["rev-parse", "--is-bare-repository", "--is-inside-work-tree"])
        .await
        .map_err(|e| {
            refused(
                format!("worktree isolation needs a git repository, and the working directory {cwd} is in none ({})", e.message),
                "run it from (or pass --cwd) a directory inside a git checkout, or run it without a worktree (--no-worktree; API and MCP: isolation \"none\")",
            )
        })?;
    let mut answers = kind.lines().map(str::trim);
    if answers.next() == Some("true") || answers.next() != Some("true") {
        return Err(refused(
            format!(
                "the working directory {cwd} is in a bare repository or inside a .git directory: there is no checkout to branch from"
            ),
            "run it from a directory of a checkout (a clone with a work tree)",
        ));
    }
    let path_of = async |what: &str| {
        let out = git
            .run(&["rev-parse", what])
            .await
            .map_err(|e| refused(e.to_string(), "check the repository with `git status`"))?;
        // Exactly git's line: a path may end in spaces, and one holding a line break
        // cannot be told apart from two.
        let path = out.strip_suffix('\n').unwrap_or(&out).to_string();
        if path.contains('\n') {
            return Err(refused(
                format!(
                    "the repository's path {path:?} holds a line break, which worktree isolation does not support"
                ),
                "rename the directory, or run it without a worktree (--no-worktree)",
            ));
        }
        Ok(path)
    };
    let top = path_of("--show-toplevel").await?;
    let prefix = path_of("--show-prefix").await?;
    let wanted = base.unwrap_or("HEAD");
    if wanted.trim().is_empty() || wanted.starts_with('-') {
        return Err(refused(
            format!("'{wanted}' is not a revision"),
            "pass --base a branch, tag or commit, e.g. --base main",
        ));
    }
    let spec = format!("{wanted}^{{commit}}");
    let commit = git
        .line(&["rev-parse", "--verify", "--quiet", "--end-of-options", &spec])
        .await
        .map_err(|_| match base {
            Some(b) => refused(
                format!("the base '{b}' names no commit in the repository {top}"),
                "pass --base an existing branch, tag or commit (see `git log --oneline`)",
            ),
            None => refused(
                format!("the checkout {top} is on a branch with no commit yet, so a worktree has nothing to start from"),
                "make a first commit, pass --base a branch or commit that exists (API and MCP: base), or run it without a worktree (--no-worktree)",
            ),
        })?;
    Ok(Worktree::pending(
        top,
        prefix.trim_end_matches('/').to_string(),
        commit,
    ))
}
