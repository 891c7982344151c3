//! On-finish notifications: where a finished task is announced besides the inbox.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::redact::redact_url;

/// One place to announce a finished task. Commands are argv lists run without a shell, with
/// the task's JSON on stdin; webhooks receive the same JSON in a POST.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NotifyTarget {
    /// Run this argv (never through a shell).
    Command(Vec<String>),
    /// POST the task JSON to this `http://` or `https://` URL.
    Webhook(String),
}

impl NotifyTarget {
    /// Why the target cannot be used, if it cannot. A webhook URL is named only in its
    /// redacted form ([`redact_url`]), or not at all.
    pub fn problem(&self) -> Option<String> {
        match self {
            NotifyTarget::Command(argv) if argv.first().is_none_or(|p| p.trim().is_empty()) => {
                Some("a notify command must name a program as its first element".into())
            }
            NotifyTarget::Webhook(url)
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                Some(format!(
                    "webhook URL '{}' must start with http:// or https://",
                    redact_url(url)
                ))
            }
            // Not echoed: such a URL's password may stand where no redaction can find it.
            NotifyTarget::Webhook(url) if !port_is_numeric(url) => Some(
                "a webhook URL has no valid host and port after its scheme (and user:password@, if any): \
                 percent-encode special characters in a user name or password (`/` as %2F, `@` as %40, `:` as %3A)"
                    .into(),
            ),
            _ => None,
        }
    }

    /// A short description for logs: the program, or the URL without credentials
    /// ([`redact_url`]).
    pub fn describe(&self) -> String {
        match self {
            NotifyTarget::Command(argv) => format!("command {}", argv[0]),
            NotifyTarget::Webhook(url) => format!("webhook {}", redact_url(url)),
        }
    }

    /// The target as legate shows it to people and API clients: URLs without credentials
    /// (a webhook's, and any `scheme://…` argument of a command), everything else as given.
    pub fn redacted(&self) -> NotifyTarget {
        match self {
            NotifyTarget::Command(argv) => NotifyTarget::Command(
                argv.iter()
                    .map(|a| {
                        if a.contains("://") {
                            redact_url(a)
                        } else {
                            a.clone()
                        }
                    })
                    .collect(),
            ),
            NotifyTarget::Webhook(url) => NotifyTarget::Webhook(redact_url(url)),
        }
    }
}

/// Whether the port of an `http(s)://` URL, if it has one, is a number: a password with an
/// unencoded `/` (`https://u:pa/ss@h`) would otherwise be read as host `u` and port `pa`, and
/// its remainder as the path, which no redaction could tell from a real path.
fn port_is_numeric(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // An IPv6 host keeps its colons inside brackets.
    let after_host = match host_port.rfind(']') {
        Some(i) => &host_port[i + 1..],
        None => host_port,
    };
    let host_empty = host_port.is_empty() || host_port.starts_with(':');
    !host_empty
        && after_host
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
}

/// Serializes notify targets in their [`NotifyTarget::redacted`] form: task JSON (API answers,
/// `show --json`, MCP) never carries the credentials of a target's URL.
pub fn serialize_redacted<S: serde::Serializer>(
    targets: &[NotifyTarget],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(targets.len()))?;
    for t in targets {
        seq.serialize_element(&t.redacted())?;
    }
    seq.end()
}

/// The `[notify]` section: targets for every task, and how hard to try.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    /// Announce every finished task here.
    pub targets: Vec<NotifyTarget>,
    /// Also show a desktop notification through `notify-send` when it is on PATH.
    pub desktop: bool,
    /// How long one delivery may take before it is abandoned (and retried).
    pub timeout: Duration,
    /// How many times a failed delivery is tried again, with doubling delays.
    pub retries: u32,
    /// The first retry delay.
    pub backoff: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            targets: Vec::new(),
            desktop: false,
            timeout: Duration::from_secs(30),
            retries: 5,
            backoff: Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_validate() {
        let t: NotifyTarget = serde_json::from_str(r#"{"command":["notify-me","-q"]}"#).unwrap();
        assert_eq!(
            t,
            NotifyTarget::Command(vec!["notify-me".into(), "-q".into()])
        );
        assert!(t.problem().is_none());
        assert!(NotifyTarget::Command(vec![]).problem().is_some());
        let w = NotifyTarget::Webhook("ftp://x".into());
        assert!(w.problem().unwrap().contains("http://"));
        let w = NotifyTarget::Webhook("https://u:secret@h.example/p?token=secret".into());
        assert_eq!(w.describe(), "webhook https://***@h.example/p?***");
        assert_eq!(
            w.redacted(),
            NotifyTarget::Webhook("https://***@h.example/p?***".into())
        );
        let c = NotifyTarget::Command(vec![
            "curl".into(),
            "-d@-".into(),
            "https://u:secret@h/x".into(),
        ]);
        assert_eq!(
            c.redacted(),
            NotifyTarget::Command(vec!["curl".into(), "-d@-".into(), "https://***@h/x".into()])
        );
        assert!(serde_json::from_str::<NotifyTarget>(r#"{"shell":"x"}"#).is_err());
    }

    #[test]
    fn webhook_urls_that_would_hide_a_password_in_the_path_are_refused() {
        for bad in [
            "https://u:pa/ss@h.example/x",
            "https://:secret@/x",
            "http://",
            "http://h:80x/p",
        ] {
            let p = NotifyTarget::Webhook(bad.into()).problem();
            let p = p.unwrap_or_else(|| panic!("{bad} should be refused"));
            assert!(!p.contains("secret") && !p.contains("ss@"), "{p}");
        }
        for good in [
            "https://u:pa%2Fss@h.example/x",
            "http://127.0.0.1:9000/done?t=1",
            "http://[::1]:8080/x",
            "https://h.example",
            "https://h.example/@scope",
        ] {
            assert_eq!(NotifyTarget::Webhook(good.into()).problem(), None, "{good}");
        }
        let e = NotifyTarget::Webhook("ftp://u:secret@h/x?k=secret".into()).problem();
        assert!(!e.unwrap().contains("secret"));
    }
}
