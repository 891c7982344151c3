//! Results nobody read in time (orphans) go to the next reader of their scope, once, and are
//! acknowledged in their own origin's inbox. Runs a real engine on a real SQLite file.

mod support;

use std::time::{Duration, Instant};

use legate_domain::api::{InboxQuery, SCOPE_KEY, SubmitRequest, WaitRequest};
use legate_engine::Service;
use serde_json::json;

/// Results unread this long are orphans here.
const ORPHAN_AFTER: Duration = Duration::from_secs(2);

async fn engine(dir: &std::path::Path) -> Service {
    let toml = format!(
        "[retention]\norphan_after = \"{}ms\"\n",
        ORPHAN_AFTER.as_millis()
    );
    support::open(dir, &toml, 64).await
}

async fn delegate(svc: &Service, origin: &str, scope: &str) -> String {
    let res = svc
        .submit(
            SubmitRequest {
                agent: "sh".into(),
                prompt: format!("echo from {origin}"),
                origin: Some(origin.into()),
                metadata: Some(json!({ SCOPE_KEY: scope })),
                ..SubmitRequest::default()
            },
            &legate_engine::Caller::unknown(),
        )
        .await
        .unwrap();
    res.task.id.to_string()
}

fn read(origin: &str, scope: Option<&str>, ack: bool) -> InboxQuery {
    InboxQuery {
        origin: origin.into(),
        ack,
        limit: None,
        scope: scope.map(str::to_string),
        orphans: false,
    }
}

fn ids(tasks: &[legate_domain::Task]) -> Vec<String> {
    tasks.iter().map(|t| t.id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_result_goes_once_to_the_next_reader_of_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    let svc = engine(dir.path()).await;
    let left = delegate(&svc, "session-one", "project:/p").await;
    let elsewhere = delegate(&svc, "session-other", "project:/q").await;
    let own = delegate(&svc, "session-two", "project:/p").await;
    let done = svc
        .wait(&WaitRequest {
            ids: vec![left.clone(), elsewhere.clone(), own.clone()],
            timeout_ms: Some(60_000),
            ..WaitRequest::default()
        })
        .await
        .unwrap();
    assert!(!done.timed_out);

    // Fresh results are their origin's alone (session-two reads its own here).
    let early = svc
        .inbox(&read("session-two", Some("project:/p"), true))
        .await
        .unwrap();
    assert_eq!(ids(&early.tasks), [own.as_str()]);
    assert!(early.orphans.is_empty(), "{:?}", ids(&early.orphans));

    // Once unread for ORPHAN_AFTER, the next reader of the scope is told.
    let deadline = Instant::now() + Duration::from_secs(30);
    let peek = loop {
        let r = svc
            .inbox(&read("session-two", Some("project:/p"), false))
            .await
            .unwrap();
        if !r.orphans.is_empty() || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Not its own result (read), nor the other scope's.
    assert_eq!(ids(&peek.orphans), [left.as_str()]);
    assert!(peek.tasks.is_empty());

    let taken = svc
        .inbox(&read("session-three", Some("project:/p"), true))
        .await
        .unwrap();
    assert_eq!(ids(&taken.orphans), [left.as_str()]);
    let again = svc
        .inbox(&read("session-four", Some("project:/p"), true))
        .await
        .unwrap();
    assert!(again.orphans.is_empty(), "an orphan is delivered once");
    let origin_inbox = svc.inbox(&read("session-one", None, false)).await.unwrap();
    assert!(
        origin_inbox.tasks.is_empty(),
        "read by a later session, it is read in its own inbox too"
    );

    // A person asking for every orphan sees the other scope's.
    let all = svc
        .inbox(&InboxQuery {
            orphans: true,
            ..read("cli:ann", None, false)
        })
        .await
        .unwrap();
    assert_eq!(ids(&all.orphans), [elsewhere]);
}
