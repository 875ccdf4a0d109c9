//! The AI library (docs/formats.md): models, blocks, reusability scores and shared physical blocks,
//! plus device requests (instances) and the synthetic generator.

pub mod generate;
pub mod instance;

pub use instance::{Device, Instance, InstanceFile};

use crate::error::{FieldError, number};

/// Most models `M`, blocks `N` or devices `K` an instance, a generator or a study may have.
pub const MAX_COUNT: usize = 1_000_000;

/// Largest score table `M^2 N` (2 GB of f64): checked before anything that size is allocated.
pub const MAX_SCORES: f64 = 2.5e8;

/// Largest `K N`: every device's assignment and unicast's blocks are that long.
pub const MAX_ASSIGNMENTS: f64 = 2.5e8;

/// Largest score: a sum over `N <= 1e6` positions then stays finite (1e306 at most).
pub const MAX_SCORE: f64 = 1e300;

/// Which size is zero or too large, and why: `None` when `M`, `N` and `K` fit the limits. In f64 so
/// that no product overflows, whatever the counts.
pub fn size_error(models: usize, blocks: usize, devices: usize) -> Option<(&'static str, String)> {
    let max = MAX_COUNT;
    for (what, v) in [("models", models), ("blocks", blocks), ("devices", devices)] {
        if v == 0 || v > max {
            return Some((
                what,
                format!("{v} is out of range: need 1 <= {what} <= {max}"),
            ));
        }
    }
    let (m, n, k) = (models as f64, blocks as f64, devices as f64);
    if m * m * n > MAX_SCORES {
        let reason = format!(
            "a library of M = {models} models and N = {blocks} blocks holds M^2 N = {} scores, \
             more than the {} allowed",
            number(m * m * n),
            number(MAX_SCORES)
        );
        // Blame the factor that dominates, so the flag or key to change is named.
        return Some((if m * m >= n { "models" } else { "blocks" }, reason));
    }
    if k * n > MAX_ASSIGNMENTS {
        let reason = format!(
            "K = {devices} devices of N = {blocks} blocks make K N = {} assignments, more than \
             the {} allowed",
            number(k * n),
            number(MAX_ASSIGNMENTS)
        );
        return Some((if k >= n { "devices" } else { "blocks" }, reason));
    }
    None
}

/// `M` models of `N` blocks, with `I[t][i][n]` and the physical-block map.
#[derive(Debug, Clone, PartialEq)]
pub struct Library {
    models: usize,
    blocks: usize,
    tasks: Vec<String>,
    /// `scores[(t * M + i) * N + n]` is `I[t][i][n]`.
    scores: Vec<f64>,
    /// `canon[i * N + n]`: the lowest model index holding the same physical block at `n`.
    canon: Vec<u32>,
}

impl Library {
    /// Build and validate a library. `scores[t][i][n]`; `block_ids` is `M x N` when given.
    pub fn new(
        tasks: Option<Vec<String>>,
        scores: Vec<Vec<Vec<f64>>>,
        block_ids: Option<Vec<Vec<i64>>>,
    ) -> Result<Self, FieldError> {
        let models = scores.len();
        if models == 0 {
            return Err(FieldError::new(
                "library.scores",
                "needs at least one task (M >= 1)",
            ));
        }
        if let Some(t) = &tasks
            && t.len() != models
        {
            return Err(FieldError::new(
                "library.tasks",
                format!("{} task names but scores has {} tasks", t.len(), models),
            ));
        }
        let blocks = scores[0].first().map_or(0, |r| r.len());
        if blocks == 0 {
            return Err(FieldError::new(
                "library.scores[0][0]",
                "needs at least one block (N >= 1)",
            ));
        }
        if let Some((what, reason)) = size_error(models, blocks, 1) {
            let field = if what == "blocks" {
                "library.scores[0][0]"
            } else {
                "library.scores"
            };
            return Err(FieldError::new(field, reason));
        }
        let mut flat = Vec::with_capacity(models * models * blocks);
        for (t, per_task) in scores.iter().enumerate() {
            if per_task.len() != models {
                return Err(FieldError::new(
                    format!("library.scores[{t}]"),
                    format!("has {} models, expected M = {models}", per_task.len()),
                ));
            }
            for (i, row) in per_task.iter().enumerate() {
                if row.len() != blocks {
                    return Err(FieldError::new(
                        format!("library.scores[{t}][{i}]"),
                        format!("has {} blocks, expected N = {blocks}", row.len()),
                    ));
                }
                for (n, &s) in row.iter().enumerate() {
                    if !(0.0..=MAX_SCORE).contains(&s) {
                        return Err(FieldError::new(
                            format!("library.scores[{t}][{i}][{n}]"),
                            format!(
                                "score {} is out of range: need 0 <= score <= {}",
                                number(s),
                                number(MAX_SCORE)
                            ),
                        ));
                    }
                    flat.push(s);
                }
            }
        }
        let tasks = tasks.unwrap_or_else(|| (0..models).map(|t| format!("task{t}")).collect());
        let mut lib = Library {
            models,
            blocks,
            tasks,
            scores: flat,
            canon: Vec::new(),
        };
        lib.canon = lib.canonical_map(block_ids.as_deref())?;
        Ok(lib)
    }

    fn canonical_map(&self, block_ids: Option<&[Vec<i64>]>) -> Result<Vec<u32>, FieldError> {
        let (m, nb) = (self.models, self.blocks);
        let mut canon: Vec<u32> = (0..m * nb).map(|x| (x / nb) as u32).collect();
        let Some(ids) = block_ids else {
            return Ok(canon);
        };
        if ids.len() != m {
            return Err(FieldError::new(
                "library.block_ids",
                format!("has {} rows, expected M = {m}", ids.len()),
            ));
        }
        for (i, row) in ids.iter().enumerate() {
            if row.len() != nb {
                return Err(FieldError::new(
                    format!("library.block_ids[{i}]"),
                    format!("has {} entries, expected N = {nb}", row.len()),
                ));
            }
        }
        for n in 0..nb {
            for i in 0..m {
                let Some(j) = (0..i).find(|&j| ids[j][n] == ids[i][n]) else {
                    continue;
                };
                canon[i * nb + n] = j as u32;
                if let Some(t) = (0..m).find(|&t| self.score(t, i, n) != self.score(t, j, n)) {
                    return Err(FieldError::new(
                        format!("library.block_ids[{i}][{n}]"),
                        format!(
                            "models {j} and {i} share block id {} at position {n} but their scores \
                             for task {t} differ ({} vs {})",
                            ids[i][n],
                            self.score(t, j, n),
                            self.score(t, i, n)
                        ),
                    ));
                }
            }
        }
        Ok(canon)
    }

    /// `M`: models (= tasks).
    pub fn models(&self) -> usize {
        self.models
    }
    /// `N`: blocks per model.
    pub fn blocks(&self) -> usize {
        self.blocks
    }
    pub fn task_name(&self, t: usize) -> &str {
        &self.tasks[t]
    }
    pub fn task_names(&self) -> &[String] {
        &self.tasks
    }

    /// `I[t][i][n]`.
    #[inline]
    pub fn score(&self, t: usize, i: usize, n: usize) -> f64 {
        self.scores[(t * self.models + i) * self.blocks + n]
    }

    /// Scores of every model at every position for task `t`, laid out `[i * N + n]`.
    #[inline]
    pub fn task_scores(&self, t: usize) -> &[f64] {
        let len = self.models * self.blocks;
        &self.scores[t * len..(t + 1) * len]
    }

    /// The lowest model index holding the same physical block as `(i, n)`.
    #[inline]
    pub fn canonical(&self, i: usize, n: usize) -> usize {
        self.canon[i * self.blocks + n] as usize
    }

    /// A dense id of the physical block holding `(i, n)`, in `0..M*N`.
    #[inline]
    pub fn physical(&self, i: usize, n: usize) -> usize {
        self.canonical(i, n) * self.blocks + n
    }

    /// Whether any two models share a physical block.
    pub fn has_shared_blocks(&self) -> bool {
        self.canon
            .iter()
            .enumerate()
            .any(|(x, &c)| c as usize != x / self.blocks)
    }

    /// The physical-block map in its raw form, `[i * N + n]`.
    pub fn canonical_map_raw(&self) -> &[u32] {
        &self.canon
    }

    /// Best score reachable for task `t` with the whole library: `sum_n max_i I[t][i][n]`.
    pub fn best_reachable(&self, t: usize) -> f64 {
        (0..self.blocks)
            .map(|n| {
                (0..self.models)
                    .map(|i| self.score(t, i, n))
                    .fold(0.0, f64::max)
            })
            .sum()
    }

    /// Score of the task-specific model of `t` for task `t`.
    pub fn own_score(&self, t: usize) -> f64 {
        (0..self.blocks).map(|n| self.score(t, t, n)).sum()
    }

    /// `block_ids` to write back out: `None` when every block is its own.
    pub fn block_ids(&self) -> Option<Vec<Vec<i64>>> {
        self.has_shared_blocks().then(|| {
            (0..self.models)
                .map(|i| {
                    (0..self.blocks)
                        .map(|n| self.canonical(i, n) as i64)
                        .collect()
                })
                .collect()
        })
    }

    /// Scores back in nested form `[t][i][n]`.
    pub fn nested_scores(&self) -> Vec<Vec<Vec<f64>>> {
        (0..self.models)
            .map(|t| {
                (0..self.models)
                    .map(|i| (0..self.blocks).map(|n| self.score(t, i, n)).collect())
                    .collect()
            })
            .collect()
    }
}
