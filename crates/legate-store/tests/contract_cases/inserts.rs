//! Inserting, reading back, finding by id prefix, and dedupe.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use legate_domain::id::{ALPHABET, IdPrefix};
use legate_domain::{EventKind, Status, TaskId};
use legate_store::{RescueScope, Store};
use serde_json::json;

use super::support::{
    agents, all_events, claim_one, claim_req, get, insert, new_task, status_of, success,
    without_prompt,
};

fn prefix(s: &str) -> IdPrefix {
    IdPrefix::parse(s).unwrap()
}

pub async fn insert_returns_a_queued_task_and_its_event(s: Arc<dyn Store>) {
    let parent = insert(&*s, "alpha", "the parent").await;
    let mut new = new_task("alpha", "first line\nsecond line");
    new.labels = vec!["x".into(), "y".into()];
    new.priority = 3;
    new.cwd = Some("/tmp/work".into());
    new.timeout_ms = Some(1500);
    new.parent = Some(parent.clone());
    new.depth = 2;
    new.origin = "mcp:session-1".into();
    new.metadata = json!({"session": "s1"});
    let before = all_events(&*s).await;

    let ins = s.insert(new.clone()).await.unwrap();

    assert!(!ins.deduplicated);
    let t = &ins.task;
    assert_eq!(t.id.as_str().len(), 8, "ids have 8 characters");
    assert!(t.id.as_str().bytes().all(|b| ALPHABET.contains(&b)));
    assert_ne!(t.id, parent, "every insert draws a new id");
    assert_eq!(t.status, Status::Queued);
    assert_eq!(t.agent, "alpha");
    assert_eq!(t.title, "first line");
    assert_eq!(t.cwd.as_deref(), Some("/tmp/work"));
    assert_eq!(t.labels, ["x", "y"]);
    assert_eq!(t.priority, 3);
    assert_eq!(t.timeout_ms, Some(1500));
    assert_eq!(t.parent, Some(parent));
    assert_eq!(t.depth, 2);
    assert_eq!(t.origin, "mcp:session-1");
    assert_eq!(t.metadata, json!({"session": "s1"}));
    assert_eq!(t.attempt, 0);
    assert!(!t.cancel_requested);
    assert!(t.started_at.is_none() && t.finished_at.is_none());
    assert!(t.exit_code.is_none() && t.signal.is_none() && t.result.is_none());
    assert!(t.error.is_none() && t.process.is_none());
    assert!(t.created_at.millis() > 0);

    let ev = ins
        .event
        .clone()
        .expect("a fresh insert has a queued event");
    assert_eq!(ev.kind, EventKind::Queued);
    assert!(ev.seq > 0);
    assert_eq!(ev.task_id, t.id);
    let after = all_events(&*s).await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(
        after.last(),
        Some(&ev),
        "the event returned is the one stored"
    );

    assert_eq!(get(&*s, &t.id).await, without_prompt(ins.task.clone()));
    assert!(!s.describe().is_empty());
}

pub async fn get_includes_the_prompt_only_when_asked(s: Arc<dyn Store>) {
    let id = insert(&*s, "a", "do the thing\nwith details").await;
    let bare = s.get(&id, false).await.unwrap().unwrap();
    assert_eq!(bare.prompt, None);
    let full = s.get(&id, true).await.unwrap().unwrap();
    assert_eq!(full.prompt.as_deref(), Some("do the thing\nwith details"));
    assert_eq!(without_prompt(full), bare, "only the prompt differs");

    let mut missing = TaskId::generate();
    while missing == id {
        missing = TaskId::generate();
    }
    assert!(s.get(&missing, true).await.unwrap().is_none());
    assert!(s.get(&missing, false).await.unwrap().is_none());
}

pub async fn a_four_mib_prompt_round_trips(s: Arc<dyn Store>) {
    let mut big = String::with_capacity((4 << 20) + 128);
    let mut line = 0;
    while big.len() < 4 << 20 {
        writeln!(big, "line {line}: ünïcødé ✓ 'single' \"double\" \\ tab\t;").unwrap();
        line += 1;
    }
    assert!(big.len() >= 4 << 20);
    let id = s.insert(new_task("a", &big)).await.unwrap().task.id;
    let back = s.get(&id, true).await.unwrap().unwrap();
    assert!(
        back.prompt.as_deref() == Some(big.as_str()),
        "prompt changed"
    );
    assert_eq!(
        back.title,
        format!("line 0: ünïcødé ✓ 'single' \"double\" \\ tab\t;")
    );
    let claimed = claim_one(&*s, &claim_req("w", 1, 1)).await;
    assert!(
        claimed.task.prompt.as_deref() == Some(big.as_str()),
        "a claim carries the whole prompt"
    );
}

pub async fn ids_with_prefix_finds_by_full_id_and_short_prefixes(s: Arc<dyn Store>) {
    let id = insert(&*s, "a", "x").await;
    let text = id.as_str();
    for len in [1, 2, 3, text.len()] {
        let found = s.ids_with_prefix(&prefix(&text[..len]), 10).await.unwrap();
        assert_eq!(
            found,
            std::slice::from_ref(&id),
            "prefix of {len} characters"
        );
    }
    let upper = s
        .ids_with_prefix(&prefix(&text.to_ascii_uppercase()), 10)
        .await
        .unwrap();
    assert_eq!(
        upper,
        std::slice::from_ref(&id),
        "prefixes are case-insensitive"
    );

    // The same 3 characters with the first one changed: no stored id can start so.
    let first = text.as_bytes()[0];
    let other = *ALPHABET.iter().find(|&&c| c != first).unwrap() as char;
    let impossible = format!("{other}{}", &text[1..3]);
    assert!(
        s.ids_with_prefix(&prefix(&impossible), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A whole id one character off.
    let last = text.as_bytes()[7];
    let other = *ALPHABET.iter().find(|&&c| c != last).unwrap() as char;
    let near_miss = format!("{}{other}", &text[..7]);
    assert!(
        s.ids_with_prefix(&prefix(&near_miss), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn ids_with_prefix_returns_several_limited_by_max(s: Arc<dyn Store>) {
    let mut by_first: BTreeMap<char, BTreeSet<TaskId>> = BTreeMap::new();
    for i in 0..300 {
        let id = insert(&*s, "a", &format!("task {i}")).await;
        let first = id.as_str().chars().next().unwrap();
        by_first.entry(first).or_default().insert(id);
    }
    // 300 ids over 32 first characters: some character starts at least 10 of them.
    let (c, expected) = by_first.iter().max_by_key(|(_, ids)| ids.len()).unwrap();
    assert!(expected.len() >= 10);
    let p = prefix(&c.to_string());

    let all: BTreeSet<TaskId> = s
        .ids_with_prefix(&p, 1000)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(&all, expected, "every id with the prefix, and only those");

    for max in [1, 3] {
        let some = s.ids_with_prefix(&p, max).await.unwrap();
        assert_eq!(some.len(), max as usize, "limited by max = {max}");
        let distinct: BTreeSet<_> = some.iter().cloned().collect();
        assert_eq!(distinct.len(), some.len());
        assert!(distinct.is_subset(expected));
    }

    // A 2-character prefix of one of them.
    let one = expected.iter().next().unwrap();
    let two = &one.as_str()[..2];
    let want: BTreeSet<_> = expected
        .iter()
        .filter(|id| id.as_str().starts_with(two))
        .cloned()
        .collect();
    let got: BTreeSet<_> = s
        .ids_with_prefix(&prefix(two), 1000)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(got, want);
}

pub async fn dedupe_returns_the_unfinished_task_without_an_event(s: Arc<dyn Store>) {
    let mut keyed = new_task("a", "first");
    keyed.dedupe_key = Some("k1".into());
    let first = s.insert(keyed.clone()).await.unwrap();
    assert!(!first.deduplicated);
    assert!(first.event.is_some());
    let events = all_events(&*s).await.len();

    let mut again = keyed.clone();
    again.prompt = "a different prompt".into();
    again.title = "different".into();
    let dup = s.insert(again.clone()).await.unwrap();
    assert!(dup.deduplicated);
    assert!(dup.event.is_none(), "no event for a deduplicated insert");
    assert_eq!(dup.task.id, first.task.id);
    assert_eq!(dup.task.title, "first", "the stored task, unchanged");
    assert_eq!(dup.task.status, Status::Queued);
    assert_eq!(all_events(&*s).await.len(), events);

    // Other keys and no key at all are not deduplicated.
    let mut other = new_task("a", "other");
    other.dedupe_key = Some("k2".into());
    let other = s.insert(other).await.unwrap();
    assert!(!other.deduplicated);
    assert_ne!(other.task.id, first.task.id);
    let plain1 = s.insert(new_task("a", "plain")).await.unwrap();
    let plain2 = s.insert(new_task("a", "plain")).await.unwrap();
    assert!(!plain1.deduplicated && !plain2.deduplicated);
    assert_ne!(plain1.task.id, plain2.task.id);

    // While it runs, the key still returns it.
    let claimed = claim_one(&*s, &claim_req("w", 10, 1)).await;
    assert_eq!(claimed.task.id, first.task.id);
    let events = all_events(&*s).await.len();
    let dup = s.insert(again).await.unwrap();
    assert!(dup.deduplicated);
    assert!(dup.event.is_none());
    assert_eq!(dup.task.id, first.task.id);
    assert_eq!(dup.task.status, Status::Running);
    assert_eq!(all_events(&*s).await.len(), events);
}

pub async fn dedupe_key_is_free_again_once_the_task_finished(s: Arc<dyn Store>) {
    let keyed = |agent: &str| {
        let mut t = new_task(agent, "keyed");
        t.dedupe_key = Some("k".into());
        t
    };
    // Succeeded.
    let a = s.insert(keyed("a")).await.unwrap().task.id;
    let c = claim_one(&*s, &claim_req("w", 10, 1)).await;
    s.finish(&c.lease, success()).await.unwrap();
    let b = s.insert(keyed("a")).await.unwrap();
    assert!(!b.deduplicated, "a finished task frees its key");
    assert!(b.event.is_some());
    assert_ne!(b.task.id, a);
    // Canceled while queued.
    s.cancel_queued(&b.task.id).await.unwrap().unwrap();
    let c = s.insert(keyed("a")).await.unwrap();
    assert!(!c.deduplicated, "a canceled task frees its key");
    assert_ne!(c.task.id, b.task.id);
    // Interrupted (its runner lost, not requeued).
    claim_one(&*s, &claim_req("dead", 10, 1)).await;
    let rescued = s
        .rescue(
            &RescueScope::NotOwnedBy("alive".into()),
            &agents(&[]),
            "lost",
        )
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(status_of(&*s, &c.task.id).await, Status::Interrupted);
    let d = s.insert(keyed("retry")).await.unwrap();
    assert!(!d.deduplicated, "an interrupted task frees its key");
    // Requeued after a rescue: unfinished again, so the key is taken.
    claim_one(&*s, &claim_req("dead", 10, 1)).await;
    s.rescue(
        &RescueScope::NotOwnedBy("alive".into()),
        &agents(&["retry"]),
        "lost",
    )
    .await
    .unwrap();
    assert_eq!(status_of(&*s, &d.task.id).await, Status::Queued);
    let e = s.insert(keyed("retry")).await.unwrap();
    assert!(e.deduplicated, "a requeued task holds its key again");
    assert_eq!(e.task.id, d.task.id);
}

pub async fn insert_batch_stores_in_order_with_dedupe_inside_the_batch(s: Arc<dyn Store>) {
    let mut keyed = new_task("alpha", "keyed");
    keyed.dedupe_key = Some("same".into());
    let batch = vec![
        new_task("alpha", "one"),
        keyed.clone(),
        new_task("beta", "two"),
        keyed,
    ];
    let out = s.insert_batch(batch).await.unwrap();
    assert_eq!(out.len(), 4);
    assert!(!out[1].deduplicated);
    assert!(
        out[3].deduplicated,
        "a later submission in the same group sees the earlier one"
    );
    assert_eq!(out[3].task.id, out[1].task.id);
    assert!(out[3].event.is_none());
    let seqs: Vec<i64> = out
        .iter()
        .filter_map(|i| i.event.as_ref().map(|e| e.seq))
        .collect();
    assert_eq!(seqs.len(), 3);
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "queued events in submission order"
    );
    let first = claim_one(&*s, &claim_req("w", 10, 1)).await;
    assert_eq!(
        first.task.id, out[0].task.id,
        "FIFO follows the order inside the group"
    );
    assert!(s.insert_batch(Vec::new()).await.unwrap().is_empty());
}
