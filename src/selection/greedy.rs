//! Greedy parameter selection (the paper's Algorithm 1, docs/algorithms/greedy.md): a candidate chain per device,
//! then a sequential pick of the candidate that adds the fewest new physical blocks (eq. 9).

use serde::{Deserialize, Serialize};

use super::{CheckError, Selection};
use crate::library::{Instance, Library};

/// In which order the seed's positions are replaced along a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainOrder {
    /// The paper's: the seed's highest-scoring position first (ties by lower `n`).
    #[default]
    Paper,
    /// Smallest loss `I[t][seed][n] - best foreign` first (ties by lower `n`).
    MinLoss,
    /// Run both and keep the smaller broadcast set (ties to `paper`).
    Best,
}

/// In which order devices pick their candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceOrder {
    /// Device index order (the paper's).
    #[default]
    Index,
    /// Highest device index first.
    Reverse,
    /// Highest QoS first (ties by index).
    QosDescending,
}

/// Where replacement blocks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForeignPool {
    /// Models of the other requested tasks (the paper's).
    #[default]
    Requested,
    /// Every other model in the library.
    Library,
}

/// Greedy settings, `[greedy]` in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GreedyOptions {
    pub chain_order: ChainOrder,
    pub device_order: DeviceOrder,
    pub foreign: ForeignPool,
}

/// A greedy result: the checked selection and the chain order that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct GreedyResult {
    pub selection: Selection,
    pub chain_order: ChainOrder,
}

/// Device `k`'s candidate chain: candidate `j` (0-based) is `seed` with the first `j` positions
/// of `order` replaced by `foreign` blocks. `scores[j]` is candidate `j`'s score.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub seed: Vec<usize>,
    pub order: Vec<usize>,
    /// Best foreign model at each position; `None` when there is no foreign model.
    pub foreign: Vec<Option<usize>>,
    pub scores: Vec<f64>,
}

impl Chain {
    pub fn len(&self) -> usize {
        self.scores.len()
    }
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
    /// Candidate `j` as a model index per position.
    pub fn candidate(&self, j: usize) -> Vec<usize> {
        let mut c = self.seed.clone();
        for &n in &self.order[..j] {
            c[n] = self.foreign[n].expect("replaced positions have a foreign block");
        }
        c
    }
}

/// The models a device of task `t` may borrow from.
pub fn foreign_models(inst: &Instance, t: usize, pool: ForeignPool) -> Vec<usize> {
    let m = inst.library.models();
    let mut allowed = vec![false; m];
    match pool {
        ForeignPool::Library => allowed.iter_mut().for_each(|a| *a = true),
        ForeignPool::Requested => inst.devices.iter().for_each(|d| allowed[d.task] = true),
    }
    (0..m).filter(|&i| i != t && allowed[i]).collect()
}

/// `argmax` with ties to the lowest index.
fn best_of(
    lib: &Library,
    t: usize,
    n: usize,
    models: impl Iterator<Item = usize>,
) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for i in models {
        let s = lib.score(t, i, n);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    best.map(|(i, _)| i)
}

/// Build the candidate chain of a device with task `t` and QoS `qos` (docs/algorithms/greedy.md).
pub fn build_chain(
    lib: &Library,
    t: usize,
    qos: f64,
    foreign_pool: &[usize],
    order: ChainOrder,
) -> Chain {
    let nb = lib.blocks();
    let seed: Vec<usize> = if lib.own_score(t) >= qos {
        vec![t; nb]
    } else {
        (0..nb)
            .map(|n| best_of(lib, t, n, 0..lib.models()).expect("M >= 1"))
            .collect()
    };
    let foreign: Vec<Option<usize>> = (0..nb)
        .map(|n| best_of(lib, t, n, foreign_pool.iter().copied()))
        .collect();
    let seed_score = |n: usize| lib.score(t, seed[n], n);
    let mut positions: Vec<usize> = (0..nb).collect();
    match order {
        ChainOrder::MinLoss => {
            let loss =
                |n: usize| foreign[n].map_or(f64::INFINITY, |i| seed_score(n) - lib.score(t, i, n));
            positions.sort_by(|&a, &b| loss(a).total_cmp(&loss(b)).then(a.cmp(&b)));
        }
        _ => positions.sort_by(|&a, &b| seed_score(b).total_cmp(&seed_score(a)).then(a.cmp(&b))),
    }
    let mut score: f64 = (0..nb).map(seed_score).sum();
    let mut scores = vec![score];
    for &n in &positions {
        let Some(i) = foreign[n] else { break };
        score += lib.score(t, i, n) - seed_score(n);
        if !super::meets_qos(score, qos) {
            break;
        }
        scores.push(score);
    }
    Chain {
        seed,
        order: positions,
        foreign,
        scores,
    }
}

/// The device visiting order.
pub fn device_order(inst: &Instance, order: DeviceOrder) -> Vec<usize> {
    let mut ks: Vec<usize> = (0..inst.num_devices()).collect();
    match order {
        DeviceOrder::Index => {}
        DeviceOrder::Reverse => ks.reverse(),
        DeviceOrder::QosDescending => ks.sort_by(|&a, &b| {
            inst.devices[b]
                .qos
                .total_cmp(&inst.devices[a].qos)
                .then(a.cmp(&b))
        }),
    }
    ks
}

/// Pick the candidate of `chain` that adds the fewest blocks not yet in `sent` (eq. 9); ties go
/// to the higher score, then the lower `j`. Returns `(j, new blocks)`.
pub fn pick_candidate(lib: &Library, chain: &Chain, sent: &[bool]) -> (usize, usize) {
    let is_new = |i: usize, n: usize| !sent[lib.physical(i, n)] as usize;
    let mut new: usize = chain
        .seed
        .iter()
        .enumerate()
        .map(|(n, &i)| is_new(i, n))
        .sum();
    let mut best = (0, new);
    for j in 1..chain.len() {
        let n = chain.order[j - 1];
        let f = chain.foreign[n].expect("kept candidates have a foreign block");
        new = new + is_new(f, n) - is_new(chain.seed[n], n);
        let better = new < best.1 || (new == best.1 && chain.scores[j] > chain.scores[best.0]);
        if better {
            best = (j, new);
        }
    }
    best
}

/// Run Algorithm 1 with one chain order (not `Best`).
fn greedy_with(
    inst: &Instance,
    opts: &GreedyOptions,
    order: ChainOrder,
) -> Result<Selection, CheckError> {
    let lib = &inst.library;
    // Devices with the same task and QoS share a chain.
    let mut chains: std::collections::HashMap<(usize, u64), Chain> = Default::default();
    let mut sent = vec![false; lib.models() * lib.blocks()];
    let mut assignment = vec![Vec::new(); inst.num_devices()];
    for k in device_order(inst, opts.device_order) {
        let d = &inst.devices[k];
        let chain = chains.entry((d.task, d.qos.to_bits())).or_insert_with(|| {
            build_chain(
                lib,
                d.task,
                d.qos,
                &foreign_models(inst, d.task, opts.foreign),
                order,
            )
        });
        let (j, _) = pick_candidate(lib, chain, &sent);
        let cand = chain.candidate(j);
        for (n, &i) in cand.iter().enumerate() {
            sent[lib.physical(i, n)] = true;
        }
        assignment[k] = cand;
    }
    Selection::verified(inst, assignment)
}

/// Greedy parameter selection. The result has passed the checker.
pub fn greedy(inst: &Instance, opts: &GreedyOptions) -> Result<GreedyResult, CheckError> {
    match opts.chain_order {
        ChainOrder::Best => {
            let paper = greedy_with(inst, opts, ChainOrder::Paper)?;
            let min_loss = greedy_with(inst, opts, ChainOrder::MinLoss)?;
            Ok(if min_loss.num_blocks() < paper.num_blocks() {
                GreedyResult {
                    selection: min_loss,
                    chain_order: ChainOrder::MinLoss,
                }
            } else {
                GreedyResult {
                    selection: paper,
                    chain_order: ChainOrder::Paper,
                }
            })
        }
        order => Ok(GreedyResult {
            selection: greedy_with(inst, opts, order)?,
            chain_order: order,
        }),
    }
}
