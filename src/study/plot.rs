//! One plot per metric against the swept parameter: a line per scheme, 95% CI error bars,
//! as SVG and PNG. Text uses the DejaVu Sans font shipped in `assets/` (no system fonts).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::output::Row;
use super::spec::{Metric, Study};
use crate::error::{MbaError, Result};

/// DejaVu Sans (Bitstream Vera license, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (800, 560);

fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            panic!("the shipped font does not parse");
        }
    });
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A scheme's points: `(x, mean, ci95)`, outage-only points left out.
struct Series {
    name: String,
    points: Vec<(f64, f64, f64)>,
}

/// A line per scheme, and for a grouped metric a line per scheme and device group instead.
fn series(study: &Study, rows: &[Row], metric: Metric) -> Vec<Series> {
    let mut groups: Vec<&str> = rows
        .iter()
        .filter(|r| r.metric == metric.name() && !r.group.is_empty())
        .map(|r| r.group.as_str())
        .collect();
    groups.sort();
    groups.dedup();
    let keys: Vec<(&str, Option<&str>)> = match groups.is_empty() {
        true => study
            .file
            .study
            .schemes
            .iter()
            .map(|s| (s.name(), None))
            .collect(),
        false => study
            .file
            .study
            .schemes
            .iter()
            .flat_map(|s| groups.iter().map(move |g| (s.name(), Some(*g))))
            .collect(),
    };
    keys.into_iter()
        .map(|(scheme, group)| Series {
            name: group.map_or(scheme.into(), |g| format!("{scheme}, {g}")),
            points: rows
                .iter()
                .filter(|r| r.scheme == scheme && r.metric == metric.name())
                .filter(|r| r.group == group.unwrap_or(""))
                .filter_map(|r| r.mean.map(|m| (r.value, m, r.ci95.unwrap_or(0.0))))
                .filter_map(drawable)
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// Largest magnitude drawn: plotters computes spans and tick steps from the coordinates, so
/// they must stay far from overflow (an infinite axis spins its tick loop forever).
const DRAWABLE: f64 = 1e300;

/// A point as drawn: non-finite means and intervals are left out (the CSV keeps them), huge
/// values clamped.
fn drawable((x, m, c): (f64, f64, f64)) -> Option<(f64, f64, f64)> {
    let clamp = |v: f64| v.clamp(-DRAWABLE, DRAWABLE);
    let c = if c.is_finite() { c } else { 0.0 };
    (x.is_finite() && m.is_finite()).then(|| (clamp(x), clamp(m), clamp(c)))
}

fn range(lo: f64, hi: f64, pad_zero: bool) -> std::ops::Range<f64> {
    let (lo, hi) = if pad_zero {
        (lo.min(0.0), hi)
    } else {
        (lo, hi)
    };
    let (lo, hi) = (lo.max(-DRAWABLE), hi.min(DRAWABLE));
    // A span below 1e-9 of the values is drawn as flat: tick steps below an ulp never advance.
    let size = lo.abs().max(hi.abs());
    let span = if hi - lo > 1e-9 * size {
        hi - lo
    } else {
        size.max(1.0)
    };
    (lo - 0.05 * span)..(hi + 0.05 * span)
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    study: &Study,
    metric: Metric,
    data: &[Series],
) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let all = data.iter().flat_map(|s| s.points.iter());
    let (xmin, xmax) = all
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let (ymin, ymax) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1 - p.2), b.max(p.1 + p.2))
    });
    let (xr, yr) = if xmin.is_finite() {
        (range(xmin, xmax, false), range(ymin, ymax, true))
    } else {
        (0.0..1.0, 0.0..1.0)
    };
    let cap = 0.01 * (xr.end - xr.start);
    let param = study.file.sweep.parameter;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: {} vs {}",
                study.file.study.name,
                metric.name(),
                param.name()
            ),
            (FAMILY, 22),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(xr, yr)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(param.label())
        .y_desc(metric.label())
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(e)?;
    for (i, s) in data.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        // Earlier series are drawn wider, so coinciding curves stay visible under later ones.
        let wider = (data.len() - 1 - i) as u32;
        let style = color.stroke_width(2 + 2 * wider);
        chart
            .draw_series(LineSeries::new(s.points.iter().map(|p| (p.0, p.1)), style))
            .map_err(e)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|p| Circle::new((p.0, p.1), 3 + 2 * wider, color.filled())),
            )
            .map_err(e)?;
        let style = color.stroke_width(2);
        let bars = s
            .points
            .iter()
            .filter(|p| p.2 > 0.0)
            .flat_map(|&(x, m, c)| {
                [
                    PathElement::new(vec![(x, m - c), (x, m + c)], style),
                    PathElement::new(vec![(x - cap, m - c), (x + cap, m - c)], style),
                    PathElement::new(vec![(x - cap, m + c), (x + cap, m + c)], style),
                ]
            });
        chart.draw_series(bars).map_err(e)?;
    }
    if !data.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FAMILY, 14))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(e)?;
    }
    root.present().map_err(e)
}

/// `DIR/<metric>.svg` and `DIR/<metric>.png`.
pub fn plot_metric(dir: &Path, study: &Study, rows: &[Row], metric: Metric) -> Result<()> {
    ensure_font();
    let data = series(study, rows, metric);
    let svg = dir.join(format!("{}.svg", metric.name()));
    let png = dir.join(format!("{}.png", metric.name()));
    let fail = |path: &Path, msg: String| MbaError::io(path, std::io::Error::other(msg));
    draw(
        SVGBackend::new(&svg, SIZE).into_drawing_area(),
        study,
        metric,
        &data,
    )
    .map_err(|m| fail(&svg, m))?;
    draw(
        BitMapBackend::new(&png, SIZE).into_drawing_area(),
        study,
        metric,
        &data,
    )
    .map_err(|m| fail(&png, m))
}
