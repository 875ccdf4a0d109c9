//! `mba reproduce`: the paper's Figs. 6-9 from the built-in study files (`configs/fig6.toml`,
//! `fig7.toml`, `fig8.toml`), the regime study (`configs/regime.toml`, once per power-control
//! claim), then a summary of what we measure beside the paper's claims (`configs/claims.toml`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::claims::{Claim, Regime, Sample, claims, outages_at};
use super::output::{Row, groups_of};
use super::spec::{Scheme, Study, SweepParameter};
use super::{Progress, Shard, part, simulate};
use crate::backend::Backend;
use crate::error::{MbaError, Result, number};
use crate::latency::Objective;

/// The built-in study files, as shipped in `configs/`.
pub const FIGURES: [(&str, &str); 3] = [
    ("fig6", include_str!("../../configs/fig6.toml")),
    ("fig7", include_str!("../../configs/fig7.toml")),
    ("fig8", include_str!("../../configs/fig8.toml")),
];

/// The regime study: the power-control ratios against the noise level.
pub const REGIME: &str = include_str!("../../configs/regime.toml");

/// Fig. 9: latency-constrained downloading with backups. Run as shipped (`min-ratio`) and
/// again as `fig9_total` under the `total-score` objective, to show which one gives the
/// paper's unicast imbalance.
pub const FIG9: &str = include_str!("../../configs/fig9.toml");

/// `configs/fig9.toml` under `objective`, named `name`.
pub fn fig9_study(name: &str, objective: Objective, quick: bool) -> Result<Study> {
    let mut study = figure_study("fig9", FIG9, quick)?;
    study.file.study.name = name.into();
    study.file.latency.objective = objective;
    Ok(study)
}

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
    mut study: Study,
    out: &Path,
    backend: &dyn Backend,
    progress: &dyn Progress,
) -> Result<FigureRun> {
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

/// The folder (and run name) of a regime setting, under `regime/`.
fn regime_run(r: &Regime) -> String {
    format!("regime/{}", r.name)
}

/// `configs/regime.toml` at a claim's regime setting (energy budget and devices).
pub fn regime_study(r: &Regime, quick: bool) -> Result<Study> {
    let mut study = figure_study("regime", REGIME, quick)?;
    let f = &mut study.file;
    f.study.name = format!("regime-{}", r.name);
    f.system.energy_j = r.energy_j;
    f.generator.devices = r.devices;
    f.validate().map_err(|e| e.in_file(&study.source))?;
    Ok(study)
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

/// Run Figs. 6-9 and the regime study on `backend` into `out/fig6..9`, `out/fig9_total` and `out/regime/*`,
/// write `out/summary.md`, and return the report.
pub fn reproduce(
    out: &Path,
    quick: bool,
    backend: &dyn Backend,
    progress: &dyn Progress,
) -> Result<ReproduceReport> {
    let start = Instant::now();
    let claims = claims()?;
    let mut figures = Vec::new();
    for (name, text) in FIGURES {
        let study = figure_study(name, text, quick)?;
        figures.push(run_figure(name, study, out, backend, progress)?);
    }
    for (name, objective) in [
        ("fig9", Objective::MinRatio),
        ("fig9_total", Objective::TotalScore),
    ] {
        let study = fig9_study(name, objective, quick)?;
        figures.push(run_figure(name, study, out, backend, progress)?);
    }
    let mut regimes: Vec<&Regime> = claims.iter().filter_map(|c| c.regime.as_ref()).collect();
    regimes.dedup_by(|a, b| a.name == b.name);
    for r in regimes {
        let study = regime_study(r, quick)?;
        figures.push(run_figure(&regime_run(r), study, out, backend, progress)?);
    }
    let wall_s = start.elapsed().as_secs_f64();
    let summary_md = summary(&claims, &figures, quick, wall_s);
    let path: PathBuf = out.join("summary.md");
    super::files::write_atomic(&path, summary_md.as_bytes())?;
    Ok(ReproduceReport {
        figures,
        summary_md,
        wall_s,
    })
}

fn params(f: &FigureRun) -> String {
    let s = &f.study.file;
    if let Some(inst) = &f.study.instance {
        let lib = &inst.library;
        return format!(
            "{} trials x {} realizations, E = {} J, fixed instance: M = {}, N = {}, K = {}, \
             objective {:?}",
            s.study.trials,
            s.study.realizations,
            s.system.energy_j,
            lib.models(),
            lib.blocks(),
            inst.num_devices(),
            s.latency.objective
        );
    }
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
    let head: Vec<&str> = schemes.iter().map(|s| s.label()).collect();
    let _ = writeln!(
        s,
        "{} | {} |",
        f.study.file.sweep.parameter.label(),
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
        let _ = writeln!(s, "{} | {} |", number(*v), cells.join(" | "));
    }
    let _ = writeln!(s, "\n({metric}; ± is the 95% CI half-width)\n");
}

/// A markdown table of a grouped metric's means per sweep point, a column per scheme and
/// device group.
fn group_table(s: &mut String, f: &FigureRun, metric: &str) {
    let groups = groups_of(&f.rows, metric);
    let cols: Vec<(Scheme, &str)> = f
        .study
        .file
        .study
        .schemes
        .iter()
        .flat_map(|&sc| groups.iter().map(move |&g| (sc, g)))
        .collect();
    let head: Vec<String> = cols
        .iter()
        .map(|(sc, g)| format!("{}, {g}", sc.label()))
        .collect();
    let sweep = &f.study.file.sweep;
    let _ = writeln!(s, "{} | {} |", sweep.parameter.label(), head.join(" | "));
    let _ = writeln!(s, "---|{}", "---|".repeat(cols.len()));
    for (p, v) in sweep.values.iter().enumerate() {
        let cells: Vec<String> = cols
            .iter()
            .map(|(sc, g)| {
                f.rows
                    .iter()
                    .find(|r| {
                        r.point == p && r.scheme == sc.name() && r.metric == metric && r.group == *g
                    })
                    .and_then(|r| r.mean)
                    .map_or("n/a".into(), |m| format!("{m:.2}"))
            })
            .collect();
        let _ = writeln!(s, "{} | {} |", number(*v), cells.join(" | "));
    }
    let what = match metric {
        "blocks" => "blocks received per device",
        _ => metric,
    };
    let _ = writeln!(
        s,
        "\n({what} per device group, mean over trials and realizations)\n"
    );
}

/// A noise power (or any value across decades) to three digits.
fn sci(v: f64) -> String {
    format!("{v:.2e}")
}

/// Intervals of a band as text: single points as one number.
fn intervals(band: &[(f64, f64)], unit: &str) -> String {
    let each: Vec<String> = band
        .iter()
        .map(|&(a, b)| {
            if a == b {
                format!("{} {unit}", sci(a))
            } else {
                format!("{} – {} {unit}", sci(a), sci(b))
            }
        })
        .collect();
    each.join(", ")
}

/// The markdown summary: each headline claim, the paper's number, ours, and the setting.
fn summary(claims: &[Claim], figs: &[FigureRun], quick: bool, wall_s: f64) -> String {
    let run = |n: &str| figs.iter().find(|f| f.name == n);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Reproduction summary{}\n",
        if quick { " (quick smoke run)" } else { "" }
    );
    let _ = writeln!(
        s,
        "| claim (paper) | paper | measured | verdict | tolerance | figure |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for c in claims {
        let curve = run(&c.figure).map_or_else(Vec::new, |f| c.curve(&f.rows));
        let measured = c.measure(&curve);
        let mut verdict = c.verdict(measured.as_ref().map(|m| m.0)).to_string();
        let regime = c.regime.as_ref().and_then(|r| run(&regime_run(r)));
        if let (Some(f), "differs") = (regime, verdict.as_str()) {
            verdict += &regime_note(c, f);
        }
        let (paper, tolerance) = match c.above {
            true => (format!("> {:.2}", c.paper), "one-sided".to_string()),
            false => (
                format!("{:.2}", c.paper),
                format!("±{}%", 100.0 * c.tolerance),
            ),
        };
        let _ = writeln!(
            s,
            "| {} | {paper} | {} | {verdict} | {tolerance} | {} |",
            c.claim,
            measured.map_or("n/a".into(), |m| m.1),
            c.figure
        );
    }
    let _ = writeln!(
        s,
        "\nVerdict: \"agrees\" when the measured number is within the row's relative \
         tolerance of the paper's."
    );
    regime_section(&mut s, claims, &run);
    let _ = writeln!(s, "\n## Settings and wall time\n");
    let _ = writeln!(s, "| figure | sweep | setting | wall time (s) |");
    let _ = writeln!(s, "|---|---|---|---|");
    for f in figs {
        let sw = &f.study.file.sweep;
        let mut vals: Vec<String> = sw.values.iter().map(|&v| number(v)).collect();
        if vals.len() > 8 {
            // A long sweep as its ends: first, second, ..., last.
            let n = vals.len();
            vals = vec![
                vals[0].clone(),
                vals[1].clone(),
                format!("…, {} ({n} points)", vals[n - 1]),
            ];
        }
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
    // The regime runs' numbers are the ratio table above (all of them in their results.csv).
    for f in figs.iter().filter(|f| !f.name.starts_with("regime/")) {
        let _ = writeln!(s, "### {}\n", f.name);
        if f.study.instance.is_some() {
            for metric in ["score", "blocks"] {
                group_table(&mut s, f, metric);
            }
            continue;
        }
        // Fig. 6 is about selection, so it also shows each selection's gap to its own bound.
        let metrics: &[&str] = match f.name.as_str() {
            "fig6" => &["blocks", "gap"],
            "fig7" => &["latency_s"],
            _ => &["latency_per_device_s"],
        };
        for metric in metrics {
            means_table(&mut s, f, metric);
        }
    }
    s
}

/// What the regime study says about a claim that differs at the default noise.
fn regime_note(c: &Claim, f: &FigureRun) -> String {
    let (_, meets) = c.holds(&c.curve(&f.rows));
    if meets.is_empty() {
        "; met at no noise power of the regime study".into()
    } else {
        format!("; met at N0 = {} (regime study)", intervals(&meets, "W"))
    }
}

/// The regime study's section: where on the noise axis each power-control claim holds, then
/// the ratio at every noise power.
fn regime_section<'a>(
    s: &mut String,
    claims: &'a [Claim],
    run: &dyn Fn(&str) -> Option<&'a FigureRun>,
) {
    let runs: Vec<(&Claim, Vec<Sample>, &FigureRun)> = claims
        .iter()
        .filter_map(|c| {
            let f = run(&regime_run(c.regime.as_ref()?))?;
            Some((c, c.curve(&f.rows), f))
        })
        .collect();
    let Some((_, _, first)) = runs.first() else {
        return;
    };
    let values = &first.study.file.sweep.values;
    let (lo, hi) = (values[0], values[values.len() - 1]);
    let _ = writeln!(
        s,
        "\n## Where the power-control claims hold: the regime study\n\n\
         The power-control ratios against the noise power N0 over the band, from {} W (the \
         default, our reading of the paper's N0) to {} W (N0 read as W/Hz, times B), at each \
         claim's setting (`configs/regime.toml`; ratios of mean latencies over the rounds that \
         are not outages, E <= E_min). N0 values between sweep points are interpolated in \
         log N0.\n",
        number(lo),
        number(hi)
    );
    let _ = writeln!(
        s,
        "| claim (paper) | paper | setting | at N0 = {} W | measured range | paper's value met \
         at N0 = | within tolerance for N0 in | outages where met |",
        number(lo)
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for (c, curve, f) in &runs {
        let (within, meets) = c.holds(curve);
        let outages: Vec<String> = meets
            .iter()
            .filter_map(|m| outages_at(curve, m.0))
            .map(|o| format!("{:.1}%", 100.0 * o))
            .collect();
        let range = curve
            .iter()
            .map(|p| p.value)
            .fold(None, |acc: Option<(f64, f64)>, v| {
                Some(acc.map_or((v, v), |(a, b)| (a.min(v), b.max(v))))
            });
        let nowhere = || "nowhere".to_string();
        let at_lo = curve.first().filter(|p| p.x == lo);
        let sys = &f.study.file;
        let _ = writeln!(
            s,
            "| {} | {:.2} | E = {} J, K = {} | {} | {} | {} | {} | {} |",
            c.claim,
            c.paper,
            sys.system.energy_j,
            sys.generator.devices,
            at_lo.map_or("n/a".into(), |p| format!("{:.3}", p.value)),
            range.map_or("n/a".into(), |(a, b)| format!("{a:.3} – {b:.3}")),
            if meets.is_empty() {
                nowhere()
            } else {
                intervals(&meets, "W")
            },
            if within.is_empty() {
                nowhere()
            } else {
                intervals(&within, "W")
            },
            if outages.is_empty() {
                "–".into()
            } else {
                outages.join(", ")
            },
        );
    }
    let _ = writeln!(
        s,
        "\nThe ratio at each noise power (in brackets: the share of rounds that are outages):\n"
    );
    let head: Vec<String> = runs
        .iter()
        .map(|(c, _, f)| format!("{} ({})", c.claim, f.name))
        .collect();
    let _ = writeln!(s, "| N0 (W) | {} |", head.join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(runs.len()));
    for &v in values {
        let cells: Vec<String> = runs
            .iter()
            .map(|(_, curve, _)| match curve.iter().find(|p| p.x == v) {
                Some(p) => format!("{:.3} ({:.1}%)", p.value, 100.0 * p.outages),
                None => "all outages".into(),
            })
            .collect();
        let _ = writeln!(s, "| {} | {} |", number(v), cells.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Latency rows of MBA (1 s) and constant power (`ratio` s) at each sweep value.
    fn rows(study: &Study, ratio: impl Fn(f64) -> f64, outages: impl Fn(f64) -> u64) -> Vec<Row> {
        let f = &study.file;
        let row = |p: usize, scheme: Scheme, mean: f64| Row {
            point: p,
            parameter: f.sweep.parameter.name().into(),
            value: f.sweep.values[p],
            scheme: scheme.name().into(),
            metric: "latency_s".into(),
            group: String::new(),
            mean: Some(mean),
            ci95: None,
            count: 100,
            outages: outages(f.sweep.values[p]),
        };
        (0..f.points())
            .flat_map(|p| {
                let x = f.sweep.values[p];
                [
                    row(p, Scheme::MbaGreedy, 1.0),
                    row(p, Scheme::MbaConstantPower, ratio(x)),
                ]
            })
            .collect()
    }

    fn figure(name: &str, study: Study, rows: Vec<Row>) -> FigureRun {
        FigureRun {
            name: name.into(),
            study,
            rows,
            wall_s: 0.0,
            bnb_note: None,
            bnb_unproven: Vec::new(),
        }
    }

    /// A constant-power ratio of 1 up to 5e-5 W, 1.2 at 1e-4 W and 1.4 above: the paper's 1.20
    /// is met at 1e-4 W exactly, within 5% from 5e-5 * 2^0.7 to 1e-4 * 2^0.3 W (in log N0).
    #[test]
    fn the_summary_says_where_a_power_control_claim_holds() {
        let claims = claims().unwrap();
        let regime = claims[1].regime.as_ref().unwrap();
        let study = regime_study(regime, false).unwrap();
        let ratio = |x: f64| match x {
            x if x <= 5e-5 => 1.0,
            x if x <= 1e-4 => 1.2,
            _ => 1.4,
        };
        let regime_rows = rows(&study, ratio, |x| u64::from(x >= 1e-4));
        let fig7 = figure_study("fig7", FIGURES[1].1, false).unwrap();
        let fig7_rows = rows(&fig7, |_| 1.0, |_| 0);
        let runs = [
            figure("fig7", fig7, fig7_rows),
            figure("regime/e200", study, regime_rows),
        ];
        let s = summary(&claims, &runs, false, 0.0);
        let row = "| constant-power MBA / MBA latency at E = 200 J | 1.20 | E = 200 J, K = 21 | \
                   1.000 | 1.000 – 1.400 | 1.00e-4 W | 8.12e-5 – 1.23e-4 W | 1.0% |";
        assert!(s.contains(row), "{s}");
        let claim = "| constant-power MBA / MBA latency at E = 200 J | 1.20 | 1.000 (at 200) | \
                     differs; met at N0 = 1.00e-4 W (regime study) | ±5% | fig7 |";
        assert!(s.contains(claim), "{s}");
        // The other regime settings did not run: their claims say only what fig7 measured.
        let e320 = "| constant-power MBA / MBA latency at E = 320 J | 1.10 | 1.000 (at 320) | \
                    differs | ±5% | fig7 |";
        assert!(s.contains(e320), "{s}");
        assert!(s.contains("| 1e-4 | 1.200 (1.0%) |"), "{s}");
    }
}
