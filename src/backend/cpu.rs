//! The CPU reference backend: f64, parallel over trials and realizations with rayon.

use std::sync::Arc;

use rayon::prelude::*;

use super::{Backend, Outcome, PowerJob, PowerSettings};
use crate::channel::rayleigh_gains;
use crate::error::{MbaError, Result};
use crate::library::{Device, Instance, Library};
use crate::power::{GainGroups, constant_power, optimal_power};
use crate::selection::Selection;
use crate::selection::greedy::{GreedyOptions, greedy};

#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

/// One realization of one job: draw gains, per-block gains (eq. 10), the three schemes.
pub fn evaluate_realization(
    s: &PowerSettings,
    job: &PowerJob,
    r: u64,
    gains: &mut Vec<f64>,
    counts: &mut Vec<u32>,
) -> Outcome {
    let k = job.devices as usize;
    gains.resize(k, 0.0);
    rayleigh_gains(job.seed, job.point, job.trial, r, s.path_loss, gains);
    counts.clear();
    counts.resize(k, 0);
    for b in 0..job.num_blocks() {
        let req = &job.req_devices[job.req_offsets[b] as usize..job.req_offsets[b + 1] as usize];
        let weakest = req
            .iter()
            .copied()
            .min_by(|&a, &c| gains[a as usize].total_cmp(&gains[c as usize]));
        counts[weakest.expect("a sent block has a requester") as usize] += 1;
    }
    let groups = GainGroups::from_counts(gains, counts);
    let unicast = GainGroups::from_gains_repeated(gains, job.blocks_per_model);
    Outcome {
        mba: optimal_power(&s.link, &groups).latency_s,
        constant: constant_power(&s.link, &groups, s.constant_power_w).latency_s,
        unicast: optimal_power(&s.link, &unicast).latency_s,
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
        let index: Vec<(usize, u64)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(j, job)| (0..job.realizations).map(move |r| (j, r)))
            .collect();
        Ok(index
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(gains, counts), &(j, r)| {
                    let job = &jobs[j];
                    evaluate_realization(settings, job, job.first_realization + r, gains, counts)
                },
            )
            .collect())
    }
}
