//! The codex output parser takes any bytes an agent prints without panicking.
#![no_main]

use legate_domain::OutputFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = legate_runner::parse::parse_all(OutputFormat::Codex, data);
});
