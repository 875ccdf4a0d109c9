//! A generator of muNet-like libraries (docs/generator.md).
//!
//! Model. Tasks fall into `clusters` of related tasks (contiguous task indices). Two tasks are
//! `intra_similarity` alike in a cluster and `inter_similarity` alike across clusters, each pair
//! jittered by `similarity_jitter`. Task `t`'s own model scores `base_t[n]` at position `n`, drawn
//! as `(1 + score_spread * U(-1,1))` and normalised so the own model scores exactly 1. Another
//! model's block at depth `d = n / (N - 1)` keeps a fraction `sim^(1 + depth_decay * d)` of that,
//! times `(1 + block_noise * U(-1,1))`, capped below 1: early blocks transfer broadly, deep blocks
//! are task-specific, and each task's own block is best at each position.
//!
//! Shared physical blocks (`sharing > 0`): each cluster's first task is its root; another task of
//! the cluster holds the root's physical block at position `n` with probability
//! `min(1, 2 * sharing * (1 - d))`, so about `sharing` of its blocks overlap the root's, mostly
//! early ones. A physical block scores the same in every model holding it: `base_t[n]` for a task
//! that holds it, the transfer formula from its owner for the others.

use rand::Rng;
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};

use super::{Device, Instance, Library};
use crate::channel::{Purpose, rayleigh_gains, stream_rng, uniform};
use crate::error::FieldError;

/// How devices draw their tasks.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Popularity {
    /// Distinct tasks, as in the paper (needs `devices <= models`).
    #[default]
    Distinct,
    /// Uniform over tasks, with repeats.
    Uniform,
    /// Zipf over tasks with exponent `zipf_exponent`.
    Zipf,
}

/// Every generator parameter; each has a flag and a config key.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorParams {
    /// `M`: models (= tasks) in the library.
    pub models: usize,
    /// `N`: blocks per model.
    pub blocks: usize,
    /// `K`: devices.
    pub devices: usize,
    /// Clusters of related tasks (at most `M`; larger values are clamped).
    pub clusters: usize,
    /// Similarity of two tasks in one cluster, in [0, 1].
    pub intra_similarity: f64,
    /// Similarity of two tasks in different clusters, in [0, 1].
    pub inter_similarity: f64,
    /// Uniform jitter added to each pair's similarity.
    pub similarity_jitter: f64,
    /// How much faster deep blocks lose transfer: exponent `1 + depth_decay * depth`.
    pub depth_decay: f64,
    /// Relative spread of the own model's per-position scores, in [0, 1).
    pub score_spread: f64,
    /// Relative per-block noise on transferred scores, in [0, 1).
    pub block_noise: f64,
    /// Share of a task's blocks that are physically its cluster root's, in [0, 1].
    pub sharing: f64,
    /// QoS as a fraction of the task-specific model's score.
    pub qos_ratio: f64,
    /// How devices draw tasks.
    pub popularity: Popularity,
    /// Zipf exponent for `--popularity zipf`.
    pub zipf_exponent: f64,
    /// Write Rayleigh gains with this path loss into the instance (omit: gains drawn at solve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gain_path_loss: Option<f64>,
}

impl Default for GeneratorParams {
    fn default() -> Self {
        GeneratorParams {
            models: 21,
            blocks: 24,
            devices: 21,
            clusters: 4,
            intra_similarity: 0.85,
            inter_similarity: 0.5,
            similarity_jitter: 0.05,
            depth_decay: 3.0,
            score_spread: 0.5,
            block_noise: 0.1,
            sharing: 0.0,
            qos_ratio: 0.9,
            popularity: Popularity::Distinct,
            zipf_exponent: 1.0,
            gain_path_loss: None,
        }
    }
}

impl GeneratorParams {
    /// Check every parameter once; errors name the key (with `prefix`).
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        let err = |f: &str, r: String| Err(FieldError::new(format!("{prefix}{f}"), r));
        // Before anything is allocated: the sizes alone decide whether the library fits.
        if let Some((f, reason)) = super::size_error(self.models, self.blocks, self.devices) {
            return err(f, reason);
        }
        if self.clusters == 0 {
            return err("clusters", "must be >= 1".into());
        }
        let unit = [
            ("intra_similarity", self.intra_similarity),
            ("inter_similarity", self.inter_similarity),
            ("similarity_jitter", self.similarity_jitter),
            ("sharing", self.sharing),
            ("score_spread", self.score_spread),
            ("block_noise", self.block_noise),
        ];
        for (f, v) in unit {
            if !(0.0..=1.0).contains(&v) {
                return err(f, format!("{v} must be in [0, 1]"));
            }
        }
        if !(self.depth_decay.is_finite() && self.depth_decay >= 0.0) {
            return err(
                "depth_decay",
                format!("{} must be finite and >= 0", self.depth_decay),
            );
        }
        if !(self.qos_ratio.is_finite() && (0.0..=1.0).contains(&self.qos_ratio)) {
            return err("qos_ratio", format!("{} must be in [0, 1]", self.qos_ratio));
        }
        if self.popularity == Popularity::Distinct && self.devices > self.models {
            return err(
                "devices",
                format!(
                    "{} distinct tasks requested but the library has {} models",
                    self.devices, self.models
                ),
            );
        }
        if !(self.zipf_exponent.is_finite() && self.zipf_exponent >= 0.0) {
            return err(
                "zipf_exponent",
                format!("{} must be finite and >= 0", self.zipf_exponent),
            );
        }
        if let Some(p) = self.gain_path_loss
            && !(p.is_finite() && p > 0.0)
        {
            return err("gain_path_loss", format!("{p} must be finite and > 0"));
        }
        Ok(())
    }

    /// Clusters beyond `M` are clamped: every task then forms its own cluster.
    fn cluster_of(&self, t: usize) -> usize {
        t * self.clusters.min(self.models) / self.models
    }

    /// The task names a generated library has: `taskNN-cC` (task number, cluster).
    pub fn task_names(&self) -> Vec<String> {
        (0..self.models)
            .map(|t| format!("task{t:02}-c{}", self.cluster_of(t)))
            .collect()
    }
}

/// A muNet-like library from `seed`.
pub fn generate_library(p: &GeneratorParams, seed: u64) -> Library {
    let (m, nb) = (p.models, p.blocks);
    let mut rng = stream_rng(seed, 0, 0, Purpose::Library, 0);
    let sym = |rng: &mut rand_chacha::ChaCha8Rng| 2.0 * uniform(rng) - 1.0;
    let base: Vec<Vec<f64>> = (0..m)
        .map(|_| {
            let raw: Vec<f64> = (0..nb)
                .map(|_| 1.0 + p.score_spread * sym(&mut rng))
                .collect();
            let total: f64 = raw.iter().sum();
            raw.iter().map(|x| x / total).collect()
        })
        .collect();
    let mut sim = vec![vec![1.0; m]; m];
    // A symmetric fill: both `sim[t][u]` and `sim[u][t]`, so indices read best.
    #[allow(clippy::needless_range_loop)]
    for t in 0..m {
        for u in t + 1..m {
            let mean = if p.cluster_of(t) == p.cluster_of(u) {
                p.intra_similarity
            } else {
                p.inter_similarity
            };
            let s = (mean + p.similarity_jitter * sym(&mut rng)).clamp(0.0, 1.0);
            sim[t][u] = s;
            sim[u][t] = s;
        }
    }
    // owner[i][n]: the model whose physical block model i holds at n.
    let depth = |n: usize| {
        if nb == 1 {
            0.0
        } else {
            n as f64 / (nb - 1) as f64
        }
    };
    let root = |t: usize| {
        (0..m)
            .find(|&u| p.cluster_of(u) == p.cluster_of(t))
            .expect("own cluster")
    };
    let owner: Vec<Vec<usize>> = (0..m)
        .map(|i| {
            (0..nb)
                .map(|n| {
                    let share = (2.0 * p.sharing * (1.0 - depth(n))).min(1.0);
                    if root(i) != i && uniform(&mut rng) < share {
                        root(i)
                    } else {
                        i
                    }
                })
                .collect()
        })
        .collect();
    // Transfer noise per (task, owner, position), drawn once so copies score alike.
    let noise: Vec<f64> = (0..m * m * nb)
        .map(|_| 1.0 + p.block_noise * sym(&mut rng))
        .collect();
    let scores: Vec<Vec<Vec<f64>>> = (0..m)
        .map(|t| {
            (0..m)
                .map(|i| {
                    (0..nb)
                        .map(|n| {
                            let o = owner[i][n];
                            if owner[t][n] == o {
                                return base[t][n];
                            }
                            let transfer = sim[t][o].powf(1.0 + p.depth_decay * depth(n));
                            base[t][n] * (transfer * noise[(t * m + o) * nb + n]).min(0.999)
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let block_ids = (p.sharing > 0.0).then(|| {
        owner
            .iter()
            .map(|row| row.iter().map(|&o| o as i64).collect())
            .collect()
    });
    Library::new(Some(p.task_names()), scores, block_ids).expect("generator builds a valid library")
}

/// Draw `K` device tasks by the popularity model.
pub fn draw_tasks(p: &GeneratorParams, rng: &mut impl Rng) -> Vec<usize> {
    match p.popularity {
        Popularity::Distinct => {
            let mut all: Vec<usize> = (0..p.models).collect();
            // Partial Fisher-Yates with our portable uniform.
            for k in 0..p.devices {
                let j = k + ((uniform(rng) * (p.models - k) as f64) as usize).min(p.models - k - 1);
                all.swap(k, j);
            }
            all.truncate(p.devices);
            all
        }
        Popularity::Uniform => (0..p.devices)
            .map(|_| ((uniform(rng) * p.models as f64) as usize).min(p.models - 1))
            .collect(),
        Popularity::Zipf => {
            let zipf = Zipf::new(p.models as f64, p.zipf_exponent).expect("validated exponent");
            (0..p.devices)
                .map(|_| (zipf.sample(rng) as usize - 1).min(p.models - 1))
                .collect()
        }
    }
}

/// A whole instance: library from `seed`, tasks and (optionally) gains from the same seed.
pub fn generate_instance(p: &GeneratorParams, seed: u64) -> Instance {
    let library = generate_library(p, seed);
    let mut rng = stream_rng(seed, 0, 0, Purpose::Tasks, 0);
    let tasks = draw_tasks(p, &mut rng);
    let mut gains = vec![0.0; p.devices];
    if let Some(pl) = p.gain_path_loss {
        rayleigh_gains(seed, 0, 0, 0, pl, &mut gains);
    }
    let devices = tasks
        .iter()
        .zip(&gains)
        .map(|(&t, &g)| Device {
            task: t,
            qos: p.qos_ratio * library.own_score(t),
            gain: p.gain_path_loss.map(|_| g),
            backup: None,
        })
        .collect();
    Instance {
        library: library.into(),
        devices,
    }
}
