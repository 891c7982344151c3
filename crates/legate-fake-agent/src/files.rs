//! The steps that change files as a coding agent does: `write`, `append` and `commit`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::out::{self, finish};

/// `write PATH TEXT` (`append`: add the line instead of replacing the file).
pub fn write(path: &str, text: &str, append: bool) {
    let path = std::path::Path::new(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        out::err(&format!(
            "fake-agent: cannot create {}: {e}",
            parent.display()
        ));
        finish(1);
    }
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path);
    let written = opened.and_then(|mut f| f.write_all(format!("{text}\n").as_bytes()));
    if let Err(e) = written {
        out::err(&format!("fake-agent: cannot write {}: {e}", path.display()));
        finish(1);
    }
}

/// `commit MESSAGE`: everything in the working directory's checkout, committed.
pub fn commit(message: &str) {
    for args in [&["add", "-A"][..], &["commit", "-q", "-m", message]] {
        let done = Command::new("git")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output();
        match done {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                out::err(&format!(
                    "fake-agent: git {} failed: {}",
                    args[0],
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                finish(1);
            }
            Err(e) => {
                out::err(&format!("fake-agent: cannot run git: {e}"));
                finish(1);
            }
        }
    }
}
