//! The output folder's data files: `results.csv` (tidy), `results.json`, `manifest.json`
//! (the plots are `plot.rs`).

use std::path::Path;

use serde::Serialize;

use super::files::write_atomic;
use super::part::RunInfo;
use super::run::{METRICS, group_names};
use super::shard::Shard;
use super::spec::{Metric, Scheme, Study, StudyFile};
use super::stats::Cell;
use crate::error::{MbaError, Result};

/// One tidy row: a `(point, scheme, metric)` cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub point: usize,
    pub parameter: String,
    pub value: f64,
    pub scheme: String,
    pub metric: String,
    /// The device group (a task's name) of a grouped metric (`score`, `score_ratio`); empty
    /// for a metric over all devices.
    pub group: String,
    /// Mean over non-outage samples; `null` when every sample is an outage.
    pub mean: Option<f64>,
    /// 95% CI half-width of `mean`: Student t over the trial means (two or more trials), else
    /// over the samples.
    pub ci95: Option<f64>,
    /// Samples, outages included.
    pub count: u64,
    pub outages: u64,
}

/// The device groups with rows of `metric`, sorted, each once.
pub fn groups_of<'r>(rows: &'r [Row], metric: &str) -> Vec<&'r str> {
    let mut groups: Vec<&str> = rows
        .iter()
        .filter(|r| r.metric == metric && !r.group.is_empty())
        .map(|r| r.group.as_str())
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// Reduced statistics as rows, in `(point, scheme, metric)` order, then the grouped metrics in
/// `(point, scheme, group, metric)` order (only groups with samples).
pub fn rows(study: &Study, stats: &[Vec<Cell>]) -> Vec<Row> {
    let f = &study.file;
    let schemes = &f.study.schemes;
    let mut out = Vec::new();
    for (p, cells) in stats.iter().enumerate() {
        let row = |scheme: &Scheme, metric: &Metric, group: &str, cell: &Cell| {
            let sum = cell.summary();
            Row {
                point: p,
                parameter: f.sweep.parameter.name().into(),
                value: f.sweep.values[p],
                scheme: scheme.name().into(),
                metric: metric.name().into(),
                group: group.into(),
                mean: sum.mean,
                ci95: sum.ci95,
                count: sum.count,
                outages: sum.outages,
            }
        };
        for (s, scheme) in schemes.iter().enumerate() {
            for (m, metric) in Metric::ALL.iter().enumerate() {
                if scheme.records(*metric) {
                    out.push(row(scheme, metric, "", &cells[s * METRICS + m]));
                }
            }
        }
        let names = group_names(study, p);
        let per = Metric::GROUPED.len();
        for (s, scheme) in schemes.iter().enumerate() {
            for (g, name) in names.iter().enumerate() {
                let at = schemes.len() * METRICS + (s * names.len() + g) * per;
                let group = &cells[at..at + per];
                if group[0].summary().count == 0 {
                    continue;
                }
                for (metric, cell) in Metric::GROUPED.iter().zip(group) {
                    out.push(row(scheme, metric, name, cell));
                }
            }
        }
    }
    out
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:e}")).unwrap_or_default()
}

/// CSV text; an empty `mean`/`ci95` means "no sample" (all outages, or fewer than 2).
pub fn csv_text(rows: &[Row]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "point",
        "parameter",
        "value",
        "scheme",
        "metric",
        "mean",
        "ci95",
        "count",
        "outages",
        "group",
    ])
    .expect("in memory");
    for r in rows {
        w.write_record([
            r.point.to_string(),
            r.parameter.clone(),
            r.value.to_string(),
            r.scheme.clone(),
            r.metric.clone(),
            opt(r.mean),
            opt(r.ci95),
            r.count.to_string(),
            r.outages.to_string(),
            r.group.clone(),
        ])
        .expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("utf-8")
}

/// `manifest.json`: where the numbers came from.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub study_name: String,
    pub study_path: String,
    /// The study file as read.
    pub study_text: String,
    /// The effective study the numbers are of (after flag overrides, `--quick`, dropped schemes).
    pub spec: StudyFile,
    pub spec_hash: String,
    pub seed: u64,
    pub trials: u64,
    pub realizations: u64,
    pub version: String,
    pub git_revision: String,
    pub backend: String,
    pub threads: usize,
    /// Wall time of the computation, s (summed over shards for a merge).
    pub wall_s: f64,
    /// The shards the results combine (`[{index 0, count 1}]` for an unsharded run).
    pub shards: Vec<Shard>,
    /// Per sweep point: trials whose optimal selection (`mba_bnb`) stopped at a time or node
    /// limit without a proof of optimality (its best selection is used).
    pub bnb_unproven: Vec<u64>,
    /// Per sweep point: of those, the solves stopped by the wall-clock safety net
    /// (`exact.time_limit_s`) rather than by their work budget.
    pub bnb_time_stopped: Vec<u64>,
    /// Whether every number is a function of the study alone: false when any solve was stopped
    /// by the safety net (then another machine or load may give other numbers).
    pub reproducible: bool,
}

impl Manifest {
    pub fn new(study: &Study, runs: &[(Shard, RunInfo)], bnb_unproven: Vec<u64>) -> Manifest {
        let f = &study.file;
        let mut backends: Vec<String> = runs.iter().map(|(_, r)| r.backend.clone()).collect();
        backends.dedup();
        let first = &runs[0].1;
        Manifest {
            study_name: f.study.name.clone(),
            study_path: study.source.clone(),
            study_text: study.text.clone(),
            spec: f.clone(),
            spec_hash: study.hash(),
            seed: f.study.seed,
            trials: f.study.trials,
            realizations: f.study.realizations,
            version: first.version.clone(),
            git_revision: first.git_revision.clone(),
            backend: backends.join("; "),
            threads: runs.iter().map(|(_, r)| r.threads).max().unwrap_or(1),
            wall_s: runs.iter().map(|(_, r)| r.wall_s).sum(),
            shards: runs.iter().map(|(s, _)| *s).collect(),
            bnb_time_stopped: vec![0; bnb_unproven.len()],
            bnb_unproven,
            reproducible: true,
        }
    }
}

/// The git revision this binary was built from (recorded by `build.rs`; "unknown" outside a
/// git checkout, "-dirty" when tracked files differed from it).
pub fn git_revision() -> String {
    env!("MBA_GIT_REVISION").to_string()
}

/// Write the data files (`results.csv`, `results.json`, `manifest.json`) into `dir`.
pub fn write_all(dir: &Path, study: &Study, rows: &[Row], manifest: &Manifest) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| MbaError::io(dir, e))?;
    write_atomic(&dir.join("results.csv"), csv_text(rows).as_bytes())?;
    let json = serde_json::json!({
        "study": study.file.study.name,
        "parameter": study.file.sweep.parameter.name(),
        "rows": rows,
    });
    write_atomic(
        &dir.join("results.json"),
        serde_json::to_string_pretty(&json)
            .expect("serialises")
            .as_bytes(),
    )?;
    write_atomic(
        &dir.join("manifest.json"),
        serde_json::to_string_pretty(manifest)
            .expect("serialises")
            .as_bytes(),
    )?;
    Ok(())
}
