//! Sufficient statistics of a job's latencies (`Backend::power_stats`): count, outages, sum
//! and sum of squares per scheme and metric, so a study never needs the per-realization
//! outcomes. The CPU reference folds the outcomes of `Backend::power_batch` in realization
//! order ([`fold_power_batch`]); the GPU reduces on the device.

use super::{Backend, Outcome, PowerJob, PowerSettings};
use crate::error::{MbaError, Result};

/// Count, sum, sum of squares and outages of one metric's samples.
/// An outage (infinite or NaN sample) counts in `count` and `outages`, never in the sums.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Acc {
    pub count: u64,
    pub sum: f64,
    pub sumsq: f64,
    pub outages: u64,
}

impl Acc {
    /// Add one sample.
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        if x.is_finite() {
            self.sum += x;
            self.sumsq += x * x;
        } else {
            self.outages += 1;
        }
    }

    /// Add another cell's statistics (call in a fixed order for reproducible sums).
    pub fn merge(&mut self, o: &Acc) {
        self.count += o.count;
        self.sum += o.sum;
        self.sumsq += o.sumsq;
        self.outages += o.outages;
    }

    /// Samples that entered the sums.
    pub fn served(&self) -> u64 {
        self.count - self.outages
    }
}

/// One scheme's latencies over a job's realizations: total latency, and latency per device
/// (`l / K` per sample, as the study reports it).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LatencyStats {
    pub latency_s: Acc,
    pub latency_per_device_s: Acc,
}

impl LatencyStats {
    fn push(&mut self, latency: f64, devices: f64) {
        self.latency_s.push(latency);
        self.latency_per_device_s.push(latency / devices);
    }
}

/// The statistics of one job's realizations under each scheme of an [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JobStats {
    pub mba: LatencyStats,
    pub constant: LatencyStats,
    pub unicast: LatencyStats,
}

impl JobStats {
    /// Add one realization of a job of `devices` devices. Sums depend on the order: fold
    /// realizations in order.
    pub fn push(&mut self, o: &Outcome, devices: u32) {
        let k = devices as f64;
        self.mba.push(o.mba, k);
        self.constant.push(o.constant, k);
        self.unicast.push(o.unicast, k);
    }
}

/// Outcomes per `power_batch` call in [`fold_power_batch`]: bounds memory whatever the jobs.
pub const FOLD_WINDOW: u64 = 1 << 16;

/// `Backend::power_stats` from `power_batch`: every job's outcomes folded in realization
/// order, in windows of realizations (all jobs at once, at most about [`FOLD_WINDOW`]
/// outcomes per call). The windows change nothing: each job's fold is sequential.
pub fn fold_power_batch<B: Backend + ?Sized>(
    backend: &B,
    settings: &PowerSettings,
    jobs: &[PowerJob],
) -> Result<Vec<JobStats>> {
    let mut stats = vec![JobStats::default(); jobs.len()];
    let longest = jobs.iter().map(|j| j.realizations).max().unwrap_or(0);
    let width = (FOLD_WINDOW / jobs.len().max(1) as u64).max(1);
    let mut lo = 0;
    while lo < longest {
        let window: Vec<PowerJob> = jobs
            .iter()
            .map(|j| {
                let first = lo.min(j.realizations);
                PowerJob {
                    first_realization: j.first_realization + first,
                    realizations: j.realizations.min(lo + width) - first,
                    ..j.clone()
                }
            })
            .collect();
        let outcomes = backend.power_batch(settings, &window)?;
        let want: u64 = window.iter().map(|j| j.realizations).sum();
        if outcomes.len() as u64 != want {
            return Err(MbaError::Backend {
                backend: backend.name(),
                what: format!(
                    "returned {} outcomes for {want} realizations",
                    outcomes.len()
                ),
            });
        }
        let mut rest = outcomes.as_slice();
        for (s, j) in stats.iter_mut().zip(&window) {
            let (mine, tail) = rest.split_at(j.realizations as usize);
            mine.iter().for_each(|o| s.push(o, j.devices));
            rest = tail;
        }
        lo += width;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::power::{Link, SystemParams};

    /// Two sent blocks: one for device 0 alone, one for all `devices` (at least 2).
    fn job(devices: u32, trial: u64, first: u64, realizations: u64) -> PowerJob {
        let req_devices: Vec<u32> = (0..devices).collect();
        PowerJob {
            req_offsets: vec![0, 1, devices],
            req_devices,
            devices,
            blocks_per_model: 2,
            seed: 8,
            point: 0,
            trial,
            first_realization: first,
            realizations,
        }
    }

    /// Windows of realizations (here crossing one job three times, skipping a job with none)
    /// give the bits of one `power_batch` call folded in order.
    #[test]
    fn fold_in_windows_is_the_sequential_fold() {
        let sys = SystemParams::default();
        let s = PowerSettings {
            link: Link::from(&sys),
            path_loss: sys.path_loss,
            constant_power_w: None,
        };
        let jobs = [
            job(2, 0, 5, 2 * FOLD_WINDOW / 3 + 7),
            job(3, 1, 0, 0),
            job(4, 2, 9, 4),
        ];
        let outcomes = CpuBackend.power_batch(&s, &jobs).unwrap();
        let mut want = vec![JobStats::default(); jobs.len()];
        let mut rest = outcomes.iter();
        for (w, j) in want.iter_mut().zip(&jobs) {
            rest.by_ref()
                .take(j.realizations as usize)
                .for_each(|o| w.push(o, j.devices));
        }
        let got = fold_power_batch(&CpuBackend, &s, &jobs).unwrap();
        assert_eq!(got, want);
        assert_eq!(got[0].mba.latency_s.count, jobs[0].realizations);
        assert!(got[0].mba.latency_s.sum > 0.0);
        assert_eq!(got[1], JobStats::default());
    }
}
