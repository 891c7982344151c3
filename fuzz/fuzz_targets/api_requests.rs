//! Decoding API requests — JSON bodies, query strings and task references, as the daemon
//! receives them from any local client — takes any bytes without panicking.
#![no_main]

use legate_domain::EventFilter;
use legate_domain::api::{
    AckRequest, CancelRequest, EventsQuery, InboxQuery, ListQuery, PruneRequest, SendRequest,
    StopGateRequest, SubmitRequest, WaitRequest, parse_task_ref,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<SubmitRequest>(data);
    let _ = serde_json::from_slice::<SendRequest>(data);
    let _ = serde_json::from_slice::<WaitRequest>(data);
    let _ = serde_json::from_slice::<CancelRequest>(data);
    let _ = serde_json::from_slice::<PruneRequest>(data);
    let _ = serde_json::from_slice::<AckRequest>(data);
    let _ = serde_json::from_slice::<StopGateRequest>(data);
    let _ = serde_urlencoded::from_bytes::<ListQuery>(data);
    let _ = serde_urlencoded::from_bytes::<EventsQuery>(data);
    let _ = serde_urlencoded::from_bytes::<InboxQuery>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_task_ref(text);
        let _ = EventFilter::parse_kinds(text);
    }
});
