//! Turning legate tasks into what a model reads, with results capped.

use legate_domain::Task;
use legate_domain::task::result_tail;

use crate::shapes::{Finished, TaskView, WorktreeView};

/// How much of a result goes into `finished_since_last_call` (task_result has the rest).
const FINISHED_CHARS: usize = 1000;

fn error_of(t: &Task) -> Option<String> {
    t.error
        .as_ref()
        .map(|e| format!("{}: {}", e.kind.as_str(), e.message))
}

/// A task with its result capped to `max_chars` (the end is kept: agents conclude last).
pub fn task_view(t: &Task, max_chars: usize) -> TaskView {
    let (result, cut) = match t.result.as_deref() {
        Some(r) => {
            let (text, cut) = result_tail(r, max_chars);
            (Some(text), cut)
        }
        None => (None, false),
    };
    TaskView {
        task_id: t.id.to_string(),
        agent: t.agent.clone(),
        title: t.title.clone(),
        status: t.status.to_string(),
        result,
        error: error_of(t),
        full_result: cut.then(|| {
            format!(
                "read the resource legate://tasks/{id}, or run `legate result {id}`",
                id = t.id
            )
        }),
        created_at: t.created_at.to_string(),
        finished_at: t.finished_at.map(|f| f.to_string()),
        worktree: t.worktree.as_ref().map(worktree_view),
    }
}

/// A task's worktree record as a model reads it: the path only while the worktree exists.
pub fn worktree_view(w: &legate_domain::Worktree) -> WorktreeView {
    WorktreeView {
        state: w.state.as_str().to_string(),
        path: w.path.clone().filter(|_| w.state.exists()),
        branch: w.branch.clone(),
        base: w.base.clone(),
        head: w.head.clone(),
        files_changed: w.files_changed,
        insertions: w.insertions,
        deletions: w.deletions,
        files: w.files.clone(),
    }
}

/// A finished task as news: its result's beginning, short.
pub fn finished(t: &Task) -> Finished {
    let result = t
        .result
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            let mut s: String = r.chars().take(FINISHED_CHARS).collect();
            if r.chars().count() > FINISHED_CHARS {
                s.push_str(&format!("… (task_result {} has the rest)", t.id));
            }
            s
        });
    Finished {
        task_id: t.id.to_string(),
        title: t.title.clone(),
        status: t.status.to_string(),
        result,
        error: error_of(t),
    }
}
