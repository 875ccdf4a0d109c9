//! Sharding for cluster schedulers. Shards are 0-based: `--shard I/N` with `0 <= I < N` takes
//! the work units `(point, trial)` whose canonical index `point * trials + trial` is `I` mod `N`
//! (round robin, so costly and cheap points spread over shards). Each shard writes
//! `DIR/parts/shard-I-of-N.json` atomically; `mba merge` combines them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::run::UnitStats;
use crate::error::{MbaError, Result, parse_json, read_input};

/// Which slice of the work units this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u64, count: u64) -> Result<Shard> {
        if count == 0 || index >= count {
            return Err(MbaError::flag(
                "--shard",
                format!("{index}/{count}: need 0 <= I < N (shards are 0-based)"),
            ));
        }
        Ok(Shard { index, count })
    }

    /// `I/N`, 0-based.
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || MbaError::flag("--shard", format!("`{s}` is not I/N (e.g. 0/4)"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }

    /// The shard a scheduler assigned through the environment, if any:
    /// Slurm job arrays (`SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`)
    /// or a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX` of `count`, from `--shard-count` or
    /// `MBA_SHARD_COUNT`).
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        count: Option<u64>,
    ) -> Result<Option<Shard>> {
        let num = |name: &str| -> Result<Option<u64>> {
            match get(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    MbaError::flag(name, format!("environment value `{v}` is not a number"))
                }),
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let n = match count {
                Some(n) => n,
                None => num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
                    MbaError::flag("SLURM_ARRAY_TASK_COUNT", "unset; pass --shard-count N")
                })?,
            };
            return Shard::new(id.checked_sub(min).unwrap_or(u64::MAX), n).map(Some);
        }
        if let Some(idx) = num("JOB_COMPLETION_INDEX")? {
            let n = match count {
                Some(n) => n,
                None => num("MBA_SHARD_COUNT")?.ok_or_else(|| {
                    MbaError::flag(
                        "MBA_SHARD_COUNT",
                        "JOB_COMPLETION_INDEX is set but the shard count is not: set \
                         MBA_SHARD_COUNT or pass --shard-count N",
                    )
                })?,
            };
            return Shard::new(idx, n).map(Some);
        }
        Ok(None)
    }

    /// Whether canonical unit `u` belongs to this shard.
    pub fn owns(&self, u: u64) -> bool {
        u % self.count == self.index
    }

    pub fn file_name(&self) -> String {
        format!("shard-{}-of-{}.json", self.index, self.count)
    }
}

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

pub const PART_FORMAT: &str = "mba-study-part/1";

pub fn part_path(dir: &Path, shard: Shard) -> PathBuf {
    dir.join("parts").join(shard.file_name())
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// crashed or killed shard never leaves a half-written file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| MbaError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| MbaError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| MbaError::io(path, e))
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
