//! Monte Carlo studies (`mba simulate`, `mba merge`, `mba reproduce`): sweeps of one parameter,
//! trials (task draws) and channel realizations per point, schemes compared on the same draws,
//! means with 95% confidence intervals, plots, and sharding for cluster schedulers.
//!
//! Reproducibility (docs/algorithms/monte-carlo.md): every draw is keyed by `(seed, point, trial)`; every work unit
//! `(point, trial)` accumulates its own statistics in realization order, and units are combined
//! in `(point, trial)` order. Thread count, shard split and merge order therefore cannot change
//! a single bit of the results.

pub mod claims;
mod files;
pub mod output;
pub mod part;
pub mod plot;
pub mod progress;
pub mod reproduce;
pub mod run;
pub mod shard;
pub mod spec;
pub mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::Backend;
use crate::error::{MbaError, Result};
pub use output::{Manifest, Row};
pub use part::{Part, RunInfo};
pub use progress::{Progress, Silent};
pub use shard::Shard;
pub use spec::{BackendChoice, Metric, Scheme, Study, SweepParameter};

/// Compute one shard's part of a study on `backend` (no files written).
pub fn run_part(
    study: &Study,
    backend: &dyn Backend,
    shard: Shard,
    progress: &dyn Progress,
) -> Result<Part> {
    let start = Instant::now();
    let mine = (0..study.units()).filter(|&u| shard.owns(u)).count() as u64;
    let label = if shard.count == 1 {
        study.file.study.name.clone()
    } else {
        format!(
            "{} shard {}/{}",
            study.file.study.name, shard.index, shard.count
        )
    };
    progress.start(&label, mine);
    let units = run::run_units(study, backend, shard, &|n| progress.advance(n));
    progress.finish();
    Ok(Part {
        format: part::PART_FORMAT.into(),
        spec_hash: study.hash(),
        shard,
        study_source: study.source.clone(),
        study_text: study.text.clone(),
        spec_toml: study.spec_toml(),
        trials: study.file.study.trials,
        realizations: study.file.study.realizations,
        run: RunInfo {
            backend: backend.name(),
            threads: rayon::current_num_threads(),
            wall_s: start.elapsed().as_secs_f64(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_revision: output::git_revision(),
        },
        units: units?,
    })
}

/// Final rows and manifest from a complete set of parts of `study` (each already checked by
/// [`part::check_units`]).
pub fn results(study: &Study, parts: &[Part]) -> Result<(Vec<Row>, Manifest)> {
    let mut units: Vec<_> = parts.iter().flat_map(|p| p.units.iter().cloned()).collect();
    let stats = run::reduce(study, &mut units).map_err(|e| e.in_file("(shard parts)"))?;
    let mut unproven = vec![0; study.file.points()];
    let mut timed_out = vec![0; study.file.points()];
    for u in &units {
        unproven[u.point as usize] += u.bnb_unproven;
        timed_out[u.point as usize] += u.bnb_timed_out;
    }
    let runs: Vec<(Shard, RunInfo)> = parts.iter().map(|p| (p.shard, p.run.clone())).collect();
    let mut manifest = Manifest::new(study, &runs, unproven);
    manifest.reproducible = timed_out.iter().all(|&n| n == 0);
    manifest.bnb_time_stopped = timed_out;
    let rows = output::rows(study, &stats);
    finite_rows(&rows)?;
    Ok((rows, manifest))
}

/// Parts whose sums are each finite can still overflow when combined: such numbers are the
/// parts' fault (no study computes them), so the merge stops before writing them.
fn finite_rows(rows: &[Row]) -> Result<()> {
    let bad = rows.iter().find(|r| {
        let finite = |x: Option<f64>| x.is_none_or(f64::is_finite);
        !(finite(r.mean) && finite(r.ci95))
    });
    match bad {
        None => Ok(()),
        Some(r) => Err(MbaError::Input {
            file: "(shard parts)".into(),
            field: "units".into(),
            reason: format!(
                "the {} {} sums at point {} overflow when the units are combined",
                r.scheme, r.metric, r.point
            ),
        }),
    }
}

/// What `simulate` did.
#[derive(Debug)]
pub struct SimulateOutcome {
    pub part_path: PathBuf,
    /// The part was already there (same study) and was not recomputed.
    pub skipped: bool,
    /// Final rows, for an unsharded run (sharded runs need `mba merge`).
    pub rows: Option<Vec<Row>>,
    pub manifest: Option<Manifest>,
    pub wall_s: f64,
}

/// Every output file: the data files and one plot per metric.
pub fn write_results(dir: &Path, study: &Study, rows: &[Row], manifest: &Manifest) -> Result<()> {
    output::write_all(dir, study, rows, manifest)?;
    // A metric no compared scheme records (scores without a latency scheme) gets no plot.
    let recorded = |m: Metric| rows.iter().any(|r| r.metric == m.name() && r.count > 0);
    for metric in Metric::ALL.into_iter().filter(|&m| recorded(m)) {
        plot::plot_metric(dir, study, rows, metric)?;
    }
    Ok(())
}

/// Run (this shard of) a study into `out` on `backend`: the part file, and for an unsharded run
/// the final CSV/JSON/plots/manifest. A part already present for the same study is reused.
pub fn simulate(
    study: &Study,
    backend: &dyn Backend,
    out: &Path,
    shard: Shard,
    progress: &dyn Progress,
) -> Result<SimulateOutcome> {
    let path = part::part_path(out, shard);
    let existing = if path.exists() {
        let p = part::load_part(&path)?;
        if p.spec_hash != study.hash() {
            return Err(MbaError::flag(
                "-o",
                format!(
                    "{} holds a part of another study (hash {} vs {}): use another folder",
                    path.display(),
                    p.spec_hash,
                    study.hash()
                ),
            ));
        }
        Some(p)
    } else {
        None
    };
    let skipped = existing.is_some();
    let done = match existing {
        Some(p) => {
            part::check_units(study, &p).map_err(|e| e.in_file(&path))?;
            p
        }
        None => {
            let p = run_part(study, backend, shard, progress)?;
            part::save_part(out, &p)?;
            p
        }
    };
    let wall_s = done.run.wall_s;
    let (rows, manifest) = if shard.count == 1 {
        let (rows, manifest) = results(study, std::slice::from_ref(&done))?;
        write_results(out, study, &rows, &manifest)?;
        (Some(rows), Some(manifest))
    } else {
        (None, None)
    };
    Ok(SimulateOutcome {
        part_path: path,
        skipped,
        rows,
        manifest,
        wall_s,
    })
}

/// A folder given to merge, or for a part file `DIR/parts/shard-*.json`, its `DIR`.
fn default_merge_dir(first: &Path) -> PathBuf {
    if first.is_file() {
        first
            .parent()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    } else {
        first.to_path_buf()
    }
}

/// What `merge` did.
#[derive(Debug)]
pub struct MergeOutcome {
    pub out: PathBuf,
    pub shards: u64,
    pub rows: Vec<Row>,
}

/// `mba merge DIR...`: combine a complete set of shard parts of one study into `out`
/// (default: the first folder). Every part is checked; a bad one is named.
pub fn merge(dirs: &[PathBuf], out: Option<&Path>) -> Result<MergeOutcome> {
    let mut paths = Vec::new();
    for d in dirs {
        paths.extend(part::find_parts(d)?);
    }
    let Some(first_path) = paths.first() else {
        return Err(MbaError::Input {
            file: dirs
                .first()
                .map_or("(none)".into(), |d| d.display().to_string()),
            field: "parts".into(),
            reason: "no shard-*.json part files found".into(),
        });
    };
    let (count, parts) = complete_set(&paths)?;
    let study = study_of(&parts[0].0, &parts[0].1)?;
    for (path, p) in &parts {
        if p.spec_toml != parts[0].1.spec_toml {
            study_of(path, p)?;
            return Err(MbaError::Input {
                file: path.display().to_string(),
                field: "spec_toml".into(),
                reason: format!("differs from {}'s", parts[0].0.display()),
            });
        }
        part::check_units(&study, p).map_err(|e| e.in_file(path))?;
    }
    let parts: Vec<Part> = parts.into_iter().map(|(_, p)| p).collect();
    let (rows, manifest) = results(&study, &parts)?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_merge_dir(first_path));
    write_results(&out, &study, &rows, &manifest)?;
    Ok(MergeOutcome {
        out,
        shards: count,
        rows,
    })
}

/// The study a part holds, checked against its `spec_hash`.
fn study_of(path: &Path, p: &Part) -> Result<Study> {
    let study = Study {
        text: p.study_text.clone(),
        ..Study::from_text(&p.study_source, &p.spec_toml)?
    };
    if study.hash() != p.spec_hash {
        return Err(MbaError::Input {
            file: path.display().to_string(),
            field: "spec_toml".into(),
            reason: format!(
                "the study it holds hashes to {}, not its spec_hash {} (edited, or written by \
                 another mba version)",
                study.hash(),
                p.spec_hash
            ),
        });
    }
    Ok(study)
}

/// Load every part, check they belong to one study, and return a shard count whose parts are
/// all there (each shard index once), with those parts in index order.
fn complete_set(paths: &[PathBuf]) -> Result<(u64, Vec<(PathBuf, Part)>)> {
    let first_path = &paths[0];
    let mut first_hash: Option<String> = None;
    let mut groups: BTreeMap<u64, BTreeMap<u64, (PathBuf, Part)>> = BTreeMap::new();
    for path in paths {
        let p = part::load_part(path)?;
        let first_hash = first_hash.get_or_insert_with(|| p.spec_hash.clone());
        if p.spec_hash != *first_hash {
            return Err(MbaError::Input {
                file: path.display().to_string(),
                field: "spec_hash".into(),
                reason: format!(
                    "belongs to another study ({}) than {} ({first_hash})",
                    p.spec_hash,
                    first_path.display(),
                ),
            });
        }
        groups
            .entry(p.shard.count)
            .or_default()
            .entry(p.shard.index)
            .or_insert((path.clone(), p));
    }
    if let Some(n) = groups
        .iter()
        .find(|(n, g)| g.len() as u64 == **n)
        .map(|(n, _)| *n)
    {
        let set = groups
            .remove(&n)
            .unwrap_or_default()
            .into_values()
            .collect();
        return Ok((n, set));
    }
    let (n, g) = groups
        .iter()
        .next()
        .map_or((0, None), |(n, g)| (*n, Some(g)));
    let missing: Vec<String> = (0..n)
        .filter(|i| !g.is_some_and(|g| g.contains_key(i)))
        .map(|i| i.to_string())
        .collect();
    Err(MbaError::Input {
        file: first_path.display().to_string(),
        field: "parts".into(),
        reason: format!("shards {} of {n} are missing", missing.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_rows_that_overflow_are_bad_input() {
        let row = |mean: f64| Row {
            point: 1,
            parameter: "energy_j".into(),
            value: 200.0,
            scheme: "unicast".into(),
            metric: "latency_s".into(),
            group: String::new(),
            mean: Some(mean),
            ci95: None,
            count: 2,
            outages: 0,
        };
        assert!(finite_rows(&[row(1.0), row(1e308)]).is_ok());
        let e = finite_rows(&[row(1.0), row(f64::INFINITY)]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains("unicast latency_s sums at point 1 overflow"),
            "{e}"
        );
    }
}
