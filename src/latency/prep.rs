//! What the exact program and the heuristic share: every device's options at every position,
//! how a choice of options is charged to ranks, and the report of a finished plan.

use super::{Delivery, LatencyPlan, Method, Objective, SentBlock};
use crate::library::Instance;
use crate::power::{GainGroups, Link, optimal_power};

/// One way device `k` can fill position `n`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Opt {
    /// The model whose block is used (lowest copy); `None`: nothing (the model is incomplete).
    pub model: Option<usize>,
    /// The physical block to send; `None` when the device holds it (its backup) or has nothing.
    pub phys: Option<usize>,
    /// Its score for the device's task; `-inf` for nothing, so any sum it enters stays `-inf`.
    pub score: f64,
}

pub(crate) struct Prep {
    pub delivery: Delivery,
    /// `opts[n][k]`: option 0 costs nothing (the backup's block, or nothing); the rest are sent.
    pub opts: Vec<Vec<Vec<Opt>>>,
    /// Each device's own task model's score (the ratio's denominator).
    pub own: Vec<f64>,
}

impl Prep {
    pub fn new(inst: &Instance, delivery: Delivery) -> Self {
        let lib = &inst.library;
        let opts = (0..lib.blocks())
            .map(|n| {
                (0..inst.num_devices())
                    .map(|k| device_options(inst, delivery, k, n))
                    .collect()
            })
            .collect();
        let own = inst.devices.iter().map(|d| lib.own_score(d.task)).collect();
        Prep {
            delivery,
            opts,
            own,
        }
    }

    pub fn devices(&self) -> usize {
        self.own.len()
    }

    pub fn positions(&self) -> usize {
        self.opts.len()
    }

    /// Blocks charged to each rank at position `n` when device `k` takes option `pick[k]`:
    /// MBA sends each physical block once, charged to its weakest requester; unicast charges
    /// every received block to its device. `rank[k]` is device `k`'s rank.
    pub fn charge(&self, n: usize, pick: &[usize], rank: &[usize], counts: &mut [u32]) {
        let opts = &self.opts[n];
        for (k, &o) in pick.iter().enumerate() {
            let Some(p) = opts[k][o].phys else { continue };
            let weakest = match self.delivery {
                Delivery::Unicast => true,
                Delivery::Mba => pick
                    .iter()
                    .enumerate()
                    .all(|(j, &oj)| opts[j][oj].phys != Some(p) || rank[j] > rank[k] || j == k),
            };
            if weakest {
                counts[rank[k]] += 1;
            }
        }
    }

    /// The plan `choice[k][n]` (option indices) as a report.
    pub fn report(
        &self,
        choice: &[Vec<usize>],
        gains: &[f64],
        link: &Link,
        objective: Objective,
        method: Method,
    ) -> LatencyPlan {
        let sent = self.sent_blocks(choice, gains);
        let block_gains: Vec<f64> = sent.iter().map(|b| b.gain).collect();
        let pc = optimal_power(link, &GainGroups::from_gains(&block_gains));
        let raw = self.scores(choice);
        let scores: Vec<f64> = raw.iter().map(|&s| s.max(0.0)).collect();
        let assignment = choice
            .iter()
            .enumerate()
            .map(|(k, row)| {
                row.iter()
                    .enumerate()
                    .map(|(n, &o)| self.opts[n][k][o].model)
                    .collect()
            })
            .collect();
        LatencyPlan {
            delivery: self.delivery,
            method,
            optimal: method == Method::Exact,
            assignment,
            sent,
            ratios: self.ratios(&scores),
            objective: self.value(&raw, objective),
            scores,
            latency_s: pc.latency_s,
            energy_j: pc.energy_j,
        }
    }

    /// Raw assembled scores (`-inf` for an incomplete model).
    pub fn scores(&self, choice: &[Vec<usize>]) -> Vec<f64> {
        choice
            .iter()
            .enumerate()
            .map(|(k, row)| {
                row.iter()
                    .enumerate()
                    .map(|(n, &o)| self.opts[n][k][o].score)
                    .sum()
            })
            .collect()
    }

    pub fn ratios(&self, scores: &[f64]) -> Vec<f64> {
        scores
            .iter()
            .zip(&self.own)
            .map(|(&s, &own)| if own > 0.0 { s.max(0.0) / own } else { 1.0 })
            .collect()
    }

    /// The objective's value of raw scores.
    pub fn value(&self, raw: &[f64], objective: Objective) -> f64 {
        match objective {
            Objective::MinRatio => self.ratios(raw).into_iter().fold(f64::INFINITY, f64::min),
            Objective::TotalScore => raw.iter().map(|&s| s.max(0.0)).sum(),
        }
    }

    /// Sent blocks in `(position, physical block)` order, unicast's copies by device.
    fn sent_blocks(&self, choice: &[Vec<usize>], gains: &[f64]) -> Vec<SentBlock> {
        let mut out: Vec<(usize, usize, SentBlock)> = Vec::new();
        for (k, row) in choice.iter().enumerate() {
            for (n, &o) in row.iter().enumerate() {
                let opt = self.opts[n][k][o];
                let (Some(p), Some(model)) = (opt.phys, opt.model) else {
                    continue;
                };
                let copy = if self.delivery == Delivery::Unicast {
                    k
                } else {
                    0
                };
                let found = out.iter_mut().find(|(pp, c, _)| *pp == p && *c == copy);
                match found {
                    Some((_, _, b)) => {
                        b.requesters.push(k);
                        b.gain = b.gain.min(gains[k]);
                    }
                    None => out.push((
                        p,
                        copy,
                        SentBlock {
                            model,
                            position: n,
                            gain: gains[k],
                            requesters: vec![k],
                        },
                    )),
                }
            }
        }
        out.sort_by_key(|(p, c, b)| (b.position, *p, *c));
        out.into_iter().map(|(_, _, b)| b).collect()
    }
}

/// Device `k`'s options at position `n`: its backup's block (free) or nothing first, then every
/// block worth sending for it: a higher score than what it holds, and not a copy of it.
fn device_options(inst: &Instance, delivery: Delivery, k: usize, n: usize) -> Vec<Opt> {
    let lib = &inst.library;
    let dev = &inst.devices[k];
    let t = dev.task;
    let stay = match dev.backup {
        Some(b) => Opt {
            model: Some(lib.canonical(b, n)),
            phys: None,
            score: lib.score(t, b, n),
        },
        None => Opt {
            model: None,
            phys: None,
            score: f64::NEG_INFINITY,
        },
    };
    let held = dev.backup.map(|b| lib.physical(b, n));
    let models: Vec<usize> = match delivery {
        Delivery::Mba => (0..lib.models())
            .filter(|&i| lib.canonical(i, n) == i)
            .collect(),
        Delivery::Unicast => vec![lib.canonical(t, n)],
    };
    let mut opts = vec![stay];
    for i in models {
        let score = lib.score(t, i, n);
        if Some(lib.physical(i, n)) != held && score > stay.score {
            opts.push(Opt {
                model: Some(i),
                phys: Some(lib.physical(i, n)),
                score,
            });
        }
    }
    opts
}
