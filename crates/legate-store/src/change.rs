//! The notices a shared store sends when another engine commits: typed, so a consumer matches
//! on event kinds, never on their names.

use legate_domain::EventKind;

/// One notice from [`Store::changes`](crate::Store::changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Another engine committed an event of this kind.
    Event(EventKind),
    /// Something may have changed, unknown what: the listener lost its connection (notices
    /// sent meanwhile are lost), or a notice named no event kind this version knows (a newer
    /// engine on the same store). Treat it as any change.
    Unknown,
}

impl Change {
    /// Reads a notice's payload (an event kind's name). Errors: a payload that names no
    /// kind, returned as the parse error (it lists the kinds).
    pub(crate) fn from_payload(payload: &str) -> Result<Change, String> {
        payload.parse().map(Change::Event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_event_kind_names() {
        for &kind in EventKind::ALL {
            assert_eq!(Change::from_payload(kind.as_str()), Ok(Change::Event(kind)));
        }
        for bad in ["", "Finished", "finished ", "bogus"] {
            let e = Change::from_payload(bad).unwrap_err();
            assert!(e.contains("finished"), "{bad:?}: {e}");
        }
    }
}
