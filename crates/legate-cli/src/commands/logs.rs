//! `legate logs [-f] [-n N]`.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};

use anyhow::Result;
use legate_api::LogRead;
use legate_domain::terminal::Neutraliser;

use crate::commands::reconnect::{Start, reconnect, went_away};
use crate::connect::connect;
use crate::exit;
use crate::out::checked;
use crate::paths::Paths;

/// Prints (and with `follow`, keeps printing) a task's log: verbatim into a pipe or file (the
/// agent's exact bytes, like `cat`), neutralised on a terminal, where an agent's control
/// sequences would otherwise act on the user's terminal (`legate logs ID | cat` shows them raw).
/// With `last`, only the log's last that many lines (then, following, what comes after). A
/// followed log goes on from the byte it had reached when the daemon went away.
pub async fn logs(
    paths: &Paths,
    id: &str,
    follow: bool,
    stdout_only: bool,
    last: Option<usize>,
) -> Result<i32> {
    let mut client = connect(paths).await?;
    legate_domain::api::parse_task_ref(id)?;
    let mut out = std::io::stdout().lock();
    let mut safe = out.is_terminal().then(Neutraliser::new);
    let mut write = |chunk: &[u8]| {
        let r = match safe.as_mut() {
            Some(n) => out.write_all(n.push(chunk).as_bytes()),
            None => out.write_all(chunk),
        };
        checked(r.and_then(|()| out.flush()), "stdout");
    };
    // Where the log was read to, moved along by the client: a reconnect goes on from there.
    let mut read = LogRead {
        follow: false,
        stdout: stdout_only,
        ..LogRead::default()
    };
    if let Some(n) = last {
        // The whole log as it is, for its last lines; following goes on after it.
        let mut tail = Tail::new(n);
        client
            .log(id, &mut read, |c| {
                tail.push(c);
                Ok(())
            })
            .await?;
        write(&tail.lines());
        if !follow {
            return finish(safe, &mut out);
        }
    }
    read.follow = follow;
    loop {
        let streamed = client
            .log(id, &mut read, |chunk| {
                write(chunk);
                Ok(())
            })
            .await;
        match streamed.map_err(anyhow::Error::new) {
            Ok(()) => break,
            Err(e) if follow && went_away(&e) => {
                client = reconnect(paths, &client, "following the log", Start::IfNeeded).await?;
            }
            Err(e) => return Err(e),
        }
    }
    finish(safe, &mut out)
}

/// Ends a neutralised stream (what a split UTF-8 sequence left pending).
fn finish(safe: Option<Neutraliser>, out: &mut impl Write) -> Result<i32> {
    if let Some(n) = safe {
        checked(
            out.write_all(n.finish().as_bytes())
                .and_then(|()| out.flush()),
            "stdout",
        );
    }
    Ok(exit::OK)
}

/// The last `keep` lines of a byte stream fed in chunks, holding no more than those lines
/// (and the unfinished one).
struct Tail {
    keep: usize,
    lines: VecDeque<Vec<u8>>,
    /// Bytes fed so far.
    seen: usize,
}

impl Tail {
    fn new(keep: usize) -> Tail {
        Tail {
            keep,
            lines: VecDeque::new(),
            seen: 0,
        }
    }

    fn push(&mut self, mut chunk: &[u8]) {
        self.seen += chunk.len();
        while !chunk.is_empty() {
            let open = self.lines.back().is_some_and(|l| !l.ends_with(b"\n"));
            if !open {
                self.lines.push_back(Vec::new());
            }
            let end = chunk
                .iter()
                .position(|&b| b == b'\n')
                .map_or(chunk.len(), |i| i + 1);
            if let Some(line) = self.lines.back_mut() {
                line.extend_from_slice(&chunk[..end]);
            }
            chunk = &chunk[end..];
            // One more than kept while the newest may still grow, so nothing is lost.
            while self.lines.len() > self.keep + 1 {
                self.lines.pop_front();
            }
        }
    }

    /// The last `keep` lines (an unfinished last line counts as one).
    fn lines(&self) -> Vec<u8> {
        let from = self.lines.len().saturating_sub(self.keep);
        self.lines.iter().skip(from).flatten().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Tail;

    fn tail(n: usize, chunks: &[&[u8]]) -> Vec<u8> {
        let mut t = Tail::new(n);
        for c in chunks {
            t.push(c);
        }
        t.lines()
    }

    #[test]
    fn the_last_lines_whatever_the_chunks() {
        let all: &[u8] = b"one\ntwo\nthree\nfour";
        for cut in 0..all.len() {
            let (a, b) = all.split_at(cut);
            assert_eq!(tail(2, &[a, b]), b"three\nfour", "cut at {cut}");
            assert_eq!(tail(1, &[a, b]), b"four");
            assert_eq!(tail(9, &[a, b]), all);
            assert_eq!(tail(0, &[a, b]), b"");
        }
        assert_eq!(tail(2, &[b"a\nb\nc\n"]), b"b\nc\n");
        assert_eq!(tail(3, &[b""]), b"");
    }
}
