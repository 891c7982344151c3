//! Finding (and when missing, installing) the peers and the chart's font, and their versions.
//! pueue comes from crates.io (`cargo install pueue --locked`), task-spooler and the font from
//! Debian's packages (`apt-get install -y`, as root only).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail, ensure};

/// The font the chart is drawn with (Debian's `fonts-dejavu-core`).
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Resolved paths of `pueue`, `pueued` and `tsp`.
static BINS: OnceLock<[PathBuf; 3]> = OnceLock::new();

/// The path of `name` (one of `pueue`, `pueued`, `tsp`) found by [`ensure`], else the name.
pub fn bin(name: &str) -> PathBuf {
    let i = ["pueue", "pueued", "tsp"].iter().position(|&n| n == name);
    match (BINS.get(), i) {
        (Some(bins), Some(i)) => bins[i].clone(),
        _ => PathBuf::from(name),
    }
}

/// Makes sure pueue, pueued, tsp and the font are there, installing what is missing.
pub fn ensure() -> Result<()> {
    let pueue = match (which::which("pueue"), which::which("pueued")) {
        (Ok(a), Ok(b)) => [a, b],
        _ => install_pueue()?,
    };
    let tsp = match which::which("tsp") {
        Ok(p) => p,
        Err(_) => {
            apt_install("task-spooler", "tsp (task-spooler)")?;
            which::which("tsp").context("tsp is still not on PATH after installing task-spooler")?
        }
    };
    if !Path::new(FONT).is_file() {
        apt_install("fonts-dejavu-core", &format!("the chart's font {FONT}"))?;
        ensure!(Path::new(FONT).is_file(), "{FONT} is still missing");
    }
    let [a, b] = pueue;
    let _ = BINS.set([a, b, tsp]);
    Ok(())
}

/// `cargo install pueue --locked`; gives the paths of `pueue` and `pueued`.
fn install_pueue() -> Result<[PathBuf; 2]> {
    eprintln!(
        "legate-bench: pueue/pueued are not on PATH; installing them with \
         `cargo install pueue --locked` (several minutes on 2 cores)"
    );
    let st = Command::new("cargo")
        .args(["install", "pueue", "--locked"])
        .status()
        .context("cannot run cargo to install pueue")?;
    ensure!(st.success(), "`cargo install pueue --locked` failed ({st})");
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let find = |name: &str| {
        which::which(name)
            .ok()
            .or_else(|| Some(home.join("bin").join(name)).filter(|p| p.is_file()))
            .with_context(|| format!("{name} not found after `cargo install pueue`"))
    };
    Ok([find("pueue")?, find("pueued")?])
}

/// `apt-get install -y PACKAGE` as root (after `apt-get update` if the first try fails);
/// otherwise an error saying how to install it.
fn apt_install(package: &str, what: &str) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("{what} is missing: install it with `sudo apt-get install {package}`");
    }
    eprintln!("legate-bench: {what} is missing; running `apt-get install -y {package}`");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .context("cannot run apt-get")
    };
    if apt(&["install", "-y", package])? {
        return Ok(());
    }
    eprintln!("legate-bench: retrying after `apt-get update`");
    ensure!(
        apt(&["update"])? && apt(&["install", "-y", package])?,
        "`apt-get install -y {package}` failed"
    );
    Ok(())
}

/// One line naming each peer's version, for the report.
pub fn versions() -> String {
    let first = |program: &Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .and_then(|o| {
                let text = [o.stdout, o.stderr].concat();
                let text = String::from_utf8_lossy(&text);
                // tsp: "Task Spooler v1.0.1 - a task queue system …": keep the name.
                let line = text.lines().next()?.split(" - ").next()?.trim().to_string();
                Some(line).filter(|l| !l.is_empty())
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let sh =
        std::fs::canonicalize("/bin/sh").map_or_else(|_| "?".into(), |p| p.display().to_string());
    format!(
        "Peers: {} / {}; {}; {} with /bin/sh → {sh}.",
        first(&bin("pueue"), &["--version"]),
        first(&bin("pueued"), &["--version"]),
        first(&bin("tsp"), &["-V"]),
        first(Path::new("nohup"), &["--version"]),
    )
}
