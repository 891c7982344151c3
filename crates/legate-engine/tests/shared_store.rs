//! Two engines on one Postgres store, in-process: a task queued by one is run by the other,
//! and its finish reaches the first engine's bus through the store's change notices. Runs only
//! when `LEGATE_TEST_POSTGRES_URL` names a server (CI sets it to the local one); each run has a
//! scratch schema of its own, dropped at the end.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use legate_domain::api::SubmitRequest;
use legate_domain::{Config, EventKind, Status, TaskEnv, TaskId};
use legate_engine::{Caller, ConfigSource, EngineSettings, Service, WorkSettings};
use legate_store::RescueScope;
use legate_store::postgres::PgStore;
use sqlx::Connection;

mod support;

/// An engine on the shared store, owned by `owner`, taking only tasks of `agents` (`None`: any).
async fn engine(
    url: &str,
    schema: &str,
    dir: &std::path::Path,
    owner: &str,
    agents: Option<&[&str]>,
) -> Service {
    let store = PgStore::connect(url, Some(schema)).await.unwrap();
    let settings = EngineSettings {
        logs_dir: dir.join(owner),
        worktrees_dir: dir.join(owner).join("worktrees"),
        owner: owner.into(),
        lease_ttl: Duration::from_secs(30),
        recovery: RescueScope::OwnedByPrefix(format!("{owner}-")),
        event_buffer: 64,
        work: WorkSettings {
            agents: agents.map(|a| a.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()),
            shared: true,
            ..WorkSettings::default()
        },
    };
    Service::start(
        Arc::new(store),
        ConfigSource::fixed(Config::default()),
        settings,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_committed_by_another_engine_reaches_this_engines_bus() {
    let Some(url) = std::env::var("LEGATE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: LEGATE_TEST_POSTGRES_URL names no Postgres server");
        return;
    };
    let schema = format!(
        "legate_test_engine_{}_{}",
        std::process::id(),
        TaskId::generate()
    );
    let _scratch = Scratch {
        url: url.clone(),
        schema: schema.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    // `here` runs nothing of the built-in agents; `there` runs everything.
    let here = engine(&url, &schema, dir.path(), "daemon-here", Some(&["nobody"])).await;
    let there = engine(&url, &schema, dir.path(), "worker-there", None).await;

    let mut bus = here.bus().subscribe();
    let task = here
        .submit(
            SubmitRequest {
                agent: "sh".into(),
                prompt: "true".into(),
                origin: Some("test".into()),
                env: Some(TaskEnv::of_this_process()),
                ..SubmitRequest::default()
            },
            &Caller::unknown(),
        )
        .await
        .unwrap()
        .task;
    let finished = tokio::time::timeout(support::DEADLINE, async {
        loop {
            let ev = bus.recv().await.unwrap();
            if ev.task_id == task.id && ev.kind == EventKind::Finished {
                return ev;
            }
        }
    })
    .await
    .expect("the other engine's finish on this engine's bus");
    assert_eq!(finished.data["status"], "succeeded", "{finished:?}");
    let done = here.get(task.id.as_str(), false).await.unwrap();
    assert_eq!(done.status, Status::Succeeded);
    let started = here
        .events_after(0, 100, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.task_id == task.id && e.kind == EventKind::Started)
        .expect("a started event");
    assert_eq!(started.data["worker"], "worker-there", "{started:?}");

    here.shutdown().await;
    there.shutdown().await;
}

/// A scratch schema in the test database, dropped when the test ends, passed or failed.
struct Scratch {
    url: String,
    schema: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Dropping runs inside the test's runtime: a thread of its own may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
            .map_err(std::io::Error::other)
        })
        .join();
    }
}
