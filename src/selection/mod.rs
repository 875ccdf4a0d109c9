//! Parameter selection (problem P2.1; docs/algorithms/): which physical blocks to broadcast and which block
//! each device assembles at each position. Every result passes [`Selection::verified`] first.

pub mod exact;
pub mod exhaustive;
pub mod greedy;
pub mod lagrangian;

use serde::Serialize;

pub use crate::error::CheckError;
use crate::library::Instance;

/// Relative slack when comparing an assembled score with its QoS, for summation order only.
pub const QOS_TOLERANCE: f64 = 1e-12;

/// Whether an assembled `score` meets `qos`, up to summation-order rounding.
#[inline]
pub fn meets_qos(score: f64, qos: f64) -> bool {
    score >= qos - QOS_TOLERANCE * qos.abs().max(1.0)
}

/// Relative gap `(best - bound) / best` of a selection of `best` blocks with a proven bound.
pub fn gap(best: usize, bound: usize) -> f64 {
    if best == 0 {
        0.0
    } else {
        best.saturating_sub(bound) as f64 / best as f64
    }
}

/// A checked selection: the assignment, the broadcast set it implies, and each device's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    /// `assignment[k][n]`: the model whose block device `k` uses at `n` (lowest copy's index).
    pub assignment: Vec<Vec<usize>>,
    /// Physical blocks sent, as `(model, position)` with the lowest model holding the block.
    pub broadcast: Vec<(usize, usize)>,
    /// Assembled score of each device for its own task.
    pub scores: Vec<f64>,
}

impl Selection {
    /// The checker: verifies C1 (one block per position), C2 (QoS) and builds the broadcast set
    /// as the union of the assigned physical blocks.
    pub fn verified(inst: &Instance, assignment: Vec<Vec<usize>>) -> Result<Selection, CheckError> {
        let lib = &inst.library;
        let (m, nb) = (lib.models(), lib.blocks());
        if assignment.len() != inst.num_devices() {
            return Err(CheckError::DeviceCount {
                got: assignment.len(),
                want: inst.num_devices(),
            });
        }
        let mut sent = vec![false; m * nb];
        let mut scores = Vec::with_capacity(assignment.len());
        let mut canonical = Vec::with_capacity(assignment.len());
        for (k, (row, dev)) in assignment.iter().zip(&inst.devices).enumerate() {
            if row.len() != nb {
                return Err(CheckError::Architecture {
                    device: k,
                    got: row.len(),
                    want: nb,
                });
            }
            let mut score = 0.0;
            let mut canon_row = Vec::with_capacity(nb);
            for (n, &i) in row.iter().enumerate() {
                if i >= m {
                    return Err(CheckError::UnknownModel {
                        device: k,
                        position: n,
                        model: i,
                    });
                }
                score += lib.score(dev.task, i, n);
                sent[lib.physical(i, n)] = true;
                canon_row.push(lib.canonical(i, n));
            }
            if !meets_qos(score, dev.qos) {
                return Err(CheckError::Qos {
                    device: k,
                    score,
                    qos: dev.qos,
                });
            }
            scores.push(score);
            canonical.push(canon_row);
        }
        let broadcast = (0..m * nb)
            .filter(|&x| sent[x])
            .map(|x| (x / nb, x % nb))
            .collect();
        Ok(Selection {
            assignment: canonical,
            broadcast,
            scores,
        })
    }

    /// `|Y|`: physical blocks sent.
    pub fn num_blocks(&self) -> usize {
        self.broadcast.len()
    }

    /// For each sent block (in `broadcast` order), the devices that assign it.
    pub fn requesters(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.broadcast.len()];
        for (k, row) in self.assignment.iter().enumerate() {
            for (n, &i) in row.iter().enumerate() {
                let b = self
                    .broadcast
                    .binary_search(&(i, n))
                    .expect("assigned block is broadcast");
                out[b].push(k);
            }
        }
        out
    }

    /// Per-block gain (eq. 10): the weakest requester's gain.
    pub fn block_gains(&self, device_gains: &[f64]) -> Vec<f64> {
        self.requesters()
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&k| device_gains[k])
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }
}
