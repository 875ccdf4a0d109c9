//! The CPU reference backend: f64, parallel over trials and realizations with rayon. Each
//! realization runs the fast pipeline ([`TrialPlan`], `power::fast`), equal to the scalar
//! reference ([`reference_outcome`]) to ~1e-15; its result depends on its inputs only, never on
//! the thread or the batch, so the numbers are the same for any thread count.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::{Backend, Outcome, PowerJob, PowerSettings};
use crate::channel::rayleigh_gains;
use crate::error::{MbaError, Result};
use crate::library::{Device, Instance, Library};
use crate::power::fast::{Groups, Scratch, constant_latency, optimal_latency};
use crate::power::{GainGroups, Link, constant_power, optimal_power};
use crate::selection::Selection;
use crate::selection::greedy::{GreedyOptions, greedy};

#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

/// The weakest-requester counts of one realization (eq. 10), the scalar reference: for every
/// sent block, its requester of least gain (the first on ties) gets the block.
pub fn weakest_counts(job: &PowerJob, gains: &[f64]) -> Vec<u32> {
    let mut counts = vec![0u32; gains.len()];
    for b in 0..job.num_blocks() {
        let weakest = job
            .requesters(b)
            .iter()
            .copied()
            .min_by(|&a, &c| gains[a as usize].total_cmp(&gains[c as usize]));
        counts[weakest.expect("a sent block has a requester") as usize] += 1;
    }
    counts
}

/// The scalar reference of one realization from its gains: weakest-requester counts, then
/// `power::optimal_power` and `power::constant_power` on the groups. [`TrialPlan::evaluate`]
/// must agree with it (tests/pipeline.rs).
pub fn reference_outcome(s: &PowerSettings, job: &PowerJob, gains: &[f64]) -> Outcome {
    let counts = weakest_counts(job, gains);
    let groups = GainGroups::from_counts(gains, &counts);
    let unicast = GainGroups::from_gains_repeated(gains, job.blocks_per_model);
    Outcome {
        mba: optimal_power(&s.link, &groups).latency_s,
        constant: constant_power(&s.link, &groups, s.constant_power_w).latency_s,
        unicast: optimal_power(&s.link, &unicast).latency_s,
    }
}

/// What every realization of one job shares, computed once per job: the requester sets
/// deduplicated (blocks with the same requesters have the same weakest device), and the
/// blocks of single-requester sets counted up front, since their weakest device is fixed.
#[derive(Debug, Clone)]
pub struct TrialPlan {
    /// Blocks each device gets whatever the gains (it is their only requester).
    own_blocks: Vec<u32>,
    /// Distinct requester sets of two or more devices: `set_devices[set_offsets[i]..]`,
    /// in the job's order, so that ties go to the same device as in the reference.
    set_offsets: Vec<u32>,
    set_devices: Vec<u32>,
    /// Sent blocks with requester set `i`.
    set_blocks: Vec<u32>,
    blocks_per_model: u32,
}

/// Per-thread buffers of the pipeline: nothing is allocated per realization once they grow.
#[derive(Debug, Clone, Default)]
pub struct PipelineScratch {
    gains: Vec<f64>,
    counts: Vec<u32>,
    mba: Groups,
    unicast: Groups,
    solver: Scratch,
}

impl TrialPlan {
    pub fn new(job: &PowerJob) -> Self {
        let mut own_blocks = vec![0u32; job.devices as usize];
        let mut index: HashMap<&[u32], usize> = HashMap::new();
        let mut plan = TrialPlan {
            own_blocks: Vec::new(),
            set_offsets: vec![0],
            set_devices: Vec::new(),
            set_blocks: Vec::new(),
            blocks_per_model: job.blocks_per_model,
        };
        for b in 0..job.num_blocks() {
            let req = job.requesters(b);
            if let [only] = req {
                own_blocks[*only as usize] += 1;
                continue;
            }
            let i = *index.entry(req).or_insert_with(|| {
                plan.set_devices.extend_from_slice(req);
                plan.set_offsets.push(plan.set_devices.len() as u32);
                plan.set_blocks.push(0);
                plan.set_blocks.len() - 1
            });
            plan.set_blocks[i] += 1;
        }
        plan.own_blocks = own_blocks;
        plan
    }

    /// One realization of `job` (the job this plan was built from): draw its gains, then
    /// [`TrialPlan::evaluate`].
    pub fn realization(
        &self,
        s: &PowerSettings,
        job: &PowerJob,
        r: u64,
        scratch: &mut PipelineScratch,
    ) -> Outcome {
        let mut gains = std::mem::take(&mut scratch.gains);
        gains.resize(self.own_blocks.len(), 0.0);
        rayleigh_gains(job.seed, job.point, job.trial, r, s.path_loss, &mut gains);
        let out = self.evaluate(s, &gains, scratch);
        scratch.gains = gains;
        out
    }

    /// The three schemes from given gains, equal to [`reference_outcome`]: the fast solvers of
    /// `power::fast`, and the reference wherever they defer to it.
    pub fn evaluate(
        &self,
        s: &PowerSettings,
        gains: &[f64],
        scratch: &mut PipelineScratch,
    ) -> Outcome {
        self.count_weakest(gains, &mut scratch.counts);
        self.fill_groups(&s.link, gains, scratch);
        let PipelineScratch {
            counts,
            mba,
            unicast,
            solver,
            ..
        } = scratch;
        let link = &s.link;
        let t_mba = optimal_latency(link, mba, solver).unwrap_or_else(|| {
            optimal_power(link, &GainGroups::from_counts(gains, counts)).latency_s
        });
        let constant =
            constant_latency(link, mba, s.constant_power_w, t_mba).unwrap_or_else(|| {
                constant_power(
                    link,
                    &GainGroups::from_counts(gains, counts),
                    s.constant_power_w,
                )
                .latency_s
            });
        let uni = optimal_latency(link, unicast, solver).unwrap_or_else(|| {
            let g = GainGroups::from_gains_repeated(gains, self.blocks_per_model);
            optimal_power(link, &g).latency_s
        });
        Outcome {
            mba: t_mba,
            constant,
            unicast: uni,
        }
    }

    /// Blocks per device as weakest requester: own blocks, plus each shared set's blocks to its
    /// first device of least gain.
    fn count_weakest(&self, gains: &[f64], counts: &mut Vec<u32>) {
        counts.clear();
        counts.extend_from_slice(&self.own_blocks);
        for (i, &blocks) in self.set_blocks.iter().enumerate() {
            let set =
                &self.set_devices[self.set_offsets[i] as usize..self.set_offsets[i + 1] as usize];
            let mut weakest = set[0];
            for &k in &set[1..] {
                if gains[k as usize]
                    .total_cmp(&gains[weakest as usize])
                    .is_lt()
                {
                    weakest = k;
                }
            }
            counts[weakest as usize] += blocks;
        }
    }

    /// The MBA groups (devices that are some block's weakest requester, in device order) and
    /// unicast's (every device, `N` blocks each), with `a = H / N0` and `ln a` once per device.
    fn fill_groups(&self, link: &Link, gains: &[f64], scratch: &mut PipelineScratch) {
        scratch.mba.clear();
        scratch.unicast.clear();
        for (&gain, &count) in gains.iter().zip(&scratch.counts) {
            let a = gain / link.noise_w;
            let ln_a = a.ln();
            if count > 0 {
                scratch.mba.push(gain, a, ln_a, count);
            }
            if self.blocks_per_model > 0 {
                scratch.unicast.push(gain, a, ln_a, self.blocks_per_model);
            }
        }
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu (f64, {} threads)", rayon::current_num_threads())
    }

    fn greedy_batch(
        &self,
        library: &Arc<Library>,
        trials: &[Vec<Device>],
        opts: &GreedyOptions,
    ) -> Result<Vec<Selection>> {
        trials
            .par_iter()
            .map(|devices| {
                let inst = Instance {
                    library: library.clone(),
                    devices: devices.clone(),
                };
                greedy(&inst, opts)
                    .map(|r| r.selection)
                    .map_err(|source| MbaError::Check {
                        method: "greedy",
                        source,
                    })
            })
            .collect()
    }

    fn power_batch(&self, settings: &PowerSettings, jobs: &[PowerJob]) -> Result<Vec<Outcome>> {
        let plans: Vec<TrialPlan> = jobs.par_iter().map(TrialPlan::new).collect();
        let index: Vec<(usize, u64)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(j, job)| (0..job.realizations).map(move |r| (j, r)))
            .collect();
        Ok(index
            .par_iter()
            .map_init(PipelineScratch::default, |scratch, &(j, r)| {
                let job = &jobs[j];
                plans[j].realization(settings, job, job.first_realization + r, scratch)
            })
            .collect())
    }
}
