//! On-finish notifications: where a finished task is announced besides the inbox.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// Why the target cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match self {
            NotifyTarget::Command(argv) if argv.first().is_none_or(|p| p.trim().is_empty()) => {
                Some("a notify command must name a program as its first element".into())
            }
            NotifyTarget::Webhook(url)
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                Some(format!(
                    "webhook URL '{url}' must start with http:// or https://"
                ))
            }
            _ => None,
        }
    }

    /// A short description for logs: the program or the URL without its query (which may
    /// hold a token).
    pub fn describe(&self) -> String {
        match self {
            NotifyTarget::Command(argv) => format!("command {}", argv[0]),
            NotifyTarget::Webhook(url) => {
                let cut = url.find(['?', '#']).unwrap_or(url.len());
                format!("webhook {}", &url[..cut])
            }
        }
    }
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
        let w = NotifyTarget::Webhook("https://h.example/p?token=secret".into());
        assert_eq!(w.describe(), "webhook https://h.example/p");
        assert!(serde_json::from_str::<NotifyTarget>(r#"{"shell":"x"}"#).is_err());
    }
}
