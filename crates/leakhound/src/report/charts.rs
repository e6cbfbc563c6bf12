//! The charts: goroutines and memory over the range with the guide's bands, as SVG or PNG.

use leakhound_agent::guide_log::local_time;
use leakhound_core::config::Levels;
use leakhound_core::report::TargetReport;
use plotters::prelude::*;

pub(super) mod fonts {
    use plotters::style::FontStyle;

    const CANDIDATES: [&str; 6] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "C:\\Windows\\Fonts\\arial.ttf",
    ];

    /// Register a sans-serif font for chart text: `LEAKHOUND_FONT`, else a common system font.
    /// Whether one was found.
    pub fn register() -> bool {
        let from_env = std::env::var("LEAKHOUND_FONT").ok();
        for path in from_env.iter().map(String::as_str).chain(CANDIDATES) {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    }
}

const WIDTH: u32 = 1000;
const PANEL: u32 = 300;

/// Colours of the ladder's bands, excellent … danger.
const BAND_COLOURS: [RGBColor; 6] = [
    RGBColor(46, 160, 67),
    RGBColor(46, 160, 67),
    RGBColor(212, 167, 44),
    RGBColor(219, 109, 40),
    RGBColor(207, 34, 46),
    RGBColor(130, 7, 30),
];

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn draw_target<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    r: &TargetReport,
    levels: &Levels,
    font: bool,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let (top, bottom) = area.split_vertically(PANEL);
    let x0 = r.since_ms as f64;
    let x1 = (r.until_ms as f64).max(x0 + 1.0);
    let fmt_x = |x: &f64| {
        let t = local_time(*x as i64);
        if r.until_ms - r.since_ms > 2 * 86_400_000 {
            t.get(5..16).unwrap_or(&t).to_string()
        } else {
            t.get(11..16).unwrap_or(&t).to_string()
        }
    };
    // Goroutines, with the ladder's bands shaded.
    let peak = r.totals.goroutines.max.unwrap_or(0) as f64;
    let ladder = levels.goroutines.0;
    let y_max = (peak * 1.15).max(ladder[1] as f64 * 1.1);
    let mut builder = ChartBuilder::on(&top);
    builder
        .margin(10)
        .x_label_area_size(if font { 28 } else { 0 })
        .y_label_area_size(if font { 60 } else { 0 });
    if font {
        builder.caption(
            format!("{} — goroutines (min–max band, average line)", r.target),
            ("sans-serif", 18),
        );
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, 0f64..y_max)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE.mix(0.0));
    if font {
        mesh.x_label_formatter(&fmt_x)
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .x_labels(8)
            .y_labels(6);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    let edges = [
        0.0,
        ladder[0] as f64,
        ladder[1] as f64,
        ladder[2] as f64,
        ladder[3] as f64,
        ladder[4] as f64,
        f64::INFINITY,
    ];
    for (i, colour) in BAND_COLOURS.iter().enumerate() {
        let lo = edges[i];
        let hi = edges[i + 1].min(y_max);
        if lo < y_max && i > 0 {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, lo), (x1, hi)],
                colour.mix(0.10).filled(),
            )))?;
            chart.draw_series(LineSeries::new([(x0, lo), (x1, lo)], colour.mix(0.6)))?;
        }
    }
    let g: Vec<(f64, f64, f64, f64)> = r
        .series
        .iter()
        .filter_map(|b| {
            Some((
                b.mid_ms() as f64,
                b.goroutines.min? as f64,
                b.goroutines.max? as f64,
                b.goroutines.mean()?,
            ))
        })
        .collect();
    if !g.is_empty() {
        let mut poly: Vec<(f64, f64)> = g.iter().map(|p| (p.0, p.2)).collect();
        poly.extend(g.iter().rev().map(|p| (p.0, p.1)));
        chart.draw_series(std::iter::once(Polygon::new(poly, BLUE.mix(0.18).filled())))?;
        chart.draw_series(LineSeries::new(
            g.iter().map(|p| (p.0, p.3)),
            BLUE.stroke_width(2),
        ))?;
    }
    // Memory, with the memory ladder as lines.
    let m: Vec<(f64, f64)> = r
        .series
        .iter()
        .filter_map(|b| Some((b.mid_ms() as f64, b.memory.mean()? / (1u64 << 20) as f64)))
        .collect();
    let m_peak = r.totals.memory.max.unwrap_or(0) as f64 / (1u64 << 20) as f64;
    let m_max = (m_peak * 1.15).max(64.0);
    let mut builder = ChartBuilder::on(&bottom);
    builder
        .margin(10)
        .x_label_area_size(if font { 28 } else { 0 })
        .y_label_area_size(if font { 60 } else { 0 });
    if font {
        builder.caption("memory (MB, average)", ("sans-serif", 16));
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, 0f64..m_max)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE.mix(0.0));
    if font {
        mesh.x_label_formatter(&fmt_x)
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .x_labels(8)
            .y_labels(5);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    for (i, bound) in levels.memory.0.iter().enumerate() {
        let mb = *bound as f64 / (1u64 << 20) as f64;
        if mb < m_max {
            chart.draw_series(LineSeries::new(
                [(x0, mb), (x1, mb)],
                BAND_COLOURS[i + 2].mix(0.7),
            ))?;
        }
    }
    if !m.is_empty() {
        chart.draw_series(LineSeries::new(m, RGBColor(130, 80, 223).stroke_width(2)))?;
    }
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    reports: &[TargetReport],
    levels: &Levels,
    font: bool,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let areas = root.split_evenly((reports.len().max(1), 1));
    for (area, r) in areas.iter().zip(reports) {
        draw_target(area, r, levels, font)?;
    }
    root.present()?;
    Ok(())
}

fn chart_height(n: usize) -> u32 {
    2 * PANEL * n.max(1) as u32
}

/// One SVG with two panels (goroutines, memory) per target.
pub fn charts_svg(reports: &[TargetReport], levels: &Levels, font: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, chart_height(reports.len())))
            .into_drawing_area();
        draw_all(root, reports, levels, font)
            .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
    }
    Ok(out)
}

/// The same charts as a PNG.
pub fn charts_png(
    reports: &[TargetReport],
    levels: &Levels,
    font: bool,
) -> anyhow::Result<Vec<u8>> {
    let (w, h) = (WIDTH, chart_height(reports.len()));
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_all(root, reports, levels, font)
            .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&rgb)?;
    }
    Ok(png_bytes)
}
