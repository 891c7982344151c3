//! The PNG: median submit latency per store size and system (grouped bars, log scale) next to
//! throughput per system. Text is drawn with plotters' `ab_glyph` backend from Debian's
//! DejaVu Sans (see [`install::FONT`]), so no fontconfig or freetype is needed.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::install;
use super::metric::{Kind, Metric};
use super::peer::SYSTEMS;
use super::submit::thousands;

/// One colour per system, in [`SYSTEMS`] order.
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(127, 127, 127),
];

/// The font family name registered for the chart.
const SANS: &str = "sans-serif";

/// A panel of the picture.
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws `submit` (one latency metric per store size, labelled by `levels`) and `throughput`.
pub fn draw(
    path: &Path,
    title: &str,
    submit: &[Metric],
    levels: &[String],
    throughput: &Metric,
) -> Result<()> {
    let font = std::fs::read(install::FONT)?;
    plotters::style::register_font(SANS, FontStyle::Normal, Box::leak(font.into_boxed_slice()))
        .map_err(|_| anyhow!("{} is not a usable font", install::FONT))?;
    let root = BitMapBackend::new(path, (1400, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (SANS, 26))?;
    let (left, right) = root.split_horizontally(860);
    latency(&left, submit, levels)?;
    rate(&right, throughput)?;
    root.present()?;
    Ok(())
}

/// Grouped bars of median submit latency in milliseconds, log scale.
fn latency(area: &Area, rows: &[Metric], levels: &[String]) -> Result<()> {
    let ms = |m: &Metric, k: usize| m.value(k).map(|s| s * 1000.0);
    let all: Vec<f64> = rows
        .iter()
        .flat_map(|m| (0..SYSTEMS.len()).filter_map(move |k| ms(m, k)))
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).min(1.0) / 2.0;
    let hi = all.iter().copied().fold(0.0, f64::max).max(10.0) * 4.0;
    let n = rows.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Submit latency by tasks already stored (median, log scale)",
            (SANS, 21),
        )
        .margin(18)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(-0.5..n - 0.5, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&|x| at_whole(*x, levels))
        .y_label_formatter(&|y| format!("{y} ms"))
        .label_style((SANS, 17))
        .draw()?;
    let width = 0.8 / SYSTEMS.len() as f64;
    for (k, sys) in SYSTEMS.iter().enumerate() {
        let color = COLORS[k];
        let bars: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(l, m)| Some((l as f64 - 0.4 + k as f64 * width, ms(m, k)?)))
            .collect();
        chart
            .draw_series(bars.iter().map(|&(x, v)| {
                Rectangle::new([(x + 0.01, lo), (x + width - 0.01, v)], color.filled())
            }))?
            .label(sys.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 14, y + 7)], color.filled()));
        chart
            .draw_series(bars.iter().map(|&(x, v)| {
                Text::new(short(v), (x + 0.005, v * 1.25), (SANS, 14).into_font())
            }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((SANS, 17))
        .draw()?;
    Ok(())
}

/// One bar per system: tasks per second.
fn rate(area: &Area, m: &Metric) -> Result<()> {
    let k = SYSTEMS.len();
    let caption = match m.kind {
        Kind::Rate(n) => format!("Throughput, {} × `true`, parallel 8", thousands(n)),
        _ => m.name.clone(),
    };
    let names: Vec<String> = SYSTEMS.iter().map(|s| s.name().to_string()).collect();
    let top = (0..k)
        .filter_map(|i| m.value(i))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.2;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (SANS, 21))
        .margin(18)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..k as f64 - 0.5, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(k)
        .x_label_formatter(&|x| at_whole(*x, &names))
        .y_desc("tasks/s (median round)")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style((SANS, 17))
        .draw()?;
    for (i, color) in COLORS.iter().enumerate() {
        let Some(v) = m.value(i) else { continue };
        let x = i as f64;
        chart.draw_series([Rectangle::new(
            [(x - 0.3, 0.0), (x + 0.3, v)],
            color.filled(),
        )])?;
        chart.draw_series([Text::new(
            format!("{v:.0}/s"),
            (x - 0.2, v + top * 0.02),
            (SANS, 16).into_font(),
        )])?;
    }
    Ok(())
}

/// The label for a tick at a whole number (a group or a bar), else nothing.
fn at_whole(x: f64, labels: &[String]) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    labels.get(i as usize).cloned().unwrap_or_default()
}

/// A bar label: milliseconds with two significant digits or so.
fn short(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn draws_a_png() {
        if !Path::new(install::FONT).is_file() {
            eprintln!("skipped: {} is missing", install::FONT);
            return;
        }
        let ms = |v: u64| vec![Duration::from_millis(v)];
        let lat = |a, b| Metric::from_times("x", Kind::Latency, vec![ms(a), ms(b), ms(2), vec![]]);
        let rows = [lat(4, 6), lat(5, 20), lat(5, 100)];
        let levels = ["0", "2,000", "10,000"].map(String::from);
        let tp = Metric::from_times(
            "t",
            Kind::Rate(1000),
            vec![ms(4000), ms(58000), ms(2000), ms(4000)],
        );
        let dir = tempfile::tempdir().unwrap();
        // CHART_OUT=FILE keeps the picture for a look.
        let out =
            std::env::var_os("CHART_OUT").map_or_else(|| dir.path().join("c.png"), Into::into);
        draw(&out, "test", &rows, &levels, &tp).unwrap();
        assert_eq!(&std::fs::read(&out).unwrap()[1..4], b"PNG");
    }
}
