//! The config parser takes any text without panicking, and what it accepts is valid.
#![no_main]

use legate_domain::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = Config::parse(text, Some("fuzz.toml"))
    {
        assert!(config.limits.max_running >= 1);
        assert!(config.agents.values().all(|a| !a.command.is_empty()));
    }
});
