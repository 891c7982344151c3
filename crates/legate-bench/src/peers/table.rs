//! The comparison as Markdown: a header naming the systems and the ratio columns, one row
//! per metric, and the number formats the cells use.

use super::metric::Metric;
use super::peer::SYSTEMS;

/// A ratio with two decimals, or two significant digits below 0.1: "0.52×", "0.0018×".
pub fn times(r: f64) -> String {
    let decimals = if r >= 0.1 || r <= 0.0 {
        2
    } else {
        (1.0 - r.log10().floor()) as usize
    };
    format!("{r:.decimals$}×")
}

/// Seconds as "x.xx ms" below one second, else "x.xx s".
pub fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.2} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// The table header: the systems, then one ratio column per peer.
pub fn header() -> String {
    let names: Vec<&str> = SYSTEMS.iter().map(|s| s.name()).collect();
    let ratios: Vec<String> = names[1..].iter().map(|n| format!("legate / {n}")).collect();
    let cols = 1 + names.len() + ratios.len();
    format!(
        "| metric | {} | {} |\n|{}\n",
        names.join(" | "),
        ratios.join(" | "),
        "---|".repeat(cols)
    )
}

/// The metric as a table row.
pub fn row(m: &Metric) -> String {
    let cells: Vec<String> = (0..SYSTEMS.len()).map(|i| m.show(i)).collect();
    let ratios: Vec<String> = (1..SYSTEMS.len()).map(|i| m.ratio(i)).collect();
    format!(
        "| {} | {} | {} |\n",
        m.name,
        cells.join(" | "),
        ratios.join(" | ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(secs(0.00383), "3.83 ms");
        assert_eq!(secs(1.5), "1.50 s");
        assert_eq!(times(0.0018), "0.0018×");
        assert_eq!(times(0.05), "0.050×");
        assert_eq!(times(13.514), "13.51×");
        assert!(
            header().starts_with("| metric | legate | pueue | tsp | nohup & | legate / pueue |")
        );
    }
}
