//! The `Store` contract, run against every backend.
//!
//! Each case in `contract_cases` is an async function taking a fresh, empty `Arc<dyn Store>`;
//! the `contract!` macro below turns each into a `#[tokio::test]` that runs it once per backend
//! listed by [`backends`]. A new backend (Postgres) joins the whole suite by adding one
//! constructor there.

mod contract_cases;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use legate_domain::EventKind;
use legate_store::postgres::PgStore;
use legate_store::sqlite::SqliteStore;
use legate_store::{Change, Store};

/// A fresh, empty store and whatever keeps its storage alive until the case ends.
struct Fresh {
    store: Arc<dyn Store>,
    /// Dropped after `store` (fields drop in order): a temp dir, a scratch schema...
    guard: Box<dyn Any + Send>,
}

/// Opens a fresh, empty store of one backend.
type Open = fn() -> Pin<Box<dyn Future<Output = Fresh> + Send>>;

/// Every backend the contract runs against, by name: SQLite always, Postgres when
/// `LEGATE_TEST_POSTGRES_URL` names a server (CI sets it to the local one).
fn backends() -> Vec<(&'static str, Open)> {
    let mut all: Vec<(&'static str, Open)> = vec![("sqlite", open_sqlite)];
    if std::env::var("LEGATE_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        all.push(("postgres", open_postgres));
    }
    all
}

/// A scratch schema in the test database, dropped when the case ends.
struct Scratch {
    url: String,
    schema: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Dropping runs inside the case's runtime: a thread of its own may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                use sqlx::{Connection, Executor};
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .await?;
                conn.close().await
            })
            .map_err(std::io::Error::other)
        })
        .join();
    }
}

/// A fresh schema of its own in the Postgres test database.
fn open_postgres() -> Pin<Box<dyn Future<Output = Fresh> + Send>> {
    Box::pin(async {
        let url = std::env::var("LEGATE_TEST_POSTGRES_URL").expect("set by backends()");
        let schema = format!(
            "legate_test_{}_{}",
            std::process::id(),
            legate_domain::TaskId::generate()
        );
        let guard = Scratch {
            url: url.clone(),
            schema: schema.clone(),
        };
        let store = PgStore::connect(&url, Some(&schema))
            .await
            .expect("connect to the Postgres test database");
        Fresh {
            store: Arc::new(store),
            guard: Box::new(guard),
        }
    })
}

/// A real SQLite file in a temporary directory.
fn open_sqlite() -> Pin<Box<dyn Future<Output = Fresh> + Send>> {
    Box::pin(async {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let store = SqliteStore::open(&dir.path().join("legate.db"))
            .await
            .expect("open the SQLite store");
        Fresh {
            store: Arc::new(store),
            guard: Box::new(dir),
        }
    })
}

/// One test per case, each running the case on a fresh store of every backend.
macro_rules! contract {
    ($($module:ident :: $case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            for (backend, open) in backends() {
                // Captured output: shown with the panic, naming the backend that failed.
                eprintln!("contract case `{}` on backend `{backend}`", stringify!($case));
                let fresh = open().await;
                contract_cases::$module::$case(Arc::clone(&fresh.store)).await;
            }
        }
    )*};
}

contract! {
    inserts::insert_returns_a_queued_task_and_its_event,
    inserts::get_includes_the_prompt_only_when_asked,
    inserts::a_four_mib_prompt_round_trips,
    inserts::ids_with_prefix_finds_by_full_id_and_short_prefixes,
    inserts::ids_with_prefix_returns_several_limited_by_max,
    inserts::dedupe_returns_the_unfinished_task_without_an_event,
    inserts::dedupe_key_is_free_again_once_the_task_finished,
    inserts::insert_batch_stores_in_order_with_dedupe_inside_the_batch,
    claims::claim_takes_higher_priority_first_then_fifo,
    claims::claim_respects_max_claims,
    claims::claim_respects_max_running_across_claims_and_owners,
    claims::claim_respects_per_agent_caps_and_still_serves_other_agents,
    claims::claim_agents_filter_restricts_to_those_agents,
    claims::concurrent_claimers_respect_the_cap_and_claim_each_task_once,
    claims::a_running_task_lends_its_slot_to_one_child_at_a_time,
    claims::a_lent_slot_respects_the_childs_agent_cap_unless_it_is_the_parents,
    lifecycle::finish_with_the_current_lease_records_the_outcome,
    lifecycle::finish_is_fenced_on_owner_and_attempt,
    lifecycle::finish_to_a_non_terminal_status_is_a_transition_error,
    lifecycle::record_process_is_fenced_on_the_lease,
    lifecycle::cancel_queued_cancels_only_queued_tasks,
    lifecycle::request_cancel_marks_a_running_task_once,
    rescue::rescue_not_owned_by_interrupts_or_requeues_other_owners_runs,
    rescue::requeued_task_gets_a_new_attempt_and_the_old_lease_is_dead,
    rescue::rescue_expired_takes_lapsed_leases,
    rescue::heartbeat_keeps_a_lease_from_expiring,
    rescue::rescue_owned_by_takes_only_that_owners_runs,
    rescue::rescue_owned_by_prefix_takes_only_that_machines_runs,
    log::events_are_strictly_increasing_and_gapless_across_operations,
    log::events_after_honours_limit_and_pages,
    log::events_after_filters_by_task,
    log::last_seq_is_the_newest_event_and_changes_announce_commits,
    log::prune_removes_only_old_terminal_tasks_and_their_events,
    listing::list_filters_by_status_agent_label_origin_and_parent,
    listing::list_limit_returns_the_newest_oldest_first,
    listing::counts_give_every_status,
    inbox::inbox_holds_an_origins_finished_tasks_in_finish_order,
    inbox::ack_is_idempotent_and_scoped_to_its_origin,
    inbox::take_inbox_reads_and_acknowledges_at_once,
    inbox::orphans_are_unread_results_of_a_scope_finished_before_a_time,
    inbox::a_requeued_task_reenters_the_inbox_when_it_ends_again,
    inbox::events_carry_origin_and_labels_and_filter_by_them,
    inbox::progress_events_are_fenced_on_the_lease,
    inbox::prune_spares_unread_inbox_entries_unless_asked,
    inbox::cursors_start_at_zero_and_keep_their_position,
    shared::stored_output_is_fenced_replaced_and_pruned_with_its_task,
    shared::a_role_has_one_holder_until_released_or_expired,
    shared::finishes_arriving_together_each_get_their_own_answer,
    submissions::the_env_reaches_only_the_claim_and_never_the_task,
    submissions::an_idempotency_key_returns_the_same_task_whatever_its_status,
    submissions::a_worktree_record_is_patched_whole_and_shown_as_its_own_field,
}

/// A notice that names no event kind (as a newer engine's might) reaches a listener as
/// [`Change::Unknown`], and the notices after it still arrive typed. Postgres only: SQLite
/// announces nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notice_naming_no_kind_is_an_unknown_change() {
    if !backends().iter().any(|(name, _)| *name == "postgres") {
        eprintln!("skipped: LEGATE_TEST_POSTGRES_URL names no Postgres server");
        return;
    }
    let fresh = open_postgres().await;
    let scratch = fresh.guard.downcast_ref::<Scratch>().expect("a scratch");
    let mut rx = fresh
        .store
        .changes()
        .await
        .unwrap()
        .expect("a shared store announces changes");
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    sqlx::query("SELECT pg_notify($1, 'no_such_kind')")
        .bind(format!("legate_changes_{}", scratch.schema))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    contract_cases::support::insert(fresh.store.as_ref(), "plain", "x").await;
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("a notice within 10 s")
            .expect("the listener is alive")
    };
    assert_eq!(next().await, Change::Unknown);
    assert_eq!(next().await, Change::Event(EventKind::Queued));
}
