//! Monte Carlo studies (`mba simulate`, `mba merge`, `mba reproduce`): sweeps of one parameter,
//! trials (task draws) and channel realizations per point, schemes compared on the same draws,
//! means with 95% confidence intervals, plots, and sharding for cluster schedulers.
//!
//! Reproducibility (SPEC §4): every draw is keyed by `(seed, point, trial)`; every work unit
//! `(point, trial)` accumulates its own statistics in realization order, and units are combined
//! in `(point, trial)` order. Thread count, shard split and merge order therefore cannot change
//! a single bit of the results.

pub mod output;
pub mod plot;
pub mod reproduce;
pub mod run;
pub mod shard;
pub mod spec;
pub mod stats;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::Backend;
use crate::error::{MbaError, Result};
pub use output::{Manifest, Row};
pub use shard::{Part, RunInfo, Shard};
pub use spec::{BackendChoice, Metric, Scheme, Study, SweepParameter};

/// The one place a backend choice becomes a backend (SPEC §8: auto = a hardware GPU when there
/// is one, the CPU otherwise).
pub fn backend_for(choice: BackendChoice) -> Result<Box<dyn Backend>> {
    crate::backend::backend_from_choice(choice)
}

/// Run `f` on a rayon pool of `threads` threads (the global pool when `None`).
pub fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        None => Ok(f()),
        Some(0) => Err(MbaError::flag("--threads", "must be >= 1")),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(|pool| pool.install(f))
            .map_err(|e| MbaError::flag("--threads", format!("cannot start {n} threads: {e}"))),
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar with ETA on a terminal, periodic lines otherwise (both on stderr).
    Auto,
    /// Periodic plain lines on stderr.
    Lines,
    Quiet,
}

/// Progress over work units.
pub struct Progress {
    label: String,
    total: u64,
    done: AtomicU64,
    bar: Option<ProgressBar>,
    lines: bool,
    start: Instant,
    last: Mutex<Instant>,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn new(mode: ProgressMode, label: &str, total: u64) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && terminal).then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} units, ETA {eta}",
                )
                .expect("valid template"),
            );
            b.set_prefix(label.to_string());
            b
        });
        Progress {
            label: label.into(),
            total,
            done: AtomicU64::new(0),
            lines: bar.is_none() && mode != ProgressMode::Quiet,
            bar,
            start: Instant::now(),
            last: Mutex::new(Instant::now()),
        }
    }

    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.inc(n);
        } else if self.lines {
            let mut last = self.last.lock().expect("progress lock");
            if last.elapsed() >= LINE_EVERY || done == self.total {
                *last = Instant::now();
                let el = self.start.elapsed().as_secs_f64();
                let eta = if done > 0 {
                    el * (self.total - done) as f64 / done as f64
                } else {
                    0.0
                };
                eprintln!(
                    "{}: {done}/{} units, {el:.0} s elapsed, ETA {eta:.0} s",
                    self.label, self.total
                );
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Compute one shard's part of a study on `backend` (no files written).
pub fn run_part(
    study: &Study,
    backend: &dyn Backend,
    shard: Shard,
    progress: ProgressMode,
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
    let bar = Progress::new(progress, &label, mine);
    let units = run::run_units(study, backend, shard, &|n| bar.inc(n));
    bar.finish();
    Ok(Part {
        format: shard::PART_FORMAT.into(),
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

/// Final rows and manifest from a complete set of parts of `study`.
pub fn results(study: &Study, parts: &[Part]) -> Result<(Vec<Row>, Manifest)> {
    let mut units: Vec<_> = parts.iter().flat_map(|p| p.units.iter().cloned()).collect();
    let stats = run::reduce(study, &mut units)?;
    let mut unproven = vec![0; study.file.points()];
    for u in &units {
        unproven[u.point as usize] += u.bnb_unproven;
    }
    let runs: Vec<(Shard, RunInfo)> = parts.iter().map(|p| (p.shard, p.run.clone())).collect();
    Ok((
        output::rows(study, &stats),
        Manifest::new(study, &runs, unproven),
    ))
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

/// Run (this shard of) a study into `out` on `backend`: the part file, and for an unsharded run
/// the final CSV/JSON/plots/manifest. A part already present for the same study is reused.
pub fn simulate_with_backend(
    study: &Study,
    backend: &dyn Backend,
    out: &Path,
    shard: Shard,
    progress: ProgressMode,
) -> Result<SimulateOutcome> {
    let path = shard::part_path(out, shard);
    let existing = if path.exists() {
        let p = shard::load_part(&path)?;
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
    let part = match existing {
        Some(p) => p,
        None => {
            let p = run_part(study, backend, shard, progress)?;
            shard::save_part(out, &p)?;
            p
        }
    };
    let wall_s = part.run.wall_s;
    let (rows, manifest) = if shard.count == 1 {
        let (rows, manifest) = results(study, std::slice::from_ref(&part))?;
        output::write_all(out, study, &rows, &manifest)?;
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

/// `mba simulate`: choose the backend and thread pool, then [`simulate_with_backend`].
pub fn simulate(
    study: &Study,
    out: &Path,
    backend: BackendChoice,
    shard: Shard,
    threads: Option<usize>,
    progress: ProgressMode,
) -> Result<SimulateOutcome> {
    let backend = backend_for(backend)?;
    with_threads(threads, || {
        simulate_with_backend(study, backend.as_ref(), out, shard, progress)
    })?
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
/// (default: the first folder).
pub fn merge(dirs: &[PathBuf], out: Option<&Path>) -> Result<MergeOutcome> {
    let mut paths = Vec::new();
    for d in dirs {
        paths.extend(shard::find_parts(d)?);
    }
    let first_path = paths.first().ok_or_else(|| MbaError::Input {
        file: dirs
            .first()
            .map_or("(none)".into(), |d| d.display().to_string()),
        field: "parts".into(),
        reason: "no shard-*.json part files found".into(),
    })?;
    let first = shard::load_part(first_path)?;
    // Parts by shard count, each shard index once.
    let mut groups: BTreeMap<u64, BTreeMap<u64, Part>> = BTreeMap::new();
    for path in &paths {
        let part = shard::load_part(path)?;
        if part.spec_hash != first.spec_hash {
            return Err(MbaError::Input {
                file: path.display().to_string(),
                field: "spec_hash".into(),
                reason: format!(
                    "belongs to another study ({}) than {} ({})",
                    part.spec_hash,
                    first_path.display(),
                    first.spec_hash
                ),
            });
        }
        groups
            .entry(part.shard.count)
            .or_default()
            .entry(part.shard.index)
            .or_insert(part);
    }
    let complete = groups
        .iter()
        .find(|(n, g)| g.len() as u64 == **n)
        .map(|(n, _)| *n);
    let Some(n) = complete else {
        let (n, g) = groups.iter().next().expect("one part at least");
        let missing: Vec<String> = (0..*n)
            .filter(|i| !g.contains_key(i))
            .map(|i| i.to_string())
            .collect();
        return Err(MbaError::Input {
            file: first_path.display().to_string(),
            field: "parts".into(),
            reason: format!("shards {} of {n} are missing", missing.join(", ")),
        });
    };
    let parts: Vec<Part> = groups.remove(&n).expect("found").into_values().collect();
    let p0 = &parts[0];
    let study = Study {
        text: p0.study_text.clone(),
        ..Study::from_text(&p0.study_source, &p0.spec_toml)?
    };
    if study.hash() != p0.spec_hash {
        return Err(MbaError::Solver(
            "the parts' study text does not reproduce their hash (different mba version?)".into(),
        ));
    }
    let (rows, manifest) = results(&study, &parts)?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_merge_dir(&dirs[0]));
    output::write_all(&out, &study, &rows, &manifest)?;
    Ok(MergeOutcome {
        out,
        shards: n,
        rows,
    })
}
