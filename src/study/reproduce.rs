//! `mba reproduce`: the paper's Figs. 6-8 from the built-in study files (`configs/fig6.toml`,
//! `fig7.toml`, `fig8.toml`), then a summary of what we measure beside the paper's claims.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::output::Row;
use super::spec::{Scheme, Study, SweepParameter};
use super::{Progress, Shard, part, simulate};
use crate::backend::Backend;
use crate::error::{MbaError, Result};

/// The built-in study files, as shipped in `configs/`.
pub const FIGURES: [(&str, &str); 3] = [
    ("fig6", include_str!("../../configs/fig6.toml")),
    ("fig7", include_str!("../../configs/fig7.toml")),
    ("fig8", include_str!("../../configs/fig8.toml")),
];

/// Work budget of an exact solve in a quick run.
const QUICK_EXACT_WORK: f64 = 1.0;

/// A built-in figure study; `quick` keeps 3 points, 2 trials, 16 realizations and at most
/// [`QUICK_EXACT_WORK`] units of work per exact solve (smoke runs).
pub fn figure_study(name: &str, text: &str, quick: bool) -> Result<Study> {
    let mut study = Study::from_text(&format!("configs/{name}.toml (built in)"), text)?;
    if quick {
        let f = &mut study.file;
        f.study.trials = f.study.trials.min(2);
        f.study.realizations = f.study.realizations.min(16);
        f.exact.work_limit = f.exact.work_limit.min(QUICK_EXACT_WORK);
        let v = &f.sweep.values;
        if v.len() > 3 {
            f.sweep.values = vec![v[0], v[v.len() / 2], v[v.len() - 1]];
        }
        f.validate().map_err(|e| e.in_file(&study.source))?;
    }
    Ok(study)
}

/// One figure's outcome.
pub struct FigureRun {
    pub name: String,
    pub study: Study,
    pub rows: Vec<Row>,
    pub wall_s: f64,
    /// Why optimal selection was dropped, when it was.
    pub bnb_note: Option<String>,
    /// Per point: optimal selections not proven optimal within the limits.
    pub bnb_unproven: Vec<u64>,
}

/// What `reproduce` did.
pub struct ReproduceReport {
    pub figures: Vec<FigureRun>,
    pub summary_md: String,
    pub wall_s: f64,
}

fn run_figure(
    name: &str,
    text: &str,
    out: &Path,
    quick: bool,
    backend: &dyn Backend,
    progress: &dyn Progress,
) -> Result<FigureRun> {
    let mut study = figure_study(name, text, quick)?;
    let dir = out.join(name);
    let mut bnb_note = None;
    clear_stale_part(&dir, &study)?;
    let res = simulate(&study, backend, &dir, Shard::WHOLE, progress);
    let res = match res {
        Err(e) if e.is_solver_failure() && study.file.study.schemes.contains(&Scheme::MbaBnb) => {
            // HiGHS failing: say so, go on with greedy only.
            let msg = e.to_string();
            progress.note(&format!(
                "{name}: optimal selection failed ({msg}); continuing with greedy only"
            ));
            bnb_note = Some(msg);
            study.file.study.schemes.retain(|s| *s != Scheme::MbaBnb);
            clear_stale_part(&dir, &study)?;
            simulate(&study, backend, &dir, Shard::WHOLE, progress)
        }
        other => other,
    }?;
    Ok(FigureRun {
        name: name.into(),
        study,
        rows: res.rows.expect("unsharded run has rows"),
        bnb_unproven: res.manifest.expect("unsharded run").bnb_unproven,
        wall_s: res.wall_s,
        bnb_note,
    })
}

/// `reproduce` owns its figure folders: a part left by another variant of the figure (quick vs
/// full, with or without optimal selection) is removed, a part of this very study is reused.
fn clear_stale_part(dir: &Path, study: &Study) -> Result<()> {
    let path = part::part_path(dir, Shard::WHOLE);
    if path.exists() {
        let stale = part::load_part(&path).map_or(true, |p| p.spec_hash != study.hash());
        if stale {
            std::fs::remove_file(&path).map_err(|e| MbaError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Run Figs. 6-8 on `backend` into `out/fig6..8`, write `out/summary.md`, and return the
/// report.
pub fn reproduce(
    out: &Path,
    quick: bool,
    backend: &dyn Backend,
    progress: &dyn Progress,
) -> Result<ReproduceReport> {
    let start = Instant::now();
    let figures = FIGURES
        .iter()
        .map(|(name, text)| run_figure(name, text, out, quick, backend, progress))
        .collect::<Result<Vec<_>>>()?;
    let wall_s = start.elapsed().as_secs_f64();
    let summary_md = summary(&figures, quick, wall_s);
    let path: PathBuf = out.join("summary.md");
    super::files::write_atomic(&path, summary_md.as_bytes())?;
    Ok(ReproduceReport {
        figures,
        summary_md,
        wall_s,
    })
}

/// Mean of `(scheme, metric)` at each point, as `(value, mean)`.
fn means(rows: &[Row], scheme: Scheme, metric: &str) -> Vec<(f64, Option<f64>)> {
    rows.iter()
        .filter(|r| r.scheme == scheme.name() && r.metric == metric)
        .map(|r| (r.value, r.mean))
        .collect()
}

/// `a / b` per point where both exist.
fn ratios(rows: &[Row], a: Scheme, b: Scheme, metric: &str) -> Vec<(f64, f64)> {
    means(rows, a, metric)
        .into_iter()
        .zip(means(rows, b, metric))
        .filter_map(|((x, ma), (_, mb))| Some((x, ma? / mb?)))
        .collect()
}

fn at(r: &[(f64, f64)], x: f64) -> Option<(f64, f64)> {
    r.iter()
        .copied()
        .min_by(|a, b| (a.0 - x).abs().total_cmp(&(b.0 - x).abs()))
}

fn span(r: &[(f64, f64)]) -> String {
    if r.is_empty() {
        return "n/a".into();
    }
    let lo = r.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = r.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.3} – {hi:.3}")
}

fn verdict(measured: Option<f64>, paper: f64, tol: f64) -> &'static str {
    match measured {
        None => "not measured",
        Some(m) if (m - paper).abs() <= tol * paper => "agrees",
        Some(_) => "differs",
    }
}

fn fmt_at(p: Option<(f64, f64)>) -> String {
    p.map_or("n/a".into(), |(x, r)| format!("{r:.3} (at {x})"))
}

fn params(f: &FigureRun) -> String {
    let s = &f.study.file;
    let g = &s.generator;
    let swept = s.sweep.parameter;
    let show = |p: SweepParameter, v: String| if p == swept { "swept".into() } else { v };
    format!(
        "{} trials x {} realizations, E = {}, M = {}, N = {}, K = {}, qos {}, sharing {}",
        s.study.trials,
        s.study.realizations,
        show(SweepParameter::EnergyJ, format!("{} J", s.system.energy_j)),
        g.models,
        g.blocks,
        show(SweepParameter::Devices, g.devices.to_string()),
        g.qos_ratio,
        g.sharing
    )
}

/// A markdown table of `metric`'s means (± CI) per sweep point and scheme.
fn means_table(s: &mut String, f: &FigureRun, metric: &str) {
    let schemes = &f.study.file.study.schemes;
    let head: Vec<&str> = schemes.iter().map(|s| s.name()).collect();
    let _ = writeln!(
        s,
        "{} | {} |",
        f.study.file.sweep.parameter.name(),
        head.join(" | ")
    );
    let _ = writeln!(s, "---|{}", "---|".repeat(schemes.len()));
    for (p, v) in f.study.file.sweep.values.iter().enumerate() {
        let cells: Vec<String> = schemes
            .iter()
            .map(|sc| {
                f.rows
                    .iter()
                    .find(|r| r.point == p && r.scheme == sc.name() && r.metric == metric)
                    .map_or("n/a".into(), |r| match (r.mean, r.ci95) {
                        (Some(m), Some(c)) => format!("{m:.4} ± {c:.4}"),
                        (Some(m), None) => format!("{m:.4}"),
                        _ if r.count == 0 => "n/a".into(),
                        _ => format!("outage ({}/{})", r.outages, r.count),
                    })
            })
            .collect();
        let _ = writeln!(s, "{v} | {} |", cells.join(" | "));
    }
    let _ = writeln!(s, "\n({metric}; ± is the 95% CI half-width)\n");
}

/// The markdown summary: each headline claim, the paper's number, ours, and the setting.
fn summary(figs: &[FigureRun], quick: bool, wall_s: f64) -> String {
    let get = |n: &str| figs.iter().find(|f| f.name == n).expect("all figures ran");
    let (f6, f7, f8) = (get("fig6"), get("fig7"), get("fig8"));
    let lat = "latency_s";
    let per = "latency_per_device_s";
    let m7u = ratios(&f7.rows, Scheme::MbaGreedy, Scheme::Unicast, lat);
    let c7 = ratios(&f7.rows, Scheme::MbaConstantPower, Scheme::MbaGreedy, lat);
    let m8u = ratios(&f8.rows, Scheme::MbaGreedy, Scheme::Unicast, per);
    let m8c = ratios(&f8.rows, Scheme::MbaGreedy, Scheme::MbaConstantPower, per);
    let g6 = ratios(&f6.rows, Scheme::MbaGreedy, Scheme::MbaBnb, "blocks");
    let small: Vec<(f64, f64)> = g6.iter().copied().filter(|p| p.0 <= 8.0).collect();
    let small_max = small
        .iter()
        .map(|p| p.1)
        .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
    let mean7 = (!m7u.is_empty()).then(|| m7u.iter().map(|p| p.1).sum::<f64>() / m7u.len() as f64);
    let c200 = at(&c7, 200.0);
    let c320 = at(&c7, 320.0);
    let u20 = at(&m8u, 20.0);
    let k20 = at(&m8c, 20.0);
    let b17 = at(&g6, 17.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Reproduction summary{}\n",
        if quick { " (quick smoke run)" } else { "" }
    );
    let _ = writeln!(s, "| claim (paper) | paper | measured | verdict | figure |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    let mut line = |claim: &str, paper: f64, shown: String, m: Option<f64>, tol: f64, fig: &str| {
        let _ = writeln!(
            s,
            "| {claim} | {paper:.2} | {shown} | {} | {fig} |",
            verdict(m, paper, tol)
        );
    };
    line(
        "MBA / unicast latency, E = 200–320 J (mean over E; range)",
        0.50,
        format!(
            "{} ({})",
            mean7.map_or("n/a".into(), |m| format!("{m:.3}")),
            span(&m7u)
        ),
        mean7,
        0.15,
        "fig7",
    );
    line(
        "constant-power MBA / MBA latency at E = 200 J",
        1.20,
        fmt_at(c200),
        c200.map(|p| p.1),
        0.05,
        "fig7",
    );
    line(
        "constant-power MBA / MBA latency at E = 320 J",
        1.10,
        fmt_at(c320),
        c320.map(|p| p.1),
        0.05,
        "fig7",
    );
    line(
        "MBA / unicast latency per device at K = 20",
        0.60,
        fmt_at(u20),
        u20.map(|p| p.1),
        0.15,
        "fig8",
    );
    line(
        "MBA / constant-power MBA latency per device at K = 20",
        0.85,
        fmt_at(k20),
        k20.map(|p| p.1),
        0.05,
        "fig8",
    );
    line(
        "greedy / optimal blocks, K <= 8 (worst point)",
        1.00,
        small_max.map_or("n/a".into(), |m| format!("{m:.3}")),
        small_max,
        0.005,
        "fig6",
    );
    line(
        "greedy / optimal blocks at K = 17",
        1.05,
        fmt_at(b17),
        b17.map(|p| p.1),
        0.03,
        "fig6",
    );
    let _ = writeln!(
        s,
        "\nVerdict tolerance: ±15% relative for the MBA/unicast ratios, ±5% for the \
         power-control ratios, ±0.5% (K <= 8) and ±3% (K = 17) for greedy/optimal blocks."
    );
    let _ = writeln!(s, "\n## Settings and wall time\n");
    let _ = writeln!(s, "| figure | sweep | setting | wall time (s) |");
    let _ = writeln!(s, "|---|---|---|---|");
    for f in figs {
        let sw = &f.study.file.sweep;
        let vals: Vec<String> = sw.values.iter().map(|v| v.to_string()).collect();
        let _ = writeln!(
            s,
            "| {} | {} = {} | {} | {:.1} |",
            f.name,
            sw.parameter.name(),
            vals.join(", "),
            params(f),
            f.wall_s
        );
    }
    let _ = writeln!(s, "\nTotal wall time: {wall_s:.1} s.");
    for f in figs {
        if let Some(note) = &f.bnb_note {
            let _ = writeln!(
                s,
                "\n**{}: optimal selection (mba_bnb) was not available** ({note}); the figure \
                 shows greedy selection only, and the greedy/optimal rows read n/a.",
                f.name
            );
        }
    }
    for f in figs {
        let unproven: u64 = f.bnb_unproven.iter().sum();
        if unproven > 0 {
            let _ = writeln!(
                s,
                "\n{}: {unproven} of {} optimal selections hit their work, node or time limit \
                 (per point: {:?}); their best selection, not a proven optimum, is used.",
                f.name,
                f.study.units(),
                f.bnb_unproven
            );
        }
    }
    let _ = writeln!(s, "\n## Measured means\n");
    for f in figs {
        let _ = writeln!(s, "### {}\n", f.name);
        // Fig. 6 is about selection, so it also shows each selection's gap to its own bound.
        let metrics: &[&str] = match f.name.as_str() {
            "fig6" => &["blocks", "gap"],
            "fig7" => &[lat],
            _ => &[per],
        };
        for metric in metrics {
            means_table(&mut s, f, metric);
        }
    }
    s
}
