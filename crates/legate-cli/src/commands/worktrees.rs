//! `legate diff`, `legate merge` and `legate discard`: reviewing and integrating the work a
//! task did in its worktree.

use anyhow::Result;
use legate_domain::api::{DiffQuery, MergeRequest};
use legate_domain::terminal::{multi_line, one_line};

use crate::commands::print_json;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Prints what task `id`'s worktree changed (the patch or `--stat`), or with `other` the files
/// both tasks changed.
pub async fn diff(
    paths: &Paths,
    id: &str,
    other: Option<String>,
    stat: bool,
    json: bool,
) -> Result<i32> {
    let client = connect(paths).await?;
    let report = client
        .diff(
            id,
            &DiffQuery {
                stat,
                against: other,
            },
        )
        .await?;
    if json {
        print_json(&report)?;
        return Ok(exit::OK);
    }
    match &report.overlap {
        Some(o) if o.files.is_empty() => {
            outln!(
                "tasks {} and {} changed no file in common",
                report.task,
                o.other
            );
        }
        Some(o) => {
            outln!(
                "files changed by both {} and {} (merging both may conflict there):",
                report.task,
                o.other
            );
            for f in &o.files {
                outln!("  {}", one_line(f));
            }
        }
        None if report.text.is_empty() => outln!("no change from the base"),
        None => out!("{}", multi_line(&report.text)),
    }
    Ok(exit::OK)
}

/// Merges task `id`'s worktree into its checkout's current branch.
pub async fn merge(paths: &Paths, id: &str, squash: bool, json: bool) -> Result<i32> {
    let client = connect(paths).await?;
    let report = client.merge(id, &MergeRequest { squash }).await?;
    if json {
        print_json(&report)?;
        return Ok(exit::OK);
    }
    let w = &report.worktree;
    let short = report.commit.get(..12).unwrap_or(&report.commit);
    outln!(
        "merged task {} ({} file(s), +{} -{}) into {} of {}: now at {short}",
        report.task,
        w.files_changed,
        w.insertions,
        w.deletions,
        report.into.as_deref().unwrap_or("the detached HEAD"),
        w.repo
    );
    if report.committed_leftovers {
        outln!("(its uncommitted changes were committed on its branch first)");
    }
    outln!(
        "worktree and branch {} removed",
        w.branch.as_deref().unwrap_or("")
    );
    Ok(exit::OK)
}

/// Removes task `id`'s worktree and branch.
pub async fn discard(paths: &Paths, id: &str, json: bool) -> Result<i32> {
    let client = connect(paths).await?;
    let task = client.discard(id).await?;
    if json {
        print_json(&task)?;
        return Ok(exit::OK);
    }
    let branch = task
        .worktree
        .as_ref()
        .and_then(|w| w.branch.clone())
        .unwrap_or_default();
    outln!("discarded task {}'s worktree and branch {branch}", task.id);
    Ok(exit::OK)
}
