//! A shard's part file, `DIR/parts/shard-I-of-N.json`: the sufficient statistics of its work
//! units plus everything a merge needs to rebuild the study. Written atomically.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::write_atomic;
use super::run::UnitStats;
use super::shard::Shard;
use super::spec::Study;
use super::stats::Acc;
use crate::error::{FieldError, MbaError, Result, parse_json, read_input};

/// Where the run came from, for the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub backend: String,
    pub threads: usize,
    pub wall_s: f64,
    pub version: String,
    pub git_revision: String,
}

/// One shard's output: the sufficient statistics of its work units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub format: String,
    pub spec_hash: String,
    pub shard: Shard,
    pub study_source: String,
    /// The study file's text, so a merge needs nothing else.
    pub study_text: String,
    /// The effective study (after flag overrides) as TOML, which round-trips every f64 exactly:
    /// what the numbers are of, and what a merge rebuilds the study from.
    pub spec_toml: String,
    /// Trials and realizations after flag overrides.
    pub trials: u64,
    pub realizations: u64,
    pub run: RunInfo,
    pub units: Vec<UnitStats>,
}

/// Version 2: four metrics per scheme (`gap` added); version-1 parts held three.
pub const PART_FORMAT: &str = "mba-study-part/3";

pub fn part_path(dir: &Path, shard: Shard) -> PathBuf {
    dir.join("parts").join(shard.file_name())
}

pub fn save_part(dir: &Path, part: &Part) -> Result<PathBuf> {
    let path = part_path(dir, part.shard);
    let json = serde_json::to_vec(part).expect("part serialises");
    write_atomic(&path, &json)?;
    Ok(path)
}

pub fn load_part(path: &Path) -> Result<Part> {
    let text = read_input(path)?;
    let part: Part = parse_json(path, &text)?;
    if part.format != PART_FORMAT {
        return Err(MbaError::Input {
            file: path.display().to_string(),
            field: "format".into(),
            reason: format!("`{}` is not {PART_FORMAT}", part.format),
        });
    }
    Ok(part)
}

/// Every part file under `DIR/parts/` (or `DIR` itself when it is a part file), sorted by name.
pub fn find_parts(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let parts = dir.join("parts");
    let rd = std::fs::read_dir(&parts).map_err(|e| MbaError::Input {
        file: parts.display().to_string(),
        field: "(folder)".into(),
        reason: format!("cannot read shard parts: {e}"),
    })?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".json"))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// A part's units are exactly the work units its shard owns, each once, each with one
/// accumulator per (scheme, metric) cell holding finite sums and consistent counts.
pub fn check_units(study: &Study, part: &Part) -> Result<(), FieldError> {
    let f = &study.file;
    let owned = (0..study.units()).filter(|&u| part.shard.owns(u)).count();
    if part.units.len() != owned {
        return Err(FieldError::new(
            "units",
            format!(
                "{} work units, but shard {}/{} of this study owns {owned}",
                part.units.len(),
                part.shard.index,
                part.shard.count
            ),
        ));
    }
    let counts = (f.study.trials, f.study.realizations);
    if (part.trials, part.realizations) != counts {
        return Err(FieldError::new(
            "trials",
            format!(
                "{} trials of {} realizations, but the study it holds has {} of {}",
                part.trials, part.realizations, counts.0, counts.1
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, u) in part.units.iter().enumerate() {
        let field = |what: &str| format!("units[{i}].{what}");
        let canonical = u.point as u64 * f.study.trials + u.trial;
        let in_range = (u.point as usize) < f.points() && u.trial < f.study.trials;
        if !in_range || !part.shard.owns(canonical) || !seen.insert(canonical) {
            return Err(FieldError::new(
                field("point"),
                format!(
                    "(point {}, trial {}) is outside the study, not this shard's, or repeated",
                    u.point, u.trial
                ),
            ));
        }
        let cells = super::run::cells_at(study, u.point as usize);
        if u.accs.len() != cells {
            return Err(FieldError::new(
                field("accs"),
                format!("{} accumulators, the study has {cells} cells", u.accs.len()),
            ));
        }
        for (c, a) in u.accs.iter().enumerate() {
            check_acc(a, part.realizations)
                .map_err(|reason| FieldError::new(field(&format!("accs[{c}]")), reason))?;
        }
    }
    Ok(())
}

/// One unit's cell: finite sums, and counts and sums that agree with each other. A unit draws
/// at most one sample per realization, samples that are not outages are the only ones summed,
/// and `sum^2 <= n * sumsq` holds for any `n` real samples (Cauchy-Schwarz).
fn check_acc(a: &Acc, realizations: u64) -> Result<(), String> {
    if !(a.sum.is_finite() && a.sumsq.is_finite() && a.sumsq >= 0.0) {
        return Err(format!(
            "sum {} and sum of squares {} must be finite (and the latter >= 0)",
            a.sum, a.sumsq
        ));
    }
    if a.outages > a.count {
        return Err(format!("{} outages among {} samples", a.outages, a.count));
    }
    if a.count > realizations {
        return Err(format!(
            "{} samples in one work unit of {realizations} realizations",
            a.count
        ));
    }
    let served = (a.count - a.outages) as f64;
    // Square roots, so that huge finite sums cannot overflow the comparison; the slack covers
    // the rounding of a billion summed samples (n eps ~ 1e-7).
    let bound = served.sqrt() * a.sumsq.sqrt() * (1.0 + 1e-6);
    if a.sum.abs() > bound || (served == 0.0 && a.sumsq != 0.0) {
        return Err(format!(
            "sum {} and sum of squares {} cannot come from {served} samples",
            a.sum, a.sumsq
        ));
    }
    Ok(())
}
