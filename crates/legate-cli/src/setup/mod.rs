//! `legate setup HOST`: writes the configuration an agent host needs to use legate headless,
//! into the host's own configuration file, keeping everything else in it.
//!
//! Each host has its file and format ([`codex`], [`gemini`], [`opencode`], which installs a
//! plugin and, when asked, the MCP entry; [`hermes`]: MCP entry, hook and plugin;
//! [`claude_code`]: a plugin and its tools allowed); what they share is here: the MCP
//! server entry ([`McpEntry`]: this executable, `mcp`, the store the setup ran against), where
//! the file is (user-wide, or the project's with `--project`), and how it is written (whole,
//! through a temporary file renamed over it, so a failure leaves the old one).

mod claude_code;
mod codex;
mod gemini;
mod hermes;
mod opencode;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::{SetupArgs, SetupHost};
use crate::exit;

/// The longest a legate MCP tool call can take, in seconds: the longest wait a tool makes
/// (`legate_mcp::LONGEST_WAIT_SECS`) plus a margin, so a host never times a wait out first
/// (and retries it).
pub const TOOL_TIMEOUT_SECS: u64 = legate_mcp::LONGEST_WAIT_SECS + 60;

/// Variables a host must pass to `legate mcp` for it to reach the same store and daemon as
/// the user's shell (when the setup itself does not pin them in the entry).
pub const PASSED_THROUGH: [&str; 7] = [
    "LEGATE_HOME",
    "LEGATE_CONFIG",
    "LEGATE_ORIGIN",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
];

/// The MCP server entry every host gets: the program to start and what it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct McpEntry {
    /// This legate executable, absolute, so the host needs no PATH to find it.
    pub command: String,
    /// `["mcp"]`.
    pub args: Vec<String>,
    /// Variables pinned in the entry: `LEGATE_HOME` and `LEGATE_CONFIG` as the setup saw
    /// them, so the host's server uses this store whatever environment the host starts it in.
    pub env: Vec<(String, String)>,
}

impl McpEntry {
    /// The entry for this executable and this environment. Errors: the executable's path
    /// cannot be found or is not UTF-8.
    pub fn here() -> Result<McpEntry> {
        let exe = std::env::current_exe().context("cannot find the legate executable")?;
        let command = exe.into_os_string().into_string().map_err(|p| {
            anyhow::anyhow!(
                "the legate executable's path {} is not valid UTF-8, which host configuration \
                 files cannot hold; install legate under a UTF-8 path",
                Path::new(&p).display()
            )
        })?;
        let env = ["LEGATE_HOME", "LEGATE_CONFIG"]
            .into_iter()
            .filter_map(|k| {
                let v = std::env::var(k).ok().filter(|v| !v.is_empty())?;
                // Pinned absolute: the host starts the server in another directory.
                let v = std::path::absolute(&v)
                    .map(|p| p.display().to_string())
                    .unwrap_or(v);
                Some((k.to_string(), v))
            })
            .collect();
        Ok(McpEntry {
            command,
            args: vec!["mcp".into()],
            env,
        })
    }
}

impl McpEntry {
    /// The pinned variables as a JSON object (`{"LEGATE_HOME": "…"}`).
    pub fn env_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    }
}

/// A JSON settings file (`before`, if any; `empty` when there is none) with `server` put in
/// as `legate` under the object `key`, replacing an older one, the rest kept in its order;
/// ends in a newline. `again` is the command to run once the file is fixed. Errors: `before`
/// is not a JSON object (comments included: legate would lose them; the message holds the
/// entry to add by hand), or its `key` is not an object.
pub fn json_with_server(
    before: Option<&str>,
    empty: serde_json::Map<String, serde_json::Value>,
    key: &str,
    server: serde_json::Value,
    file: &Path,
    again: &str,
) -> Result<String> {
    use serde_json::{Map, Value};
    let mut settings: Map<String, Value> = match before.filter(|b| !b.trim().is_empty()) {
        None => empty,
        Some(text) => match serde_json::from_str(text) {
            Ok(settings) => settings,
            // A file with comments (JSONC) that already holds this entry needs nothing.
            Err(_)
                if read_jsonc(text)
                    .is_some_and(|s| s.get(key).and_then(|v| v.get("legate")) == Some(&server)) =>
            {
                return Ok(text.to_string());
            }
            Err(e) => anyhow::bail!(
                "{} is not a JSON object legate can edit ({e}; comments are not kept either), so \
                 legate leaves it alone\nadd this under \"{key}\" yourself, or fix the file and \
                 run `{again}` again:\n\"legate\": {server}",
                file.display(),
            ),
        },
    };
    let servers = settings
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "\"{key}\" in {} is not an object; fix it, then run `{again}` again",
                file.display()
            )
        })?;
    let mut server = server;
    // Keys the user added to an earlier entry (`includeTools`, `enabled`…) are kept.
    if let (Some(Value::Object(before)), Value::Object(ours)) = (servers.get("legate"), &mut server)
    {
        for (k, v) in before {
            ours.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    servers.insert("legate".into(), server);
    let mut text = serde_json::to_string_pretty(&settings)?;
    text.push('\n');
    Ok(text)
}

/// A JSON object written with comments (`//` and `/* */` outside strings, as Claude Code,
/// Gemini CLI and OpenCode accept), read to see whether it already holds what legate would add;
/// `None` when it is not one.
pub(crate) fn read_jsonc(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_string, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    serde_json::from_str(&out).ok()
}

/// Where a host's configuration goes: the user's, or with `--project` the current
/// directory's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The user's own configuration (every project).
    User,
    /// The project in the current directory.
    Project,
}

/// `legate setup HOST [--project] [--print]`: writes (or with `--print` shows) the host's
/// configuration for legate and says what it did.
pub fn setup(args: SetupArgs) -> Result<i32> {
    if args.mcp && !matches!(args.host, SetupHost::Opencode) {
        anyhow::bail!(
            "--mcp is for `legate setup opencode`; `legate setup codex`, `gemini`, `hermes` and \
             `claude-code` always write the MCP server: leave --mcp out"
        );
    }
    let entry = McpEntry::here()?;
    if let SetupHost::Hermes = args.host {
        if args.project {
            anyhow::bail!(
                "Hermes reads one configuration per profile ($HERMES_HOME, default ~/.hermes),                  not one per project: leave --project out"
            );
        }
        return setup_hermes(&entry, args.print);
    }
    let scope = if args.project {
        Scope::Project
    } else {
        Scope::User
    };
    type Apply = fn(Option<&str>, &McpEntry, &Path) -> Result<String>;
    let (file, apply): (PathBuf, Apply) = match args.host {
        SetupHost::Codex => (codex::config_file(scope)?, codex::apply),
        SetupHost::Gemini => (gemini::settings_file(scope)?, gemini::apply),
        SetupHost::Opencode => return setup_opencode(&entry, scope, args.mcp, args.print),
        SetupHost::Hermes => return setup_hermes(&entry, args.print),
        SetupHost::ClaudeCode => return claude_code::setup(&entry, scope, args.print),
    };
    let old = read_existing(&file)?;
    let new = apply(old.as_deref(), &entry, &file)?;
    if args.print {
        out!("{new}");
        return Ok(exit::OK);
    }
    if old.as_deref() == Some(new.as_str()) {
        errln!(
            "legate: {} already has legate's entry; nothing changed",
            file.display()
        );
        return Ok(exit::OK);
    }
    write_whole(&file, &new)?;
    errln!("legate: wrote legate's MCP server into {}", file.display());
    for line in what_it_means(args.host) {
        errln!("  {line}");
    }
    Ok(exit::OK)
}

/// OpenCode: the plugin, and with `mcp` the MCP server in opencode.json. Both files are
/// worked out (and checked) before either is written.
fn setup_opencode(entry: &McpEntry, scope: Scope, mcp: bool, print: bool) -> Result<i32> {
    let plugin = opencode::plugin_file(scope)?;
    let mut files = vec![(
        plugin.clone(),
        read_existing(&plugin)?,
        opencode::plugin(entry),
    )];
    let mut by_hand = None;
    if mcp {
        let config = opencode::config_file(scope)?;
        let old = read_existing(&config)?;
        // An opencode.json legate cannot edit (comments) leaves one step to the user; the
        // plugin is installed all the same.
        match opencode::apply_mcp(old.as_deref(), entry, &config) {
            Ok(new) => files.push((config, old, new)),
            Err(e) if !print => by_hand = Some(e),
            Err(e) => return Err(e),
        }
    }
    if print {
        for (file, _, new) in &files {
            errln!("legate: {} would be:", file.display());
            out!("{new}");
        }
        return Ok(exit::OK);
    }
    for (file, old, new) in &files {
        if old.as_deref() == Some(new.as_str()) {
            errln!("legate: {} is up to date; nothing changed", file.display());
            continue;
        }
        write_whole(file, new)?;
        if *file == plugin {
            errln!(
                "legate: wrote legate's OpenCode plugin into {}",
                file.display()
            );
            for line in opencode::what_it_means() {
                errln!("  {line}");
            }
        } else {
            errln!("legate: wrote legate's MCP server into {}", file.display());
        }
    }
    if let Some(e) = by_hand {
        anyhow::bail!(
            "legate installed its OpenCode plugin in {}, but one step is left for you:\n{e}",
            plugin.display()
        );
    }
    Ok(exit::OK)
}

/// Hermes: its config.yaml, the hook's approval and the plugin's two files, all worked out
/// (and checked) before any is written.
fn setup_hermes(entry: &McpEntry, print: bool) -> Result<i32> {
    let home = hermes::hermes_home()?;
    let config = home.join("config.yaml");
    let allowlist = home.join("shell-hooks-allowlist.json");
    let plugin_dir = home.join("plugins").join("legate");
    let old_config = read_existing(&config)?;
    // A config.yaml legate cannot edit (comments: Hermes' own saves add some) leaves one step
    // to the user; the hook's approval and the plugin are installed all the same.
    let (new_config, by_hand) = match hermes::apply_config(old_config.as_deref(), entry, &config) {
        Ok(new) => (new, None),
        Err(e) if !print => (old_config.clone().unwrap_or_default(), Some(e)),
        Err(e) => return Err(e),
    };
    let old_allow = read_existing(&allowlist)?;
    let new_allow = hermes::apply_allowlist(
        old_allow.as_deref(),
        &hermes::hook_command(entry)?,
        &allowlist,
    )?;
    let manifest = plugin_dir.join("plugin.yaml");
    let code = plugin_dir.join("__init__.py");
    let files = [
        (config, old_config, new_config),
        (allowlist, old_allow, new_allow),
        (
            manifest.clone(),
            read_existing(&manifest)?,
            hermes::PLUGIN_MANIFEST.to_string(),
        ),
        (code.clone(), read_existing(&code)?, hermes::plugin(entry)),
    ];
    if print {
        for (file, _, new) in &files {
            errln!("legate: {} would be:", file.display());
            out!("{new}");
        }
        return Ok(exit::OK);
    }
    let mut changed = false;
    for (file, old, new) in &files {
        if old.as_deref().unwrap_or_default() == new.as_str() {
            continue;
        }
        write_whole(file, new)?;
        errln!("legate: wrote {}", file.display());
        changed = true;
    }
    if let Some(e) = by_hand {
        anyhow::bail!(
            "legate installed its Hermes plugin and the hook's approval in {}, but one step is \
             left for you:\n{e}",
            home.display()
        );
    }
    if !changed {
        errln!(
            "legate: {} already has legate's MCP server, hook and plugin; nothing changed",
            home.display()
        );
        return Ok(exit::OK);
    }
    for line in hermes::what_it_means() {
        errln!("  {line}");
    }
    Ok(exit::OK)
}

/// What the written entry does for the user, host by host.
fn what_it_means(host: SetupHost) -> Vec<String> {
    match host {
        SetupHost::Codex => vec![
            "its tools are approved, so `codex exec` can call them".into(),
            format!("tool calls may take {TOOL_TIMEOUT_SECS} s (legate's longest wait is shorter)"),
            "results reach the model in the responses of legate's tools (finished_since_last_call)"
                .into(),
        ],
        SetupHost::Gemini => vec![
            "trusted, so `gemini -p` offers its tools".into(),
            format!("tool calls may take {TOOL_TIMEOUT_SECS} s (legate's longest wait is shorter)"),
            "results reach the model in the responses of legate's tools (finished_since_last_call)"
                .into(),
        ],
        SetupHost::Opencode => opencode::what_it_means(),
        SetupHost::Hermes => hermes::what_it_means(),
        SetupHost::ClaudeCode => claude_code::what_it_means(Scope::User),
    }
}

/// The file's text, `None` when there is no file. Errors: it cannot be read, or is not
/// UTF-8.
fn read_existing(file: &Path) -> Result<Option<String>> {
    match std::fs::read(file) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            anyhow::anyhow!(
                "{} is not valid UTF-8; fix or move it, then run `legate setup` again",
                file.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// Writes `text` as the whole of `file` (its directory made if needed; the file's mode kept,
/// else 0600) through a temporary file renamed over it.
fn write_whole(file: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    // A symlinked file (kept with the user's dotfiles) is written where it points.
    let target;
    let file = match std::fs::symlink_metadata(file) {
        Ok(m) if m.file_type().is_symlink() => {
            target = std::fs::canonicalize(file).map_err(|_| {
                anyhow::anyhow!(
                    "{} is a symbolic link to a file that does not exist; create that file (or \
                     remove the link) and run `legate setup` again",
                    file.display()
                )
            })?;
            target.as_path()
        }
        _ => file,
    };
    if std::fs::metadata(file).is_ok_and(|m| m.permissions().readonly()) {
        anyhow::bail!(
            "{} is read-only, so legate leaves it alone; make it writable (`chmod u+w`) and run \
             `legate setup` again",
            file.display()
        );
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mode = std::fs::metadata(file).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", file.display()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    tmp.persist(file)
        .with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(())
}

/// The user's home directory. Errors: it cannot be found.
fn home() -> Result<PathBuf> {
    dirs::home_dir().context("cannot find your home directory; set HOME")
}

/// The current directory, for `--project`. Errors: it cannot be read.
fn project_dir() -> Result<PathBuf> {
    std::env::current_dir().context("cannot read the current directory")
}

/// An entry as a test writes it: `command`, `mcp`, and `LEGATE_HOME` = `home`.
#[cfg(test)]
pub(crate) fn sample_entry(command: &str, home: &str) -> McpEntry {
    McpEntry {
        command: command.into(),
        args: vec!["mcp".into()],
        env: vec![("LEGATE_HOME".into(), home.into())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonc_is_read_without_its_comments_and_strings_are_kept() {
        let text = "{\n  // a comment\n  \"url\": \"http://x//y\", /* more */ \"n\": 1\n}";
        let v = read_jsonc(text).unwrap();
        assert_eq!(v["url"], "http://x//y");
        assert_eq!(v["n"], 1);
        assert!(read_jsonc("{ // open").is_none());
    }

    #[test]
    fn a_commented_file_that_already_has_the_entry_is_left_as_it_is() {
        let server = serde_json::json!({"command": "legate", "args": ["mcp"]});
        let text = format!("{{\n  // mine\n  \"mcpServers\": {{\"legate\": {server}}}\n}}\n");
        let same = json_with_server(
            Some(&text),
            Default::default(),
            "mcpServers",
            server.clone(),
            Path::new("s.json"),
            "legate setup gemini",
        )
        .unwrap();
        assert_eq!(same, text);
        let other = serde_json::json!({"command": "other"});
        let e = json_with_server(
            Some(&text),
            Default::default(),
            "mcpServers",
            other,
            Path::new("s.json"),
            "legate setup gemini",
        )
        .unwrap_err();
        assert!(e.to_string().contains("add this under"), "{e}");
    }

    #[test]
    fn a_symlinked_file_is_written_where_it_points_and_a_read_only_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dotfiles.json");
        std::fs::write(&target, "{}").unwrap();
        let link = dir.path().join("settings.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_whole(&link, "{\"a\": 1}\n").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{\"a\": 1}\n");

        let dangling = dir.path().join("gone.json");
        std::os::unix::fs::symlink(dir.path().join("nowhere.json"), &dangling).unwrap();
        let e = write_whole(&dangling, "{}").unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");

        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o444)).unwrap();
        // root writes read-only files anyway: the refusal is legate's, not the system's.
        let e = write_whole(&link, "{}").unwrap_err();
        assert!(e.to_string().contains("read-only"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{\"a\": 1}\n");
    }
}
