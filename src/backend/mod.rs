//! Batch evaluation backends. The CPU path (f64, rayon) is the reference; the GPU path (wgpu,
//! f32, `crate::gpu`) implements the same trait and is tested against it. This module knows no
//! concrete backend but its own CPU reference: choosing one is the application's job.

pub mod cpu;
pub mod stats;

pub use cpu::CpuBackend;
pub use stats::{Acc, JobStats, LatencyStats, fold_power_batch};

use std::sync::Arc;

use crate::error::Result;
use crate::library::{Device, Library};
use crate::power::{self, Link};
use crate::selection::Selection;
use crate::selection::greedy::GreedyOptions;

/// One trial's power-control work: who requests each sent block, and which realizations to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerJob {
    /// Requesters of sent block `b` are `req_devices[req_offsets[b]..req_offsets[b + 1]]`.
    pub req_offsets: Vec<u32>,
    pub req_devices: Vec<u32>,
    /// `K` of this trial.
    pub devices: u32,
    /// `N`, for unicast's `K x N` blocks.
    pub blocks_per_model: u32,
    /// Stream key `(seed, point, trial)`: gains of realization `r` come from
    /// [`crate::channel::rayleigh_gains`]`(seed, point, trial, r, ..)`.
    pub seed: u64,
    pub point: u64,
    pub trial: u64,
    pub first_realization: u64,
    pub realizations: u64,
}

impl PowerJob {
    /// The job of a checked selection.
    pub fn from_selection(sel: &Selection, blocks_per_model: usize) -> Self {
        let requesters = sel.requesters();
        let sets = requesters.iter().map(Vec::as_slice);
        PowerJob::from_requesters(sets, sel.assignment.len(), blocks_per_model)
    }

    /// Plain multicast's job (`power::multicast`): each distinct task's `N` blocks requested by
    /// all its devices, so its `mba` outcome is plain multicast's latency.
    pub fn multicast(tasks: &[usize], blocks_per_model: usize) -> Self {
        let groups = power::multicast_groups(tasks);
        let sets = groups
            .iter()
            .flat_map(|g| std::iter::repeat_n(g.as_slice(), blocks_per_model));
        PowerJob::from_requesters(sets, tasks.len(), blocks_per_model)
    }

    /// A job of `devices` devices whose sent blocks have the requesters `sets`, in order.
    fn from_requesters<'a>(
        sets: impl Iterator<Item = &'a [usize]>,
        devices: usize,
        blocks_per_model: usize,
    ) -> Self {
        let mut req_offsets = vec![0u32];
        let mut req_devices = Vec::new();
        for r in sets {
            req_devices.extend(r.iter().map(|&k| k as u32));
            req_offsets.push(req_devices.len() as u32);
        }
        PowerJob {
            req_offsets,
            req_devices,
            devices: devices as u32,
            blocks_per_model: blocks_per_model as u32,
            seed: 0,
            point: 0,
            trial: 0,
            first_realization: 0,
            realizations: 1,
        }
    }

    pub fn num_blocks(&self) -> usize {
        self.req_offsets.len() - 1
    }

    /// The requesters of sent block `b`.
    pub fn requesters(&self, b: usize) -> &[u32] {
        &self.req_devices[self.req_offsets[b] as usize..self.req_offsets[b + 1] as usize]
    }
}

/// Everything a power batch shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerSettings {
    pub link: Link,
    /// Mean gain of the Rayleigh draws.
    pub path_loss: f64,
    /// Fixed power for constant-power MBA; energy-matched when `None`.
    pub constant_power_w: Option<f64>,
}

/// Total latency of one realization under each scheme; `f64::INFINITY` marks an outage.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Outcome {
    pub mba: f64,
    pub constant: f64,
    pub unicast: f64,
}

/// A backend evaluates many trials and realizations at once.
pub trait Backend: Send + Sync {
    /// A name for manifests and benchmark tables (adapter name for the GPU).
    fn name(&self) -> String;

    /// Greedy selection for many trials over one library; each result has passed the checker.
    fn greedy_batch(
        &self,
        library: &Arc<Library>,
        trials: &[Vec<Device>],
        opts: &GreedyOptions,
    ) -> Result<Vec<Selection>>;

    /// Every realization of every job, in job order then realization order.
    fn power_batch(&self, settings: &PowerSettings, jobs: &[PowerJob]) -> Result<Vec<Outcome>>;

    /// The statistics of every job's realizations, in job order. By default `power_batch`'s
    /// outcomes folded in realization order (the reference, bit for bit); a backend may
    /// reduce where it computes, to within its stated accuracy.
    fn power_stats(&self, settings: &PowerSettings, jobs: &[PowerJob]) -> Result<Vec<JobStats>> {
        fold_power_batch(self, settings, jobs)
    }
}
