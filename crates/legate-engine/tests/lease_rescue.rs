//! Taking back a lapsed lease on a shared store, in-process: the task is interrupted, and no
//! process here is signalled by the pid or process group another machine recorded for it (a
//! number that means nothing on this machine).

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::time::Duration;

use legate_domain::{Config, EventKind, ProcessInfo, Status};
use legate_engine::{ConfigSource, EngineSettings, Service, WorkSettings};
use legate_store::sqlite::SqliteStore;
use legate_store::{ClaimRequest, Lease, RescueScope, Store};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_of_another_machine_never_signals_a_process_here() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("legate.db"))
            .await
            .unwrap(),
    );

    // A process group of this machine, which another machine's record happens to name.
    let mut here = std::process::Command::new("sleep")
        .arg("600")
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = here.id() as i32;

    let task = store
        .insert(support::new_task("sh", "true"))
        .await
        .unwrap()
        .task;
    let claimed = store
        .claim(&ClaimRequest {
            owner: "worker-elsewhere-0-00000000-1".into(),
            lease_ttl: Duration::from_millis(1),
            max_running: 10,
            agent_caps: Default::default(),
            agents: None::<BTreeSet<String>>,
            max_claims: 1,
        })
        .await
        .unwrap();
    let lease: Lease = claimed[0].lease.clone();
    // The other machine's agent: a leader pid that does not exist here, and our group's id.
    store
        .record_process(
            &lease,
            ProcessInfo {
                pid: i32::MAX - 7,
                pgid,
                start_time: 1,
            },
        )
        .await
        .unwrap();

    let settings = EngineSettings {
        logs_dir: dir.path().join("logs"),
        worktrees_dir: dir.path().join("worktrees"),
        owner: "daemon-here-0-00000000-2".into(),
        lease_ttl: Duration::from_millis(400),
        recovery: RescueScope::OwnedByPrefix("daemon-here-".into()),
        event_buffer: 64,
        work: WorkSettings {
            shared: true,
            ..WorkSettings::default()
        },
    };
    let svc = Service::start(store, ConfigSource::fixed(Config::default()), settings)
        .await
        .unwrap();
    let engine = support::Engine {
        dir,
        svc: svc.clone(),
    };
    engine
        .until_events("the lapsed lease taken back", |evs| {
            evs.iter()
                .any(|e| e.kind == EventKind::Interrupted && e.task_id == task.id)
        })
        .await;
    let after = svc.get(task.id.as_str(), false).await.unwrap();
    assert_eq!(after.status, Status::Interrupted, "{after:?}");
    assert!(
        here.try_wait().unwrap().is_none(),
        "the process group here was signalled by another machine's record"
    );
    here.kill().unwrap();
    here.wait().unwrap();
    svc.shutdown().await;
}
