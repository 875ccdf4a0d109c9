//! One plot per metric against the swept parameter: a line per scheme, 95% CI error bars,
//! as SVG and PNG, for a reader's eyes: a title saying what is plotted and at which setting,
//! schemes in words, axis titles with units, whole-number ticks for counts and a log axis for
//! sweeps over decades. Text uses the DejaVu Sans font shipped in `assets/` (no system fonts).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::output::{Row, groups_of};
use super::spec::{Metric, Scheme, Study, SweepParameter};
use crate::error::{MbaError, Result, number};

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
    let groups = groups_of(rows, metric.name());
    let schemes = &study.file.study.schemes;
    let keys: Vec<(Scheme, Option<&str>)> = match groups.is_empty() {
        true => schemes.iter().map(|&s| (s, None)).collect(),
        false => schemes
            .iter()
            .flat_map(|&s| groups.iter().map(move |g| (s, Some(*g))))
            .collect(),
    };
    keys.into_iter()
        .map(|(scheme, group)| Series {
            name: group.map_or(scheme.label().into(), |g| {
                format!("{}, {g}", scheme.label())
            }),
            points: rows
                .iter()
                .filter(|r| r.scheme == scheme.name() && r.metric == metric.name())
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

/// How the x axis is drawn.
enum XAxis {
    Linear,
    /// At most this many ticks, so that plotters' steps (1, 2 or 5 times a power of ten) are
    /// whole numbers.
    Integer(usize),
    /// Logarithmic, for sweeps over three decades or more (and at most 200).
    Log,
}

/// Most ticks on a whole-number axis.
const MAX_TICKS: f64 = 12.0;

/// The axis for data from `lo` to `hi`, drawn over `x` (padded).
fn x_axis(param: SweepParameter, (lo, hi): (f64, f64), x: &std::ops::Range<f64>) -> XAxis {
    // Up to 200 decades: plotters counts a log axis's decades, which must stay few and finite.
    if lo > 0.0 && (1e3..=1e200).contains(&(hi / lo)) {
        return XAxis::Log;
    }
    if !param.is_count() {
        return XAxis::Linear;
    }
    // The smallest step of 1, 2, 5, 10, 20, ... that keeps the ticks few, and its tick count.
    let span = x.end - x.start;
    let step = (0..)
        .map(|k| [1.0, 2.0, 5.0][k % 3] * 10f64.powi(k as i32 / 3))
        .find(|step| span / step <= MAX_TICKS)
        .expect("a finite span fits some step");
    XAxis::Integer(((x.end / step).floor() - (x.start / step).ceil()) as usize + 1)
}

/// The fixed settings a plot is drawn at (the swept one left out), for its subtitle.
fn setting(study: &Study) -> String {
    let f = &study.file;
    let swept = f.sweep.parameter;
    let mut parts = Vec::new();
    let devices = study
        .instance
        .as_ref()
        .map_or(f.generator.devices, |i| i.num_devices());
    if swept != SweepParameter::Devices {
        parts.push(format!("K = {devices} devices"));
    }
    if let Some(t) = f
        .latency
        .budget_s
        .filter(|_| swept != SweepParameter::LatencyBudgetS)
    {
        parts.push(format!("T = {} s", number(t)));
    }
    if swept != SweepParameter::EnergyJ {
        parts.push(format!("E = {} J", number(f.system.energy_j)));
    }
    if !matches!(
        swept,
        SweepParameter::NoiseW | SweepParameter::NoisePsdWPerHz
    ) {
        parts.push(match f.system.noise_psd_w_per_hz {
            Some(psd) => format!("N0 = {} W/Hz", number(psd)),
            None => format!("N0 = {} W", number(f.system.noise_power_w())),
        });
    }
    parts.join(", ")
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    study: &Study,
    metric: Metric,
    data: &[Series],
) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let param = study.file.sweep.parameter;
    let title = format!("{} vs {}", metric.title(), param.title());
    let root = root.titled(&title, (FAMILY, 22)).map_err(e)?;
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
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(setting(study), (FAMILY, 15))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70);
    let (x, y) = (param.label(), metric.label());
    let linear_cap = 0.01 * (xr.end - xr.start);
    let axis = if xmin.is_finite() {
        x_axis(param, (xmin, xmax), &xr)
    } else {
        XAxis::Linear
    };
    match axis {
        XAxis::Log => {
            // Padded by a share of the span in ln x, as the linear axes are in x; in ln x so
            // that no ratio of extreme values overflows.
            let (lo, hi) = (xmin.ln(), xmax.ln());
            let pad = 0.05 * (hi - lo);
            let drawn = (lo - pad).exp().max(1.0 / DRAWABLE)..(hi + pad).exp().min(DRAWABLE);
            let chart = builder
                .build_cartesian_2d(drawn.log_scale(), yr)
                .map_err(e)?;
            let cap = (0.2 * pad).exp();
            let sci = |v: &f64| format!("{v:e}");
            let ticks: &dyn Fn(&f64) -> String = if param.is_count() { &whole } else { &sci };
            fill(chart, data, (x, y), Some((10, ticks)), &|v| {
                (v / cap, v * cap)
            })
        }
        XAxis::Integer(ticks) => {
            let chart = builder.build_cartesian_2d(xr, yr).map_err(e)?;
            let cap = |v| (v - linear_cap, v + linear_cap);
            fill(chart, data, (x, y), Some((ticks, &whole)), &cap)
        }
        XAxis::Linear => {
            let chart = builder.build_cartesian_2d(xr, yr).map_err(e)?;
            let cap = |v| (v - linear_cap, v + linear_cap);
            fill(chart, data, (x, y), None, &cap)
        }
    }?;
    root.present().map_err(e)
}

/// At most how many x ticks, and how each reads.
type Ticks<'f> = (usize, &'f dyn Fn(&f64) -> String);

/// A whole number without decimals (a count's tick), anything else as `number` writes it.
fn whole(v: &f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        number(*v)
    }
}

/// The mesh, a line per series with its CI bars, and the legend, on any x axis; `x_ticks`
/// is at most how many x ticks and how they read, `cap` an error bar's left and right ends.
fn fill<'a, DB: DrawingBackend + 'a, X>(
    mut chart: ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    data: &[Series],
    (x_desc, y_desc): (&str, &str),
    x_ticks: Option<Ticks<'_>>,
    cap: &dyn Fn(f64) -> (f64, f64),
) -> std::result::Result<(), String>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15));
    if let Some((n, f)) = x_ticks {
        mesh.x_labels(n).x_label_formatter(f);
    }
    mesh.draw().map_err(e)?;
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
                let (l, r) = cap(x);
                [
                    PathElement::new(vec![(x, m - c), (x, m + c)], style),
                    PathElement::new(vec![(l, m - c), (r, m - c)], style),
                    PathElement::new(vec![(l, m + c), (r, m + c)], style),
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
    Ok(())
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
