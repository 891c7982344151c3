//! Capped log files that keep the tail.
//!
//! A task's output is written in two alternating segments of half the cap each: when the live
//! segment is full it becomes `NAME.1` (replacing the older one) and a new one starts. So at any
//! time the last `cap / 2`..`cap` bytes exist, and writing stays O(1) however much an agent
//! floods. [`CappedLog::finish`] joins the segments into one file that starts with a note
//! saying how much was dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A log file capped at a size, keeping the newest bytes.
#[derive(Debug)]
pub struct CappedLog {
    path: PathBuf,
    file: File,
    segment_cap: u64,
    in_segment: u64,
    dropped: u64,
    older_len: u64,
}

impl CappedLog {
    /// Creates (truncates) `path`; the kept output will not exceed `cap` bytes.
    pub fn create(path: &Path, cap: u64) -> io::Result<Self> {
        Ok(CappedLog {
            path: path.to_path_buf(),
            file: create_private(path)?,
            segment_cap: (cap / 2).max(1),
            in_segment: 0,
            dropped: 0,
            older_len: 0,
        })
    }

    fn older_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".1");
        PathBuf::from(p)
    }

    /// Appends bytes. Returns `Ok(true)` when this write made the log drop old output.
    pub fn write(&mut self, mut buf: &[u8]) -> io::Result<bool> {
        let mut rotated = false;
        while !buf.is_empty() {
            let room = self.segment_cap - self.in_segment;
            if room == 0 {
                self.rotate()?;
                rotated = true;
                continue;
            }
            let n = buf.len().min(room as usize);
            self.file.write_all(&buf[..n])?;
            self.in_segment += n as u64;
            buf = &buf[n..];
        }
        Ok(rotated)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.dropped += self.older_len;
        fs::rename(&self.path, self.older_path())?;
        self.older_len = self.in_segment;
        self.file = create_private(&self.path)?;
        self.in_segment = 0;
        Ok(())
    }

    /// Whether any output was dropped or is about to be joined from two segments.
    pub fn truncated(&self) -> bool {
        self.older_len > 0
    }

    /// Joins the segments into the final file. Returns the bytes dropped.
    pub fn finish(mut self) -> io::Result<u64> {
        self.file.flush()?;
        if self.older_len == 0 {
            return Ok(0);
        }
        let tmp = {
            let mut p = self.path.clone().into_os_string();
            p.push(".tmp");
            PathBuf::from(p)
        };
        let mut out = create_private(&tmp)?;
        writeln!(
            out,
            "[legate: output exceeded the log cap; the first {} bytes were dropped, the last {} are kept]",
            self.dropped,
            self.older_len + self.in_segment
        )?;
        io::copy(&mut File::open(self.older_path())?, &mut out)?;
        io::copy(&mut File::open(&self.path)?, &mut out)?;
        out.flush()?;
        fs::rename(&tmp, &self.path)?;
        fs::remove_file(self.older_path())?;
        Ok(self.dropped)
    }
}

/// The last `max` bytes of a file, and whether anything before them was left out.
pub fn read_tail(path: &Path, max: u64) -> io::Result<(Vec<u8>, bool)> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.read_to_end(&mut buf)?;
    Ok((buf, start > 0))
}

/// Opens a log for appending notes (e.g. why legate ended the task).
pub fn append_note(path: &Path, note: &str) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(note_line(note).as_bytes())
}

/// Creates (truncates) a log file readable by its owner only (0600, whatever the umask):
/// an agent's output may hold anything the agent saw.
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// A note as it appears in a log.
pub fn note_line(note: &str) -> String {
    format!("[legate: {note}]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.log");
        let mut log = CappedLog::create(&p, 1024).unwrap();
        assert!(!log.write(b"hello\n").unwrap());
        assert_eq!(log.finish().unwrap(), 0);
        assert_eq!(fs::read(&p).unwrap(), b"hello\n");
    }

    #[test]
    fn flood_keeps_the_tail_within_the_cap_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.log");
        let mut log = CappedLog::create(&p, 1000).unwrap();
        let mut all = Vec::new();
        for i in 0..1000u32 {
            let line = format!("line {i}\n");
            all.extend_from_slice(line.as_bytes());
            log.write(line.as_bytes()).unwrap();
        }
        assert!(log.truncated());
        let dropped = log.finish().unwrap();
        let text = fs::read_to_string(&p).unwrap();
        let (note, kept) = text.split_once('\n').unwrap();
        assert!(
            note.contains(&format!("first {dropped} bytes were dropped")),
            "{note}"
        );
        assert!(kept.len() <= 1000 && kept.len() >= 500, "{}", kept.len());
        assert!(all.ends_with(kept.as_bytes()));
        assert_eq!(dropped as usize + kept.len(), all.len());
        assert!(!dir.path().join("out.log.1").exists());
    }

    #[test]
    fn tail_reads_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_tail(&p, 4).unwrap(), (b"6789".to_vec(), true));
        assert_eq!(read_tail(&p, 40).unwrap(), (b"0123456789".to_vec(), false));
    }
}
