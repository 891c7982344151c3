//! The command line, as clap derives it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

mod engine;
pub use engine::{Engine, EngineArgs};

/// Delegate tasks to agents in the background; follow, wait for, cancel and collect them.
#[derive(Debug, Parser)]
#[command(name = "legate", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Print JSON instead of text (every command that reads).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Shown under `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 ok; 1 error (bad input, unknown id, daemon unreachable); 2 usage; \
for waited tasks: 3 failed, 4 canceled, 5 timed out, 6 interrupted; 8 wait --timeout passed first; \
9 the daemon did not answer or did not stop; 10 daemon stop refused (tasks running, no --yes); \
141 the reader of the output went away (as SIGPIPE).";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Delegate a task to an agent; prints its id at once (or waits with --wait).
    #[command(visible_alias = "delegate")]
    Run(RunArgs),
    /// List tasks (newest last).
    Ls(LsArgs),
    /// Show everything about one task.
    Show {
        /// Task id or unique prefix.
        id: String,
        /// Include the prompt.
        #[arg(long)]
        prompt: bool,
    },
    /// Print a finished task's result.
    Result {
        /// Task id or unique prefix.
        id: String,
    },
    /// Print a task's output log; -f follows it until the task ends.
    Logs {
        /// Task id or unique prefix.
        id: String,
        /// Keep printing new output until the task ends.
        #[arg(short, long)]
        follow: bool,
        /// Only stdout (the output log interleaves stdout and stderr).
        #[arg(long, conflicts_with = "steps")]
        stdout: bool,
        /// Only the last N lines (with -f, then what follows them).
        #[arg(
            short = 'n',
            long = "lines",
            value_name = "N",
            conflicts_with = "steps"
        )]
        lines: Option<usize>,
        /// The steps the agent reported (messages, tool calls, permission answers) as
        /// readable lines, instead of its raw output.
        #[arg(long)]
        steps: bool,
    },
    /// Wait for tasks to finish; exits with the outcome.
    Wait(WaitArgs),
    /// Cancel tasks (queued ones at once, running ones by ending their process tree).
    Cancel {
        /// Task ids or unique prefixes.
        #[arg(required_unless_present_any = ["all", "label"], conflicts_with_all = ["all", "label"])]
        ids: Vec<String>,
        /// Cancel every queued or running task.
        #[arg(long)]
        all: bool,
        /// Cancel every queued or running task with this label.
        #[arg(long, conflicts_with = "all")]
        label: Option<String>,
    },
    /// List agents: configured and built in, found or missing, with their versions.
    Agents {
        /// Run each found agent's version command again (exits 1 if one fails).
        #[arg(long)]
        check: bool,
    },
    /// Continue a finished task's agent session with a follow-up (a new task, linked to it).
    Send(SendArgs),
    /// Print events as JSON lines; -f follows them live (resuming across daemon restarts).
    Events(EventsArgs),
    /// Finished tasks you have not acknowledged yet (--ack marks the ones shown as read).
    Inbox {
        /// Whose inbox (default: $LEGATE_ORIGIN, else cli:$USER).
        #[arg(long)]
        origin: Option<String>,
        /// Acknowledge what is shown.
        #[arg(long)]
        ack: bool,
        /// At most this many, oldest first.
        #[arg(long, default_value_t = 100, value_parser = at_least_one_entry)]
        limit: u32,
        /// Also results of any origin left unread longer than `[retention] orphan_after`
        /// (with --ack they are marked read in their own origin's inbox).
        #[arg(long)]
        orphans: bool,
        /// Keep printing: one line per result (id, agent, status, first line), what is
        /// unread first, then each as it arrives, each marked read once printed; ends when
        /// stdout's reader or the process that started it goes. Claude Code's plugin monitor.
        #[arg(long, conflicts_with_all = ["ack", "orphans", "limit"])]
        follow: bool,
        /// Whose inbox: the Claude Code session this command runs under (its plugin
        /// monitor), instead of --origin.
        #[arg(long, requires = "follow", conflicts_with = "origin")]
        claude_code: bool,
    },
    /// Acknowledge inbox entries without showing them.
    Ack {
        /// Task ids or unique prefixes.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Acknowledge the whole inbox.
        #[arg(long)]
        all: bool,
        /// Whose inbox (default: $LEGATE_ORIGIN, else cli:$USER).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Serve the MCP tools on stdin/stdout (what MCP hosts start).
    Mcp {
        /// Offer no MCP tasks: `delegate` answers with the task at once even to a client that
        /// follows MCP tasks, so results come only through legate's inbox (hooks, a monitor,
        /// finished_since_last_call), once each. Claude Code's plugin runs it so.
        #[arg(long)]
        no_tasks: bool,
    },
    /// Serve MCP over streamable HTTP at http://ADDR/mcp. Clients need a bearer token:
    /// $LEGATE_TOKEN, else one kept in serve.token in the config directory (made on first use).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7171")]
        listen: std::net::SocketAddr,
        /// Also accept browser requests from this origin (scheme://host:port, :* for any
        /// port; repeatable). Loopback origins are accepted on a loopback address.
        #[arg(long = "allow-origin", value_name = "ORIGIN")]
        allow_origins: Vec<String>,
        /// Serve without a token, on a loopback address only: every local user can then use
        /// your agents as you.
        #[arg(long)]
        no_token: bool,
    },
    /// Configure an agent host to use legate: its MCP server entry, with what the host needs
    /// to call legate's tools headless, written into the host's own configuration file.
    Setup(SetupArgs),
    /// Run a task as a child session of an OpenCode session (the program of the agent
    /// `opencode-session`; the prompt on stdin, the server and parent in the environment).
    #[command(hide = true)]
    OpencodeSession {
        /// Prompt this existing child session again instead of creating one.
        #[arg(long)]
        session: Option<String>,
    },
    /// Answer an agent host's hook (reads its JSON on stdin).
    Hook {
        /// The host.
        #[arg(value_enum)]
        host: HookHost,
    },
    /// Remove finished tasks whose results were read (all, or those older than a cutoff),
    /// with their events and logs. Tasks whose worktree holds changes not merged or
    /// discarded are kept.
    Prune {
        /// Only tasks that finished longer ago than this, e.g. 7d, 12h, 30m (default, or 0:
        /// every finished task).
        #[arg(long)]
        older_than: Option<String>,
        /// Also remove results still unread in their origin's inbox.
        #[arg(long)]
        unacked: bool,
        /// Also remove tasks whose worktree holds unmerged changes, with the worktree and
        /// its branch: that work is lost.
        #[arg(long)]
        force: bool,
    },
    /// What a task's worktree changed from its base, committed or not (as `git diff`); with a
    /// second task, the files both changed.
    Diff {
        /// Task id or unique prefix.
        id: String,
        /// Another task of the same repository: list the files both changed.
        other: Option<String>,
        /// A diffstat instead of the patch.
        #[arg(long, conflicts_with = "other")]
        stat: bool,
    },
    /// Merge a finished task's worktree into the current branch of the checkout it was
    /// submitted from (its uncommitted changes committed on its branch first), then remove
    /// the worktree and branch. Needs a clean checkout; a conflict changes nothing.
    Merge {
        /// Task id or unique prefix.
        id: String,
        /// One commit with all of the task's changes instead of a merge of its branch.
        #[arg(long)]
        squash: bool,
    },
    /// Throw a finished task's worktree away: worktree and branch removed.
    Discard {
        /// Task id or unique prefix.
        id: String,
    },
    /// Run the daemon in the foreground, or manage it.
    Daemon(DaemonArgs),
    /// Run tasks from a shared Postgres store (--store / LEGATE_STORE) without serving the API;
    /// start any number, on any number of machines.
    Worker {
        /// The store, what to take and the lease.
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// `legate run`.
#[derive(Debug, Args)]
#[command(after_help = PROMPT_WORDS)]
pub struct RunArgs {
    /// The agent (see `legate agents`).
    pub agent: String,
    /// The prompt.
    #[command(flatten)]
    pub text: PromptArgs,
    /// A title (default: the prompt's first line).
    #[arg(long)]
    pub title: Option<String>,
    /// Working directory for the agent (default: the agent's configured `cwd`, else the
    /// current directory).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Wall-clock limit, e.g. 90s, 10m, 2h; 0 for none (default: the agent's, else 1h).
    #[arg(long)]
    pub timeout: Option<String>,
    /// A label (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Higher runs first.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub priority: i32,
    /// Dedupe key: an unfinished task with this key is returned instead of a new one.
    #[arg(long)]
    pub key: Option<String>,
    /// Who the result goes back to (default: $LEGATE_ORIGIN, else cli:$USER).
    #[arg(long)]
    pub origin: Option<String>,
    /// Wait for the result, print it, and exit with the task's outcome.
    #[arg(long)]
    pub wait: bool,
    /// Run this command when the task finishes, with the task's JSON on stdin (repeatable;
    /// split like shell words but never run by a shell).
    #[arg(long = "notify", value_name = "CMD")]
    pub notify: Vec<String>,
    /// POST the task's JSON to this URL when it finishes (repeatable).
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    /// Run in a git worktree of its own (on a new branch legate/ID, from the repository's
    /// HEAD now), never in the checkout itself; review with `legate diff`, then `legate
    /// merge` or `legate discard`. The working directory must be in a git repository.
    #[arg(long, conflicts_with = "no_worktree")]
    pub worktree: bool,
    /// Run in the working directory itself, even if the agent's config says
    /// isolation = "worktree".
    #[arg(long)]
    pub no_worktree: bool,
    /// The commit the worktree starts from (a branch, tag or commit; default: HEAD).
    #[arg(long, value_name = "REF", conflicts_with = "no_worktree")]
    pub base: Option<String>,
}

/// Shown under `run --help` and `send --help`.
pub const PROMPT_WORDS: &str = "Options are legate's wherever they stand, before or after the \
prompt's words (`legate run sh 'make test' --wait`). Everything after `--` is prompt text, \
word for word: `legate run sh -- ls --all` runs `ls --all`. A lone `-` reads the prompt from \
stdin, also after `--` (as `cat -- -` does).";

/// An inbox `--limit`: 1 or more (0 would show nothing).
fn at_least_one_entry(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Err("0 would show nothing; give 1 or more".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}; give a whole number, 1 or more")),
    }
}

/// A `--limit`: 1 or more (0 would show nothing).
fn at_least_one(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Err("0 would show nothing; give 1 or more (`ls --all` shows every task)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}; give a whole number, 1 or more")),
    }
}

/// Where a prompt comes from, for `run` and `send`.
#[derive(Debug, Args)]
pub struct PromptArgs {
    /// The prompt; `-` reads it from stdin. Several words are joined with spaces; options
    /// are legate's wherever they stand, up to a `--`, after which all is prompt text.
    pub prompt: Vec<String>,
    /// Read the prompt from a file.
    #[arg(long, conflicts_with = "prompt")]
    pub file: Option<PathBuf>,
}

/// `legate send`.
#[derive(Debug, Args)]
#[command(after_help = PROMPT_WORDS)]
pub struct SendArgs {
    /// The finished task to continue (id or unique prefix).
    pub id: String,
    /// The follow-up prompt.
    #[command(flatten)]
    pub text: PromptArgs,
    /// A title (default: the prompt's first line).
    #[arg(long)]
    pub title: Option<String>,
    /// Wall-clock limit, e.g. 90s, 10m; 0 for none (default: the predecessor's).
    #[arg(long)]
    pub timeout: Option<String>,
    /// Wait for the result, print it, and exit with the task's outcome.
    #[arg(long)]
    pub wait: bool,
}

/// `legate events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing new events as they happen.
    #[arg(short, long)]
    pub follow: bool,
    /// Start after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// Only this task.
    #[arg(long)]
    pub task: Option<String>,
    /// Only tasks from this origin.
    #[arg(long)]
    pub origin: Option<String>,
    /// Only tasks with this label.
    #[arg(long)]
    pub label: Option<String>,
    /// Only these kinds, comma-separated (queued, started, cancel_requested, progress, output,
    /// finished, interrupted, requeued, stalled, permission).
    #[arg(long)]
    pub kind: Option<String>,
}

/// `legate setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The host to configure.
    #[arg(value_enum)]
    pub host: SetupHost,
    /// Configure the project in the current directory instead of your user configuration.
    #[arg(long)]
    pub project: bool,
    /// Print the configuration file as it would be written, and write nothing.
    #[arg(long)]
    pub print: bool,
    /// OpenCode only: also put legate's MCP server into opencode.json (the plugin's tools
    /// cover delegation without it).
    #[arg(long)]
    pub mcp: bool,
}

/// Hosts `legate setup` configures.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SetupHost {
    /// Codex CLI (`~/.codex/config.toml`, or `.codex/config.toml` with --project).
    Codex,
    /// Gemini CLI (`~/.gemini/settings.json`, or `.gemini/settings.json` with --project).
    Gemini,
    /// OpenCode: legate's plugin (`~/.config/opencode/plugin/legate.ts`, or
    /// `.opencode/plugin/legate.ts` with --project); with --mcp also the MCP server in
    /// opencode.json.
    Opencode,
    /// Hermes (`$HERMES_HOME`, default `~/.hermes`): the MCP server, the `pre_llm_call`
    /// hook (and its approval) in config.yaml, and legate's plugin in plugins/legate/,
    /// enabled.
    Hermes,
    /// Claude Code: legate's plugin (MCP server, hooks, and a monitor that wakes an idle
    /// session) in `~/.claude/skills/legate/`, or `.claude/skills/legate/` with --project, and
    /// its tools allowed in the `settings.json` beside it.
    ClaudeCode,
}

/// Hosts whose hooks `legate hook` answers.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HookHost {
    /// Claude Code (`hooks` in settings.json).
    ClaudeCode,
    /// Hermes (`hooks: {pre_llm_call: …}` in ~/.hermes/config.yaml; `legate setup hermes`
    /// writes it).
    Hermes,
}

/// `legate ls`.
#[derive(Debug, Args)]
#[command(after_help = crate::render::LS_LAYOUT)]
pub struct LsArgs {
    /// Only these statuses (comma-separated: queued,running,succeeded,failed,canceled,timed_out,interrupted).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only tasks with this label.
    #[arg(long)]
    pub label: Option<String>,
    /// Only the tasks that this task (an id or unique prefix) delegated.
    #[arg(long)]
    pub parent: Option<String>,
    /// At most this many (the newest); says so on stderr when there are more.
    #[arg(long, default_value_t = 100, value_parser = at_least_one, conflicts_with = "all")]
    pub limit: u32,
    /// Every task (up to the daemon's maximum of 100,000).
    #[arg(long)]
    pub all: bool,
}

/// `legate wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Task ids or unique prefixes (none: inside a task, the unfinished tasks it delegated;
    /// elsewhere every queued or running task of yours, i.e. of $LEGATE_ORIGIN, else
    /// cli:$USER).
    pub ids: Vec<String>,
    /// Print each finished task's result text (and why it did not succeed); the results
    /// printed are marked read. Without it, wait prints ids and statuses and marks nothing.
    #[arg(long)]
    pub result: bool,
    /// Return when the first task finishes instead of all.
    #[arg(long)]
    pub any: bool,
    /// Give up after this long (e.g. 30s, 5m); exit code 8.
    #[arg(long)]
    pub timeout: Option<String>,
}

/// `legate daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Start it in the background and return once it is ready.
    #[arg(long)]
    pub detach: bool,
    /// Start a new session first (used when legate starts its own daemon).
    #[arg(long, hide = true)]
    pub session: bool,
    /// Start a detached daemon, wait until it answers, and exit (used when legate starts its
    /// own daemon: the daemon is then no descendant of the command that needed it).
    #[arg(long, hide = true)]
    pub launch: bool,
    /// The store, what to take and the lease.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// stop / status.
    #[command(subcommand)]
    pub action: Option<DaemonAction>,
}

/// `legate daemon stop|status`.
#[derive(Debug, Subcommand)]
pub enum DaemonAction {
    /// Stop the running daemon; waits until its process has exited, and says so if it has
    /// not. Running tasks are ended and marked interrupted: with tasks running it lists them
    /// and asks (on a terminal), else refuses (exit 10) unless --yes; --drain lets them finish.
    Stop {
        /// When it does not stop (frozen, stuck), kill it with SIGKILL; its agents are ended
        /// when the next daemon starts.
        #[arg(long)]
        force: bool,
        /// Interrupt the running tasks without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Stop without interrupting: accept no new task (submissions are refused with
        /// `draining`), finish the running and queued ones, then exit; waits until then.
        #[arg(long, conflicts_with_all = ["yes", "force"])]
        drain: bool,
    },
    /// Is it running, where, and how busy.
    Status,
}
