//! Listing with filters, and counts per status.

use std::collections::HashMap;
use std::sync::Arc;

use legate_domain::{ErrorKind, Outcome, Status, TaskId};
use legate_store::{RescueScope, Store, TaskFilter};

use super::support::{
    agents, claim_one, claim_req, counts, get, insert, list_ids, new_task, success,
};

fn filter() -> TaskFilter {
    TaskFilter {
        limit: 100,
        ..Default::default()
    }
}

pub async fn list_filters_by_status_agent_label_origin_and_parent(s: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for (agent, labels, origin) in [
        ("a", &["review", "urgent"][..], "cli"),
        ("b", &["review"][..], "mcp:1"),
        ("a", &[][..], "mcp:1"),
        ("b", &["reviewer"][..], "cli"),
        ("a", &[][..], "http:9"),
    ] {
        let mut t = new_task(agent, &format!("{agent} from {origin}"));
        t.labels = labels.iter().map(|l| l.to_string()).collect();
        t.origin = origin.into();
        ids.push(s.insert(t).await.unwrap().task.id);
    }
    let claimed = s.claim(&claim_req("w", 10, 2)).await.unwrap();
    s.finish(&claimed[1].lease, success()).await.unwrap();
    s.cancel_queued(&ids[2]).await.unwrap().unwrap();
    // Now: 0 running, 1 succeeded, 2 canceled, 3 and 4 queued.
    let pick = |which: &[usize]| which.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>();

    let everything = s.list(&filter()).await.unwrap();
    assert_eq!(super::support::ids(&everything), pick(&[0, 1, 2, 3, 4]));
    for t in &everything {
        assert_eq!(t.prompt, None, "listings carry no prompt");
        assert_eq!(t, &get(&*s, &t.id).await, "a listed task is the stored one");
    }

    let by = |statuses: &[Status]| TaskFilter {
        statuses: statuses.to_vec(),
        ..filter()
    };
    assert_eq!(list_ids(&*s, by(&[Status::Queued])).await, pick(&[3, 4]));
    assert_eq!(
        list_ids(&*s, by(&[Status::Running, Status::Succeeded])).await,
        pick(&[0, 1])
    );
    assert_eq!(list_ids(&*s, by(&[Status::Canceled])).await, pick(&[2]));
    assert!(list_ids(&*s, by(&[Status::Interrupted])).await.is_empty());

    let agent = |a: &str| TaskFilter {
        agent: Some(a.into()),
        ..filter()
    };
    assert_eq!(list_ids(&*s, agent("a")).await, pick(&[0, 2, 4]));
    assert_eq!(list_ids(&*s, agent("b")).await, pick(&[1, 3]));
    assert!(list_ids(&*s, agent("nobody")).await.is_empty());

    let label = |l: &str| TaskFilter {
        label: Some(l.into()),
        ..filter()
    };
    assert_eq!(
        list_ids(&*s, label("review")).await,
        pick(&[0, 1]),
        "whole labels only: not `reviewer`"
    );
    assert_eq!(list_ids(&*s, label("urgent")).await, pick(&[0]));
    assert!(list_ids(&*s, label("rev")).await.is_empty());

    let origin = |o: &str| TaskFilter {
        origin: Some(o.into()),
        ..filter()
    };
    assert_eq!(list_ids(&*s, origin("mcp:1")).await, pick(&[1, 2]));
    assert_eq!(list_ids(&*s, origin("cli")).await, pick(&[0, 3]));
    assert!(list_ids(&*s, origin("mcp")).await.is_empty());

    let combined = TaskFilter {
        agent: Some("a".into()),
        origin: Some("mcp:1".into()),
        ..filter()
    };
    assert_eq!(list_ids(&*s, combined).await, pick(&[2]));
    let combined = TaskFilter {
        statuses: vec![Status::Queued, Status::Succeeded],
        label: Some("review".into()),
        ..filter()
    };
    assert_eq!(list_ids(&*s, combined).await, pick(&[1]));
    let combined = TaskFilter {
        statuses: vec![Status::Queued],
        agent: Some("b".into()),
        origin: Some("cli".into()),
        ..filter()
    };
    assert_eq!(list_ids(&*s, combined).await, pick(&[3]));

    // The tasks one task delegated: its children only, whatever their origin.
    let mut children = Vec::new();
    for (parent, origin) in [(&ids[0], "cli"), (&ids[0], "elsewhere"), (&ids[1], "cli")] {
        let mut t = new_task("a", "a child");
        t.parent = Some(parent.clone());
        t.depth = 1;
        t.origin = origin.into();
        children.push(s.insert(t).await.unwrap().task.id);
    }
    let of = |parent: &TaskId| TaskFilter {
        parent: Some(parent.clone()),
        ..filter()
    };
    assert_eq!(list_ids(&*s, of(&ids[0])).await, children[..2].to_vec());
    assert_eq!(list_ids(&*s, of(&ids[1])).await, children[2..].to_vec());
    assert!(list_ids(&*s, of(&children[0])).await.is_empty());
    let combined = TaskFilter {
        origin: Some("elsewhere".into()),
        ..of(&ids[0])
    };
    assert_eq!(list_ids(&*s, combined).await, children[1..2].to_vec());
}

pub async fn list_limit_returns_the_newest_oldest_first(s: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            insert(
                &*s,
                if i % 2 == 0 { "a" } else { "b" },
                &format!("task {i}"),
            )
            .await,
        );
    }
    let limited = |limit: u32| TaskFilter {
        limit,
        ..Default::default()
    };
    let newest = s.list(&limited(3)).await.unwrap();
    assert_eq!(super::support::ids(&newest), ids[4..]);
    assert!(
        newest
            .windows(2)
            .all(|p| p[0].created_at <= p[1].created_at)
    );
    assert!(newest.iter().all(|t| t.prompt.is_none()));
    assert_eq!(list_ids(&*s, limited(1)).await, ids[6..]);
    assert_eq!(list_ids(&*s, limited(7)).await, ids);
    assert_eq!(list_ids(&*s, limited(100)).await, ids);

    let newest_of_a = TaskFilter {
        agent: Some("a".into()),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(
        list_ids(&*s, newest_of_a).await,
        [ids[4].clone(), ids[6].clone()],
        "the limit applies after the filter"
    );
}

pub async fn counts_give_every_status(s: Arc<dyn Store>) {
    assert!(
        counts(&*s).await.values().all(|&n| n == 0),
        "an empty store counts nothing"
    );

    for agent in ["ok", "fail", "slow"] {
        insert(&*s, agent, agent).await;
    }
    let runs = s.claim(&claim_req("w", 10, 3)).await.unwrap();
    s.finish(&runs[0].lease, success()).await.unwrap();
    let fail = Outcome::failed(Status::Failed, ErrorKind::ExitNonzero, "exit 2");
    s.finish(&runs[1].lease, fail).await.unwrap();
    let slow = Outcome::failed(Status::TimedOut, ErrorKind::TimedOut, "too slow");
    s.finish(&runs[2].lease, slow).await.unwrap();
    insert(&*s, "lost", "lost").await;
    claim_one(&*s, &claim_req("dead", 10, 1)).await;
    let rescued = s
        .rescue(&RescueScope::NotOwnedBy("w".into()), &agents(&[]), "lost")
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    let run = insert(&*s, "run", "run").await;
    claim_one(&*s, &claim_req("w", 10, 1)).await;
    assert_eq!(get(&*s, &run).await.status, Status::Running);
    let canceled = insert(&*s, "cancel", "cancel").await;
    s.cancel_queued(&canceled).await.unwrap().unwrap();
    insert(&*s, "wait", "one").await;
    insert(&*s, "wait", "two").await;

    let got = counts(&*s).await;
    let expected: HashMap<Status, u64> = [
        (Status::Queued, 2),
        (Status::Running, 1),
        (Status::Succeeded, 1),
        (Status::Failed, 1),
        (Status::Canceled, 1),
        (Status::TimedOut, 1),
        (Status::Interrupted, 1),
    ]
    .into_iter()
    .collect();
    for &status in Status::ALL {
        assert_eq!(
            got.get(&status).copied().unwrap_or(0),
            expected[&status],
            "count of {status}"
        );
    }
    assert_eq!(got.values().sum::<u64>(), 8, "every task counted once");
}
