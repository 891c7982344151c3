//! Worktree isolation on a repository of 10 000 files: what `git worktree add` costs alone,
//! and what a task that changes nothing costs end to end (`legate run --wait`: submit, claim,
//! worktree created, agent run, changes read, worktree removed) with and without `--worktree`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::Row;
use crate::fixture::{Bench, NOOP, check};
use crate::stats::{median_p99, summarise};

/// Files in the repository.
const FILES: usize = 10_000;

/// Samples of each measurement.
const SAMPLES: usize = 10;

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("cannot run git")?;
    ensure!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

/// A repository of [`FILES`] small files in 100 directories, one commit.
fn big_repo(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    git(dir, &["init", "-q", "-b", "main"])?;
    git(dir, &["config", "user.name", "bench"])?;
    git(dir, &["config", "user.email", "bench@localhost"])?;
    for d in 0..100 {
        let sub = dir.join(format!("d{d:02}"));
        std::fs::create_dir_all(&sub)?;
        for f in 0..FILES / 100 {
            std::fs::write(sub.join(format!("f{f:03}.txt")), format!("file {d} {f}\n"))?;
        }
    }
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "-m", "10k files"])
}

/// "median / p99" of `samples`.
fn summary(samples: &mut [Duration]) -> Result<(String, Duration)> {
    let s = summarise(samples).context("no samples")?;
    Ok((median_p99(s), s.median))
}

/// The creation times the daemon logged (`created a worktree … ms=N`).
fn logged_creations(home: &Path) -> Vec<Duration> {
    let log = std::fs::read_to_string(home.join("daemon.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("created a worktree"))
        .filter_map(|l| {
            l.rsplit("ms=")
                .next()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .map(Duration::from_millis)
        .collect()
}

/// The measurements, as table rows. git alone and legate alternate, so both meet the file
/// system in the same state (creating 10 000 files right after deleting as many is slow on
/// some disks).
pub fn measure() -> Result<Vec<Row>> {
    let b = Bench::new(NOOP)?;
    let repo = b.path().join("repo");
    big_repo(&repo)?;
    // A cloned repository's objects are packed.
    git(&repo, &["gc", "-q"])?;
    b.start()?;
    let cwd = repo.display().to_string();
    let run = |extra: &[&str]| -> Result<Duration> {
        let mut args = vec!["run", "noop", "--wait", "--cwd", &cwd];
        args.extend_from_slice(extra);
        args.push("x");
        let t = Instant::now();
        let o = b.cmd(&args).output()?;
        check(&args, &o)?;
        Ok(t.elapsed())
    };
    let spare = b.path().join("spare");
    let (mut alone, mut isolated, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        let t = Instant::now();
        let p = spare.join(i.to_string()).display().to_string();
        git(
            &repo,
            &["worktree", "add", "-q", "-b", &format!("b{i}"), &p, "HEAD"],
        )?;
        git(&repo, &["worktree", "remove", "--force", &p])?;
        alone.push(t.elapsed());
        isolated.push(run(&["--worktree"])?);
        plain.push(run(&[])?);
    }
    let mut created = logged_creations(b.path());
    ensure!(
        created.len() == SAMPLES,
        "the daemon logged {} worktree creations",
        created.len()
    );
    let (plain, plain_median) = summary(&mut plain)?;
    let (isolated, isolated_median) = summary(&mut isolated)?;
    Ok(vec![
        Row::info(
            format!("git worktree add + remove alone, {FILES} files: median / p99"),
            summary(&mut alone)?.0,
        ),
        Row::info(
            "creating the task's worktree inside legate: median / p99",
            summary(&mut created)?.0,
        ),
        Row::info(
            format!("task changing nothing, {FILES}-file repository, --worktree: median / p99"),
            isolated,
        ),
        Row::info("the same task without --worktree: median / p99", plain),
        Row::info(
            "worktree cost per task (median difference)",
            crate::stats::ms(isolated_median.saturating_sub(plain_median)),
        ),
    ])
}
