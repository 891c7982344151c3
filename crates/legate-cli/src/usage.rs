//! Reading the command line, beyond what clap derives: a typo is never answered with a
//! destructive command to try, and `--json` is refused where a command has no JSON to give.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

/// Commands that destroy something (tasks, results, the daemon): never offered as the
/// correction of a typo (`clean` is not "did you mean `cancel`?").
pub const DESTRUCTIVE: [&str; 3] = ["cancel", "prune", "stop"];

/// The command line, parsed; on bad usage, prints the error and exits with code 2.
pub fn parse() -> Cli {
    parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Parses `args` (the program name first).
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = Cli::command();
    let cli = cmd
        .try_get_matches_from_mut(args)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| safe_suggestions(e).format(&mut cmd))?;
    if cli.json
        && let Some(why) = json_refused(&cli.command)
    {
        return Err(cmd.error(ErrorKind::ArgumentConflict, why));
    }
    Ok(cli)
}

/// `e` without destructive commands among its "a similar subcommand exists" suggestions.
fn safe_suggestions(mut e: clap::Error) -> clap::Error {
    if e.kind() != ErrorKind::InvalidSubcommand {
        return e;
    }
    let offered = match e.get(ContextKind::SuggestedSubcommand) {
        Some(ContextValue::Strings(s)) => s.clone(),
        Some(ContextValue::String(s)) => vec![s.clone()],
        _ => return e,
    };
    let safe: Vec<String> = offered
        .into_iter()
        .filter(|s| !DESTRUCTIVE.contains(&s.as_str()))
        .collect();
    if safe.is_empty() {
        e.remove(ContextKind::SuggestedSubcommand);
        // An empty list of other tips still adds a blank line.
        if matches!(e.get(ContextKind::Suggested), Some(ContextValue::StyledStrs(t)) if t.is_empty())
        {
            e.remove(ContextKind::Suggested);
        }
    } else {
        e.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(safe),
        );
    }
    e
}

/// Why `--json` cannot apply to `command`, for the commands that print no JSON.
fn json_refused(command: &Command) -> Option<String> {
    let name = match command {
        Command::Logs { id, .. } => {
            return Some(format!(
                "--json: `legate logs` prints the agent's own output, which has no JSON form; \
                 for JSON use `legate events --task {id}` (its steps and output as events) or \
                 `legate show --json {id}` (the task and its result)"
            ));
        }
        Command::Inbox { follow: true, .. } => "inbox --follow",
        Command::Mcp { .. } => "mcp",
        Command::Serve { .. } => "serve",
        Command::Hook { .. } => "hook",
        Command::OpencodeSession { .. } => "opencode-session",
        Command::Completions { .. } => "completions",
        Command::Worker { .. } => "worker",
        Command::Daemon(d) if d.action.is_none() && !d.detach && !d.launch => "daemon",
        _ => return None,
    };
    Some(format!(
        "--json: `legate {name}` has no JSON output to give; leave --json out"
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_from;

    fn error_of(args: &[&str]) -> String {
        let mut all = vec!["legate"];
        all.extend_from_slice(args);
        match parse_from(all) {
            Ok(cli) => panic!("{args:?} parsed: {cli:?}"),
            Err(e) => e.render().to_string(),
        }
    }

    #[test]
    fn typos_are_never_corrected_to_destructive_commands() {
        for (typo, destructive) in [
            ("clean", "cancel"),
            ("cancle", "cancel"),
            ("pause", "prune"),
            ("prun", "prune"),
        ] {
            let e = error_of(&[typo]);
            assert!(
                e.contains(&format!("unrecognized subcommand '{typo}'")),
                "{e}"
            );
            assert!(!e.contains(&format!("'{destructive}'")), "{typo}: {e}");
        }
        let e = error_of(&["daemon", "stp"]);
        assert!(e.contains("'stp'") && !e.contains("'stop'"), "{e}");
        // Harmless commands are still suggested.
        let e = error_of(&["sho", "x"]);
        assert!(e.contains("tip:") && e.contains("'show'"), "{e}");
    }

    #[test]
    fn options_after_a_follow_up_are_legates_too() {
        let Ok(cli) = parse_from(["legate", "send", "abcd1234", "more", "--wait", "--json"]) else {
            panic!("send with options after its prompt is refused");
        };
        let crate::cli::Command::Send(args) = cli.command else {
            panic!("not send");
        };
        assert!(args.wait && cli.json);
        assert_eq!(args.text.prompt, ["more"]);
        let Ok(cli) = parse_from(["legate", "send", "abcd1234", "--", "more", "--wait"]) else {
            panic!("refused");
        };
        let crate::cli::Command::Send(args) = cli.command else {
            panic!("not send");
        };
        assert!(!args.wait);
        assert_eq!(args.text.prompt, ["more", "--wait"]);
    }

    #[test]
    fn json_is_refused_where_nothing_prints_json() {
        let e = error_of(&["logs", "--json", "abc"]);
        assert!(e.contains("legate events --task abc"), "{e}");
        for args in [&["mcp", "--json"][..], &["completions", "bash", "--json"]] {
            assert!(error_of(args).contains("has no JSON output"), "{args:?}");
        }
        for args in [
            &["ls", "--json"][..],
            &["events", "--json"],
            &["daemon", "status", "--json"],
            &["cancel", "--label", "x", "--json"],
        ] {
            let mut all = vec!["legate"];
            all.extend_from_slice(args);
            assert!(parse_from(all).is_ok(), "{args:?}");
        }
    }
}
