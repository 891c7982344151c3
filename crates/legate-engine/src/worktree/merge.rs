//! Merging a finished task's worktree into the checkout it was submitted from. Everything that
//! could go wrong is checked before anything changes: the task's worktree (on its branch, no
//! unfinished merge in it), the checkout (on a branch, with commits, nothing in progress, its
//! tracked files unchanged, the task's base in its history, no untracked or ignored file the
//! merge would overwrite) and the merge itself (`git merge-tree`, conflicts named).

use std::collections::BTreeSet;
use std::path::Path;

use legate_domain::api::{ErrorCode, MergeReport, MergeRequest};
use legate_domain::worktree::LISTED_MAX;
use legate_domain::{Task, WorktreeState};

use super::git::{Git, identity};
use super::report::Changes;
use super::review::{git_failed, refused};
use crate::EngineError;
use crate::error::ServiceError;
use crate::service::Service;

/// The marks git leaves in a repository's git directory while an operation is unfinished.
const IN_PROGRESS: &[(&str, &str)] = &[
    ("MERGE_HEAD", "a merge"),
    ("rebase-merge", "a rebase"),
    ("rebase-apply", "a rebase or `git am`"),
    ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("REVERT_HEAD", "a revert"),
    ("BISECT_LOG", "a bisect"),
    ("sequencer", "a cherry-pick or revert of several commits"),
];

/// What git is in the middle of in the checkout or worktree at `dir`, if anything (one git
/// call for every mark).
async fn in_progress(dir: &Path) -> Option<&'static str> {
    let mut args = vec!["rev-parse"];
    for (mark, _) in IN_PROGRESS {
        args.extend(["--git-path", mark]);
    }
    let paths = Git::at(dir).run(&args).await.ok()?;
    IN_PROGRESS
        .iter()
        .zip(paths.lines())
        .find(|(_, path)| dir.join(path).exists())
        .map(|((_, what), _)| *what)
}

impl Service {
    /// Merges a finished task's work into the current branch of the checkout it was submitted
    /// in: its uncommitted changes are committed on its branch first (a message naming the
    /// task), then the branch is merged (or `--squash`ed into one commit), and worktree and
    /// branch are removed. Refused, with nothing changed, when any check in the module
    /// documentation fails.
    pub async fn merge(
        &self,
        reference: &str,
        req: MergeRequest,
    ) -> Result<MergeReport, ServiceError> {
        let (svc, reference) = (self.clone(), reference.to_string());
        self.to_the_end(async move { svc.merge_now(&reference, req).await })
            .await
    }

    async fn merge_now(
        &self,
        reference: &str,
        req: MergeRequest,
    ) -> Result<MergeReport, ServiceError> {
        let (turn, task, record) = self.worktree_task_locked(reference).await?;
        Self::must_exist(&task, &record, "merge")?;
        let path = self.restored(&task, &record).await?;
        let branch = record.branch.clone().unwrap_or_default();
        let changes = self
            .worktree_changes(Path::new(&path), &record.base, &branch)
            .await
            .map_err(git_failed)?;
        check_worktree(&task, &path, &branch, &record.base, &changes).await?;
        let repo_path = record.repo.clone();
        let repo_dir = Path::new(&repo_path);
        let repo = Git::at(repo_dir);
        let into = check_checkout(&task, repo_dir, &record.base).await?;
        let id = &task.id;
        let title = legate_domain::terminal::one_line(&task.title);
        let message = format!("legate task {id}: {title}");
        let who = identity(repo_dir).await;
        // What would be merged, as a commit object that changes nothing yet.
        let candidate = if changes.uncommitted {
            let parts = [
                "commit-tree",
                &changes.tree,
                "-p",
                &changes.head,
                "-m",
                &message,
            ];
            repo.line(&[&who[..], &parts].concat())
                .await
                .map_err(git_failed)?
        } else {
            changes.head.clone()
        };
        check_merge(&task, repo_dir, &record.base, &candidate, &branch).await?;
        if changes.uncommitted {
            // The branch takes the commit just checked; the files already match it.
            Git::at(Path::new(&path))
                .run(&["reset", "-q", "--mixed", &candidate])
                .await
                .map_err(git_failed)?;
        }
        merge_commit(repo_dir, &candidate, &message, req.squash, &who).await?;
        let commit = repo
            .line(&["rev-parse", "HEAD"])
            .await
            .map_err(git_failed)?;
        let committed_leftovers = changes.uncommitted;
        let mut record = changes.into_record(record);
        let range = format!("{}..{candidate}", record.base);
        let max = format!("--max-count={LISTED_MAX}");
        if let Ok(commits) = repo.run(&["rev-list", &max, &range]).await {
            record.commits = commits.lines().map(str::to_string).collect();
        }
        record.head = Some(candidate);
        if let Err(e) = self.remove_worktree(&record).await {
            tracing::warn!(task = %id, "removing the merged worktree failed: {e}");
        }
        record.state = WorktreeState::Merged;
        // Recorded before the turn passes on, so the next request reads the new state.
        self.save_chain(&task, &record).await;
        drop(turn);
        Ok(MergeReport {
            task: task.id,
            worktree: record,
            into: Some(into),
            commit,
            committed_leftovers,
        })
    }
}

/// The task's worktree has nothing half done, is on its branch, which still holds its base,
/// and holds changes.
async fn check_worktree(
    task: &Task,
    path: &str,
    branch: &str,
    base: &str,
    changes: &Changes,
) -> Result<(), ServiceError> {
    let id = &task.id;
    if let Some(what) = in_progress(Path::new(path)).await {
        return Err(refused(
            format!("task {id}'s agent left {what} unfinished in its worktree {path}"),
            format!(
                "finish or abort it there (e.g. git -C {path} merge --abort), or send a follow-up asking the agent to"
            ),
        ));
    }
    if !changes.on_branch {
        return Err(refused(
            format!(
                "task {id}'s worktree {path} is no longer on its branch {branch} (its agent checked out something else): merging would leave the branch's own commits behind"
            ),
            format!(
                "check the branch out again (git -C {path} checkout {branch}) and merge, or merge by hand"
            ),
        ));
    }
    let git = Git::at(Path::new(path));
    let unmerged = git
        .run(&["diff", "--name-only", "--diff-filter=U"])
        .await
        .map_err(git_failed)?;
    if !unmerged.trim().is_empty() {
        let files: Vec<&str> = unmerged.lines().collect();
        return Err(refused(
            format!(
                "task {id}'s worktree holds unresolved conflicts in: {}",
                files.join(", ")
            ),
            "resolve them there, or send a follow-up asking the agent to",
        ));
    }
    if !git.ok(&["merge-base", "--is-ancestor", base, "HEAD"]).await {
        return Err(refused(
            format!(
                "task {id}'s branch {branch} no longer contains the commit it started from ({base}): its agent rewrote history, and a merge would not do what its diff shows"
            ),
            "merge it by hand, or send a follow-up asking the agent to rebuild its work on top of its start",
        ));
    }
    if !changes.any() {
        return Err(refused(
            format!("task {id}'s worktree holds no change from its base"),
            format!("discard it instead: legate discard {id}"),
        ));
    }
    Ok(())
}

/// The checkout can take a merge: on a branch with commits, nothing in progress, tracked files
/// unchanged, the task's base in its history. Its branch's name.
async fn check_checkout(task: &Task, repo_dir: &Path, base: &str) -> Result<String, ServiceError> {
    let repo = Git::at(repo_dir);
    let shown = repo_dir.display();
    let dirty_refusal =
        |message: String, hint: &str| EngineError::refused(ErrorCode::DirtyCheckout, message, hint);
    if let Some(what) = in_progress(repo_dir).await {
        return Err(dirty_refusal(
            format!("the checkout {shown} is in the middle of {what}"),
            "finish or abort it first, then merge again",
        ));
    }
    let Ok(branch) = repo.line(&["symbolic-ref", "--short", "-q", "HEAD"]).await else {
        return Err(dirty_refusal(
            format!(
                "the checkout {shown} is on a detached HEAD: a merge there would be lost at the next checkout"
            ),
            "check out the branch to merge into, then merge again",
        ));
    };
    if !repo.ok(&["rev-parse", "--verify", "--quiet", "HEAD"]).await {
        return Err(dirty_refusal(
            format!("the checkout's branch {branch} has no commit yet"),
            "check out a branch with commits, then merge again",
        ));
    }
    let dirty = repo
        .run(&["status", "--porcelain", "--untracked-files=no"])
        .await
        .map_err(git_failed)?;
    if !dirty.trim().is_empty() {
        let files: Vec<&str> = dirty.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
        return Err(dirty_refusal(
            format!(
                "the checkout {shown} has uncommitted changes ({}): merge needs a clean working tree",
                files.join(", ")
            ),
            "commit or stash them (git stash), then merge again",
        ));
    }
    if !repo
        .ok(&["merge-base", "--is-ancestor", base, "HEAD"])
        .await
    {
        let range = format!("HEAD..{base}");
        let extra = repo
            .line(&["rev-list", "--count", &range])
            .await
            .unwrap_or_default();
        return Err(refused(
            format!(
                "task {} started from {base}, which the checkout's branch {branch} does not contain: merging would also bring in {extra} commit(s) made before the task",
                task.id
            ),
            "merge it by hand if that is what you want, or check out the branch it started from",
        ));
    }
    Ok(branch)
}

/// Merging `candidate` into the checkout conflicts nowhere and overwrites no untracked or
/// ignored file.
async fn check_merge(
    task: &Task,
    repo_dir: &Path,
    base: &str,
    candidate: &str,
    branch: &str,
) -> Result<(), ServiceError> {
    let id = &task.id;
    let repo = Git::at(repo_dir);
    let probe = repo
        .run(&[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "HEAD",
            candidate,
        ])
        .await;
    match probe {
        Ok(_) => {}
        Err(e) if e.code == Some(1) => {
            let files: Vec<&str> = e
                .message
                .lines()
                .skip(1)
                .filter(|l| !l.is_empty())
                .collect();
            return Err(EngineError::refused(
                ErrorCode::MergeConflict,
                format!(
                    "merging task {id} into {} would conflict in: {}; nothing was changed",
                    repo_dir.display(),
                    files.join(", ")
                ),
                format!(
                    "send a follow-up asking the agent to rebase onto the checkout's HEAD, merge by hand (its work is on branch {branch}, once its uncommitted files are committed), or discard it"
                ),
            ));
        }
        Err(e) => return Err(git_failed(e)),
    }
    // Files the task brings that the checkout has untracked (or ignored): git would stop half
    // way, or overwrite an ignored file without a word.
    let changed = repo
        .run(&["diff", "--name-only", "--no-renames", "-z", base, candidate])
        .await
        .map_err(git_failed)?;
    // What the checkout tracks, read once (a task may change thousands of files).
    let index = repo.run(&["ls-files", "-z"]).await.map_err(git_failed)?;
    let index: BTreeSet<&str> = index.split('\0').filter(|n| !n.is_empty()).collect();
    let tracked = |at: &str| {
        let under = format!("{at}/");
        index.contains(at)
            || index
                .range(under.as_str()..)
                .next()
                .is_some_and(|p| p.starts_with(&under))
    };
    let mut blocked = Vec::new();
    for name in changed.split('\0').filter(|n| !n.is_empty()) {
        // The file itself, or a file where the task has a directory on the way to it.
        let mut at = String::new();
        for part in name.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            let whole = at.len() == name.len();
            let Ok(meta) = repo_dir.join(&at).symlink_metadata() else {
                break;
            };
            if (whole || !meta.is_dir()) && !tracked(&at) && !blocked.contains(&at) {
                blocked.push(at.clone());
            }
            if whole && meta.is_dir() {
                // The task's file where the checkout has a directory: what is in it that git
                // does not track (ignored or not) would go.
                let found = repo
                    .run(&["ls-files", "-o", "--", &at])
                    .await
                    .map_err(git_failed)?;
                for f in found.lines().filter(|f| !f.is_empty()) {
                    if !blocked.iter().any(|b| b == f) {
                        blocked.push(f.to_string());
                    }
                }
            }
            if !meta.is_dir() {
                break;
            }
        }
    }
    if !blocked.is_empty() {
        return Err(EngineError::refused(
            ErrorCode::DirtyCheckout,
            format!(
                "task {id} writes files the checkout has untracked or ignored: {}; merging would overwrite them",
                blocked.join(", ")
            ),
            "move them away (or commit them), then merge again",
        ));
    }
    Ok(())
}

/// Merges (or squashes and commits) `commit` into the checkout at `repo_dir`; a failure (a
/// hook that refused) is undone, leaving the checkout as it was.
async fn merge_commit(
    repo_dir: &Path,
    commit: &str,
    message: &str,
    squash: bool,
    who: &[&str],
) -> Result<(), ServiceError> {
    let repo = Git::at(repo_dir);
    let merged = if squash {
        match repo.run(&["merge", "--squash", commit]).await {
            Ok(_) => repo
                .run(&[who, &["commit", "-q", "-m", message]].concat())
                .await
                .map(drop),
            Err(e) => Err(e),
        }
    } else {
        let args = [who, &["merge", "--no-edit", "-m", message, commit]].concat();
        repo.run(&args).await.map(drop)
    };
    if let Err(e) = merged {
        // Nothing was in progress before (checked), so this undoes only legate's merge.
        let undo: &[&str] = if squash {
            &["reset", "-q", "--merge"]
        } else {
            &["merge", "--abort"]
        };
        let _ = repo.run(undo).await;
        return Err(refused(
            format!(
                "git refused the merge: {}; the checkout is as it was",
                e.message
            ),
            "a hook of the repository may have refused it: see its message",
        ));
    }
    Ok(())
}
