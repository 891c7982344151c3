//! One function per subcommand; [`dispatch`] is the single match over them.

mod admin;
mod cancel;
mod events;
mod follow;
mod hermes_hook;
mod hook;
mod inbox;
mod logs;
mod mcp;
mod opencode_session;
mod query;
mod reconnect;
mod run;
mod send;
mod serve;
mod steps;
mod stop;
mod wait;
mod worktrees;

use anyhow::Result;

use crate::cli::{Cli, Command, DaemonAction};
use crate::paths::Paths;

/// Runs the command and returns the exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let paths = Paths::from_env()?;
    if let Command::Daemon(d) = &cli.command
        && d.action.is_none()
        && !d.detach
        && !d.launch
    {
        let engine = d.engine.check().map_err(anyhow::Error::msg)?;
        return crate::daemon::run(&paths, d.session, &engine);
    }
    if let Command::Worker { engine } = &cli.command {
        let engine = engine.check().map_err(anyhow::Error::msg)?;
        return crate::daemon::run_worker(&paths, &engine);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let json = cli.json;
    rt.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(&paths, args, json).await,
            Command::Ls(args) => query::ls(&paths, args, json).await,
            Command::Show { id, prompt } => query::show(&paths, &id, prompt, json).await,
            Command::Result { id } => query::result(&paths, &id, json).await,
            Command::Logs {
                id,
                follow,
                steps: true,
                ..
            } => steps::steps(&paths, &id, follow).await,
            Command::Logs {
                id,
                follow,
                stdout,
                lines,
                ..
            } => logs::logs(&paths, &id, follow, stdout, lines).await,
            Command::Wait(args) => wait::wait(&paths, args, json).await,
            Command::Cancel { ids, all, label } => {
                let req = legate_domain::api::CancelRequest { ids, all, label };
                cancel::cancel(&paths, req, json).await
            }
            Command::Agents { check } => admin::agents(&paths, check, json).await,
            Command::Send(args) => send::send(&paths, args, json).await,
            Command::Events(args) => events::events(&paths, args).await,
            Command::Inbox {
                origin,
                ack,
                limit,
                orphans,
                follow,
                claude_code,
            } => {
                if follow {
                    let whose = if claude_code {
                        follow::Whose::ClaudeCode
                    } else {
                        follow::Whose::Origin(origin.as_deref())
                    };
                    return follow::follow(&paths, whose).await;
                }
                let who = inbox::Who {
                    origin: origin.as_deref(),
                    orphans,
                };
                inbox::inbox(&paths, who, ack, limit, json).await
            }
            Command::Ack { ids, all, origin } => {
                inbox::ack(&paths, ids, all, origin.as_deref(), json).await
            }
            Command::Setup(args) => crate::setup::setup(args),
            Command::Hook { host } => hook::hook(&paths, host).await,
            Command::OpencodeSession { session } => {
                opencode_session::opencode_session(session).await
            }
            Command::Mcp { no_tasks } => mcp::stdio(&paths, no_tasks).await,
            Command::Serve {
                listen,
                allow_origins,
                no_token,
            } => serve::serve(&paths, listen, allow_origins, no_token).await,
            Command::Prune {
                older_than,
                unacked,
                force,
            } => admin::prune(&paths, older_than.as_deref(), unacked, force, json).await,
            Command::Diff { id, other, stat } => {
                worktrees::diff(&paths, &id, other, stat, json).await
            }
            Command::Merge { id, squash } => worktrees::merge(&paths, &id, squash, json).await,
            Command::Discard { id } => worktrees::discard(&paths, &id, json).await,
            Command::Daemon(d) => match d.action {
                Some(DaemonAction::Stop { force, yes, drain }) => {
                    let o = stop::StopOptions {
                        force,
                        yes,
                        drain,
                        json,
                    };
                    stop::daemon_stop(&paths, o).await
                }
                Some(DaemonAction::Status) => admin::daemon_status(&paths, json).await,
                None if d.launch => crate::connect::launch(&paths, &d.engine).await,
                None => admin::daemon_detach(&paths, &d.engine, json).await,
            },
            Command::Completions { shell } => admin::completions(shell),
            Command::Worker { .. } => unreachable!("handled before the runtime starts"),
        }
    })
}

/// Prints a value as pretty JSON on stdout (C1 controls escaped, see [`crate::json_out`]).
pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    outln!("{}", crate::json_out::pretty(v)?);
    Ok(())
}
