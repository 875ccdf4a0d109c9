//! Sharding for cluster schedulers. Shards are 0-based: `--shard I/N` with `0 <= I < N` takes
//! the work units `(point, trial)` whose canonical index `point * trials + trial` is `I` mod `N`
//! (round robin, so costly and cheap points spread over shards). Each shard writes its part file
//! (`part.rs`); `mba merge` combines them.

use serde::{Deserialize, Serialize};

use crate::error::{MbaError, Result};

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
        Shard::named(index, count, "--shard")
    }

    /// A shard whose error names `source`: the flag or the environment variable it came from.
    fn named(index: u64, count: u64, source: &str) -> Result<Shard> {
        if count == 0 || index >= count {
            return Err(MbaError::flag(
                source,
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
            let index = id.checked_sub(min).ok_or_else(|| {
                MbaError::flag(
                    "SLURM_ARRAY_TASK_ID",
                    format!("{id} is below SLURM_ARRAY_TASK_MIN = {min}"),
                )
            })?;
            return Shard::named(index, n, "SLURM_ARRAY_TASK_ID").map(Some);
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
            return Shard::named(idx, n, "JOB_COMPLETION_INDEX").map(Some);
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
