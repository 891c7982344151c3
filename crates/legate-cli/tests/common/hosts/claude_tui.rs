//! Claude Code's interactive TUI, driven in tmux: the only mode in which it arms plugin
//! monitors. Its HOME is the one [`claude::set_up`] prepares (plugin installed by `legate setup
//! claude-code`, onboarding done, the API key accepted, the project trusted), so it starts
//! straight into an idle session; a tmux server of its own (`-S` socket in that HOME, no
//! configuration file) runs it in a 200×50 terminal.

use super::claude;
use crate::common::{Home, agents, poll_until};
use legate_test_model::ModelServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// How long the TUI may take to start and show its prompt.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// One interactive Claude Code in a tmux server of its own; the server (and Claude Code with
/// it) is killed on drop.
pub struct Tui {
    socket: PathBuf,
    /// Claude Code's HOME.
    pub dir: PathBuf,
}

impl Tui {
    /// Starts `claude` in `project` against `server`, with legate (in `home`) set up, and waits
    /// until it shows its prompt.
    pub fn start(home: &Home, server: &ModelServer, project: &Path) -> Tui {
        let bin = agents::required("claude");
        let dir = claude::set_up(home, project);
        let tui = Tui {
            socket: dir.join("tmux.sock"),
            dir: dir.clone(),
        };
        // tmux starts its server with this environment, and Claude Code inherits it.
        let mut c = super::host_command(&bin, &dir, project);
        c.env("TERM", "xterm-256color");
        claude::point_at(&mut c, server);
        let mut tmux = Command::new("tmux");
        tmux.env_clear()
            .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))));
        let out = tmux
            .arg("-S")
            .arg(&tui.socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "-c",
            ])
            .arg(project)
            .arg(&bin)
            .output()
            .expect("tmux runs");
        assert!(out.status.success(), "tmux new-session: {}", text(&out));
        let ready = poll_until(START_DEADLINE, || tui.screen().contains('❯'));
        assert!(
            ready,
            "Claude Code never showed its prompt:\n{}",
            tui.screen()
        );
        tui
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        text(&self.tmux(&["capture-pane", "-p"]))
    }

    /// What the input box holds: the text after the prompt sign on the last line that starts
    /// with it (the conversation above shows earlier prompts the same way; a no-break space
    /// follows the sign).
    pub fn input(&self) -> String {
        let screen = self.screen();
        let last = screen.lines().rev().find_map(|l| l.strip_prefix('❯'));
        last.unwrap_or_default().trim().to_string()
    }

    /// Types `line` (literally) and presses Enter.
    pub fn type_line(&self, line: &str) {
        let typed = self.tmux(&["send-keys", "-l", line]);
        assert!(typed.status.success(), "send-keys: {}", text(&typed));
        let start = &line[..line.len().min(40)];
        let shown = poll_until(START_DEADLINE, || self.input().starts_with(start));
        assert!(shown, "the typed line never showed:\n{}", self.screen());
        // An Enter that comes too soon after the text counts as part of a paste (a new line in
        // the input box): press it again until the box no longer holds the line.
        let submitted = poll_until(START_DEADLINE, || {
            let enter = self.tmux(&["send-keys", "Enter"]);
            assert!(enter.status.success(), "send-keys Enter: {}", text(&enter));
            poll_until(Duration::from_secs(2), || !self.input().starts_with(start))
        });
        assert!(
            submitted,
            "the typed line was never sent:\n{}",
            self.screen()
        );
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
