//! The wgpu backend (`docs/performance.md`): WGSL kernels in `shaders/`, f32, batched over
//! thousands of realizations and trials. Every kernel has an f32 CPU twin in [`twins`] and is
//! tested against it and against the f64 reference (`tests/gpu.rs`); [`layout`] holds the host's
//! view of the kernels' bindings and structs to the WGSL.

pub mod context;
pub mod greedy;
pub mod layout;
pub mod pack;
pub mod power;
pub mod reduce;
pub mod twins;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use context::{GpuContext, hardware_adapter, is_software};

use crate::backend::{Backend, JobStats, Outcome, PowerJob, PowerSettings};
use crate::error::Result;
use crate::library::{Device, Library};
use crate::selection::Selection;
use crate::selection::greedy::GreedyOptions;

/// The GPU backend: an open device, pipelines built once.
pub struct GpuBackend {
    pub ctx: GpuContext,
    power: power::PowerKernels,
    greedy: greedy::GreedyKernels,
    /// Trials whose f32 greedy result failed the checker and were redone on the CPU.
    fallbacks: AtomicUsize,
}

impl GpuBackend {
    /// Open the best adapter (software ones only when `allow_software`) and build the pipelines.
    pub fn new(allow_software: bool) -> Result<Self> {
        let ctx = GpuContext::new(allow_software)?;
        Ok(GpuBackend {
            power: power::PowerKernels::new(&ctx),
            greedy: greedy::GreedyKernels::new(&ctx),
            fallbacks: AtomicUsize::new(0),
            ctx,
        })
    }

    /// At most `realizations` per chunk of a power run (the adapter's limits may ask for fewer):
    /// less device memory, and in tests chunk boundaries inside small runs.
    pub fn with_max_chunk(mut self, realizations: u64) -> Self {
        self.power.set_max_chunk(realizations);
        self
    }

    /// How many greedy trials so far fell back to the f64 CPU greedy.
    pub fn fallbacks(&self) -> usize {
        self.fallbacks.load(Ordering::Relaxed)
    }

    pub(crate) fn note_fallback(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn adapter_name(&self) -> String {
        format!("{} ({:?})", self.ctx.info.name, self.ctx.info.backend)
    }

    /// The power kernels with their intermediate results; `gains_in` bypasses the ChaCha draws.
    pub fn power_run(
        &self,
        settings: &PowerSettings,
        jobs: &[PowerJob],
        gains_in: Option<&[Vec<f32>]>,
        debug: bool,
    ) -> Result<power::PowerRun> {
        self.run(settings, jobs, gains_in, debug, power::Readback::Latencies)
    }

    /// The power kernels and the device reduction: per piece of each chunk, the statistics
    /// (`PowerRun::stats`); [`reduce::job_stats`] combines them per job.
    pub fn power_stats_run(
        &self,
        settings: &PowerSettings,
        jobs: &[PowerJob],
        gains_in: Option<&[Vec<f32>]>,
    ) -> Result<power::PowerRun> {
        self.run(settings, jobs, gains_in, false, power::Readback::Stats)
    }

    fn run(
        &self,
        settings: &PowerSettings,
        jobs: &[PowerJob],
        gains_in: Option<&[Vec<f32>]>,
        debug: bool,
        readback: power::Readback,
    ) -> Result<power::PowerRun> {
        let consts = twins::power::PowerConsts::new(
            &settings.link,
            settings.path_loss,
            settings.constant_power_w,
        );
        self.power
            .run(&self.ctx, &consts, jobs, gains_in, debug, readback)
    }

    /// The first `words` u32 of each realization's ChaCha8 stream, computed by the WGSL ChaCha.
    pub fn chacha_words(&self, jobs: &[PowerJob], words: u32) -> Result<Vec<Vec<u32>>> {
        self.power.chacha_words(&self.ctx, jobs, words)
    }

    /// The greedy kernels' raw output (chains and picks) for tests.
    pub fn greedy_run(
        &self,
        library: &Arc<Library>,
        trials: &[Vec<Device>],
        opts: &GreedyOptions,
    ) -> Result<greedy::GreedyRun> {
        self.greedy.run(&self.ctx, library, trials, opts)
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        format!("gpu (f32, {})", self.adapter_name())
    }

    fn greedy_batch(
        &self,
        library: &Arc<Library>,
        trials: &[Vec<Device>],
        opts: &GreedyOptions,
    ) -> Result<Vec<Selection>> {
        greedy::greedy_batch(self, library, trials, opts)
    }

    fn power_batch(&self, settings: &PowerSettings, jobs: &[PowerJob]) -> Result<Vec<Outcome>> {
        let run = self.power_run(settings, jobs, None, false)?;
        Ok(run
            .latencies
            .iter()
            .map(|l| Outcome {
                mba: power::latency_f64(l[0]),
                constant: power::latency_f64(l[1]),
                unicast: power::latency_f64(l[2]),
            })
            .collect())
    }

    /// Reduced on the device: a few numbers per job and chunk come back, not every latency.
    fn power_stats(&self, settings: &PowerSettings, jobs: &[PowerJob]) -> Result<Vec<JobStats>> {
        let run = self.power_stats_run(settings, jobs, None)?;
        reduce::job_stats(jobs, &run.stats)
    }
}
