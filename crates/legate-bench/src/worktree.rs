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

/// Times `run` [`SAMPLES`] times; "median / p99".
fn timed(mut run: impl FnMut(usize) -> Result<()>) -> Result<(String, Duration)> {
    let mut samples = Vec::new();
    for i in 0..SAMPLES {
        let t = Instant::now();
        run(i)?;
        samples.push(t.elapsed());
    }
    let s = summarise(&mut samples).context("no samples")?;
    Ok((median_p99(s), s.median))
}

/// The measurements, as table rows.
pub fn measure() -> Result<Vec<Row>> {
    let b = Bench::new(NOOP)?;
    let repo = b.path().join("repo");
    big_repo(&repo)?;
    let spare = b.path().join("spare");
    let (alone, _) = timed(|i| {
        let path = spare.join(i.to_string());
        let p = path.display().to_string();
        git(
            &repo,
            &["worktree", "add", "-q", "-b", &format!("b{i}"), &p, "HEAD"],
        )?;
        git(&repo, &["worktree", "remove", "--force", &p])
    })?;
    b.start()?;
    let cwd = repo.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "noop", "--wait", "--cwd", &cwd];
        args.extend_from_slice(extra);
        args.push("x");
        let o = b.cmd(&args).output()?;
        check(&args, &o)
    };
    let (plain, plain_median) = timed(|_| run(&[]))?;
    let (isolated, isolated_median) = timed(|_| run(&["--worktree"]))?;
    Ok(vec![
        Row::info(
            format!("git worktree add + remove alone, {FILES} files: median / p99"),
            alone,
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
