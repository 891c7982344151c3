//! What a submission brings besides the task: the submitter's environment (for the runner
//! only, never shown) and its idempotency key (a retried submission returns the same task).

use std::sync::Arc;

use legate_domain::{EventFilter, TaskEnv};
use legate_store::{Store, TaskFilter};

use super::support::{all_events, claim_one, claim_req, get, new_task, success};

/// A secret that must never leave the store except towards the runner.
const SECRET: &str = "sk-contract-secret-42";

pub async fn the_env_reaches_only_the_claim_and_never_the_task(s: Arc<dyn Store>) {
    let env = TaskEnv::from_pairs([("API_KEY", SECRET), ("FOO", "bar")]);
    let mut with_env = new_task("a", "with env");
    with_env.env = Some(env.clone());
    let ins = s.insert(with_env).await.unwrap();
    let plain = s.insert(new_task("a", "without env")).await.unwrap();

    let shown = |what: &str, json: String| {
        assert!(
            !json.contains(SECRET) && !json.contains("API_KEY"),
            "{what} shows the environment: {json}"
        );
    };
    shown("insert", serde_json::to_string(&ins.task).unwrap());
    let id = ins.task.id.clone();
    shown(
        "get",
        serde_json::to_string(&s.get(&id, true).await.unwrap()).unwrap(),
    );
    let listed = s
        .list(&TaskFilter {
            limit: 10,
            ..TaskFilter::default()
        })
        .await
        .unwrap();
    shown("list", serde_json::to_string(&listed).unwrap());
    shown(
        "events",
        serde_json::to_string(&all_events(&*s).await).unwrap(),
    );

    let first = claim_one(&*s, &claim_req("w", 10, 1)).await;
    assert_eq!(first.task.id, id);
    assert_eq!(
        first.env,
        Some(env),
        "the runner gets the environment as submitted"
    );
    shown("claimed task", serde_json::to_string(&first.task).unwrap());
    let second = claim_one(&*s, &claim_req("w", 10, 1)).await;
    assert_eq!(second.task.id, plain.task.id);
    assert_eq!(second.env, None, "a task submitted without one has none");

    s.finish(&first.lease, success()).await.unwrap();
    shown(
        "inbox",
        serde_json::to_string(&s.inbox("test", 10).await.unwrap()).unwrap(),
    );
    let finished = s
        .events_after(0, 100, &EventFilter::default())
        .await
        .unwrap();
    shown("finished events", serde_json::to_string(&finished).unwrap());
}

pub async fn an_idempotency_key_returns_the_same_task_whatever_its_status(s: Arc<dyn Store>) {
    let keyed = |origin: &str, prompt: &str| {
        let mut t = new_task("a", prompt);
        t.origin = origin.into();
        t.idempotency_key = Some("retry-1".into());
        t
    };
    let first = s.insert(keyed("cli:me", "the submission")).await.unwrap();
    assert!(!first.deduplicated && first.event.is_some());
    let events = all_events(&*s).await.len();

    let again = s.insert(keyed("cli:me", "sent again")).await.unwrap();
    assert!(again.deduplicated, "a retry returns the stored task");
    assert_eq!(again.task.id, first.task.id);
    assert!(again.event.is_none());
    assert_eq!(all_events(&*s).await.len(), events, "and writes no event");

    // Unlike a dedupe key, it holds after the task finished.
    let c = claim_one(&*s, &claim_req("w", 10, 1)).await;
    s.finish(&c.lease, success()).await.unwrap();
    let late = s.insert(keyed("cli:me", "a late retry")).await.unwrap();
    assert!(late.deduplicated);
    assert_eq!(late.task.id, first.task.id);
    assert_eq!(get(&*s, &first.task.id).await.title, "the submission");

    // Keys belong to their origin.
    let other = s
        .insert(keyed("mcp:other", "another origin"))
        .await
        .unwrap();
    assert!(!other.deduplicated);
    assert_ne!(other.task.id, first.task.id);

    // Within one group commit, the second of two equal keys gets the first's task.
    let batch = vec![keyed("mcp:batch", "one"), keyed("mcp:batch", "two")];
    let out = s.insert_batch(batch).await.unwrap();
    assert!(!out[0].deduplicated && out[1].deduplicated);
    assert_eq!(out[0].task.id, out[1].task.id);
}

/// A worktree record written at submit, replaced while running and patched after the finish
/// reads back whole, as the task's own field, on every backend: nested fields a later record
/// leaves out (as `null`) do not survive from an earlier one.
pub async fn a_worktree_record_is_patched_whole_and_shown_as_its_own_field(s: Arc<dyn Store>) {
    use legate_domain::{Worktree, WorktreeState};
    let mut record = Worktree::pending("/repo".into(), "sub".into(), "b45e".into());
    let mut new = new_task("a", "isolated");
    new.metadata = serde_json::json!({"keep": 1});
    new.metadata
        .as_object_mut()
        .unwrap()
        .extend(record.as_metadata());
    let id = s.insert(new).await.unwrap().task.id;
    let stored = get(&*s, &id).await;
    assert_eq!(stored.worktree.as_ref(), Some(&record));
    assert!(
        stored.metadata.get("worktree").is_none(),
        "{}",
        stored.metadata
    );

    record.state = WorktreeState::Active;
    record.path = Some("/data/worktrees/x".into());
    record.continued_by = Some(id.clone());
    let patched = s.patch_metadata(&id, record.as_metadata()).await.unwrap();
    assert_eq!(patched.unwrap().worktree.as_ref(), Some(&record));

    let claimed = claim_one(&*s, &claim_req("w", 10, 1)).await;
    let mut outcome = success();
    record.state = WorktreeState::Kept;
    record.continued_by = None;
    outcome.metadata.extend(record.as_metadata());
    let (done, _) = s.finish(&claimed.lease, outcome).await.unwrap();
    assert_eq!(
        done.worktree.as_ref(),
        Some(&record),
        "finish replaces it whole"
    );
    assert_eq!(done.metadata["keep"], 1, "other metadata stays");

    // Retention sees a task whose worktree still exists apart from the rest.
    let all = legate_domain::Timestamp(i64::MAX);
    let c = s.prune_candidates(Some(all), true).await.unwrap();
    assert!(c.tasks.iter().all(|(t, _)| *t != id), "{:?}", c.tasks);
    assert_eq!(c.with_worktree, vec![id.clone()]);

    record.state = WorktreeState::Merged;
    s.patch_metadata(&id, record.as_metadata()).await.unwrap();
    assert_eq!(get(&*s, &id).await.worktree, Some(record));
    let c = s.prune_candidates(Some(all), true).await.unwrap();
    assert!(c.tasks.iter().any(|(t, _)| *t == id));
    assert!(c.with_worktree.is_empty());
    assert!(
        s.patch_metadata(
            &legate_domain::TaskId::parse("zzzzzzzz").unwrap(),
            Default::default()
        )
        .await
        .unwrap()
        .is_none()
    );
}
