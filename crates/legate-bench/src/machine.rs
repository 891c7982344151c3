//! What the figures were measured on.

/// Cores, memory, kernel, load and date, as one Markdown paragraph.
pub fn describe() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or_else(
            || "unknown".to_string(),
            |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_string(), |k| k.trim().to_string());
    let load = std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_string(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    );
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    format!(
        "Machine: {cores} cores, {mem} memory, Linux {kernel}. Load average at start: {load}. \
         Date: {date}. legate {} (release build).\n",
        env!("CARGO_PKG_VERSION")
    )
}
