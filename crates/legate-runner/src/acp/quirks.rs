//! Ways around known faults of particular ACP agents, chosen by the name an agent gives in its
//! `initialize` answer (`agentInfo.name`), so every other agent is driven by the protocol alone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use legate_domain::Timestamp;

/// The name Gemini CLI gives itself over ACP.
const GEMINI_CLI: &str = "gemini-cli";

/// The earliest time `session/load` of a session created at `created` may be sent to the agent
/// named `agent`, when that matters.
///
/// Gemini CLI (seen from 0.53 to 0.61) starts a fresh recording for the loaded session id
/// before it looks the session up, in a file named after the current UTC minute and the id's
/// first 8 characters. Within the minute the session was created that is the session's own
/// file, and the fresh record resets its conversation: the load fails with "No previous
/// sessions found for this project" and the session is lost for good. From the next minute on
/// the fresh record goes to a file of its own.
pub(crate) fn load_not_before(
    agent: Option<&str>,
    created: Option<Timestamp>,
) -> Option<SystemTime> {
    if agent != Some(GEMINI_CLI) {
        return None;
    }
    let next_minute = (created?.millis().div_euclid(60_000) + 1) * 60_000;
    Some(UNIX_EPOCH + Duration::from_millis(u64::try_from(next_minute).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_loads_wait_for_the_minute_after_the_session_was_created() {
        // 00:10:59.999 UTC on the first day: the next minute starts at 00:11:00.
        let created = Some(Timestamp(10 * 60_000 + 59_999));
        let at = load_not_before(Some("gemini-cli"), created).unwrap();
        assert_eq!(at, UNIX_EPOCH + Duration::from_millis(11 * 60_000));
        assert_eq!(load_not_before(Some("opencode"), created), None);
        assert_eq!(load_not_before(None, created), None);
        assert_eq!(load_not_before(Some("gemini-cli"), None), None);
    }
}
