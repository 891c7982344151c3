//! What engines sharing a store rely on: stored output, roles, and finishes that arrive
//! together.

use std::sync::Arc;
use std::time::Duration;

use legate_domain::{Status, Timestamp};
use legate_store::{Lease, OutputTail, Store, StoreError};

use super::support::{claim_one, claim_req, get, insert, poll_until, prune, success};

pub async fn stored_output_is_fenced_replaced_and_pruned_with_its_task(s: Arc<dyn Store>) {
    let id = insert(&*s, "plain", "x").await;
    assert_eq!(s.output(&id).await.unwrap(), None, "nothing stored yet");
    let c = claim_one(&*s, &claim_req("w1", 10, 1)).await;
    s.put_output(&c.lease, 6, b"hello\n").await.unwrap();
    s.put_output(&c.lease, 12, b"llo\nworld\n").await.unwrap();
    let want = OutputTail {
        attempt: 1,
        total: 12,
        tail: b"llo\nworld\n".to_vec(),
    };
    assert_eq!(
        s.output(&id).await.unwrap().as_ref(),
        Some(&want),
        "the newest replaces"
    );

    let stale = Lease {
        owner: "w2".into(),
        ..c.lease.clone()
    };
    assert!(matches!(
        s.put_output(&stale, 99, b"stale").await,
        Err(StoreError::LeaseLost(_))
    ));
    assert_eq!(
        s.output(&id).await.unwrap().as_ref(),
        Some(&want),
        "unchanged"
    );

    s.finish(&c.lease, success()).await.unwrap();
    assert!(
        matches!(
            s.put_output(&c.lease, 99, b"late").await,
            Err(StoreError::LeaseLost(_))
        ),
        "a finished run's output is final"
    );
    let later = Timestamp(get(&*s, &id).await.finished_at.unwrap().0 + 1);
    assert_eq!(
        prune(&*s, later, true).await.tasks,
        std::slice::from_ref(&id)
    );
    assert_eq!(s.output(&id).await.unwrap(), None, "pruned with its task");
}

pub async fn a_role_has_one_holder_until_released_or_expired(s: Arc<dyn Store>) {
    let minute = Duration::from_secs(60);
    assert!(s.hold_role("notifier", "a", minute).await.unwrap());
    assert!(!s.hold_role("notifier", "b", minute).await.unwrap());
    assert!(
        s.hold_role("notifier", "a", minute).await.unwrap(),
        "renewed"
    );
    assert!(
        s.hold_role("other", "b", minute).await.unwrap(),
        "roles are apart"
    );
    s.release_role("notifier", "b").await.unwrap();
    assert!(
        !s.hold_role("notifier", "b", minute).await.unwrap(),
        "only the holder can release"
    );
    s.release_role("notifier", "a").await.unwrap();
    assert!(s.hold_role("notifier", "b", minute).await.unwrap());

    assert!(
        s.hold_role("brief", "a", Duration::from_millis(1))
            .await
            .unwrap()
    );
    poll_until("the lapsed role to be free", async || {
        s.hold_role("brief", "b", minute)
            .await
            .unwrap()
            .then_some(())
    })
    .await;
    assert!(!s.hold_role("brief", "a", minute).await.unwrap());

    let racers: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.hold_role("race", &format!("r{i}"), minute).await })
        })
        .collect();
    let mut holders = 0;
    for r in racers {
        holders += usize::from(r.await.unwrap().unwrap());
    }
    assert_eq!(holders, 1, "eight engines racing: one holder");
}

pub async fn finishes_arriving_together_each_get_their_own_answer(s: Arc<dyn Store>) {
    for i in 0..24 {
        insert(&*s, "plain", &format!("t{i}")).await;
    }
    let claimed = s.claim(&claim_req("w1", 100, 100)).await.unwrap();
    assert_eq!(claimed.len(), 24);
    // Every third finish carries a stale token; all arrive at once.
    let finishes: Vec<_> = claimed
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let s = Arc::clone(&s);
            let mut lease = c.lease.clone();
            if i % 3 == 0 {
                lease.attempt += 1;
            }
            tokio::spawn(async move { (i, s.finish(&lease, success()).await) })
        })
        .collect();
    for f in finishes {
        let (i, res) = f.await.unwrap();
        let id = &claimed[i].task.id;
        if i % 3 == 0 {
            assert!(matches!(res, Err(StoreError::LeaseLost(_))), "{i}: {res:?}");
            assert_eq!(get(&*s, id).await.status, Status::Running);
        } else {
            let (task, event) = res.unwrap();
            assert_eq!(task.status, Status::Succeeded);
            assert_eq!(&event.task_id, id);
            assert_eq!(get(&*s, id).await.status, Status::Succeeded);
        }
    }
}
