//! Byte sizes and durations as people write them in config files (`64MiB`, `10m`).

use std::time::Duration;

/// Parses `123`, `64KiB`, `64MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1024, and `K`/`M`/`G`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size; write e.g. 65536, 64KiB or 64MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{s}'; use KiB, MiB or GiB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Parses a human duration (`90s`, `10m`, `2h`, `7d`, `1h 30m`); `0`, `none` and `off` mean
/// "no limit" and give `None`.
pub fn parse_duration_opt(s: &str) -> Result<Option<Duration>, String> {
    let t = s.trim();
    if matches!(t, "0" | "none" | "off" | "never") {
        return Ok(None);
    }
    humantime::parse_duration(t)
        .map(Some)
        .map_err(|e| format!("'{s}' is not a duration ({e}); write e.g. 90s, 10m, 2h or 7d"))
}

/// Like [`parse_duration_opt`] but a limit is required.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_opt(s)?
        .ok_or_else(|| format!("'{s}' must be a positive duration such as 10s or 5m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").unwrap_err().contains("unit"));
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration_opt("10m"),
            Ok(Some(Duration::from_secs(600)))
        );
        assert_eq!(parse_duration_opt("none"), Ok(None));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration_opt("soon").is_err());
    }
}
