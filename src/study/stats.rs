//! Sufficient statistics and confidence intervals.
//!
//! Each `(point, trial)` work unit accumulates its samples in a fixed order; units are then
//! combined in trial order. Floating-point addition is not associative, so that fixed order is
//! what makes thread counts, shard splits and merges give bit-identical numbers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The accumulator of one `(point, scheme, metric)` cell: the backend's, since backends
/// return a job's latencies as these statistics (`Backend::power_stats`).
pub use crate::backend::Acc;

/// What a cell reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Samples behind the cell, outages included.
    pub count: u64,
    pub outages: u64,
    /// Mean over the samples that are not outages; `None` when there are none.
    pub mean: Option<f64>,
    /// Half-width of the 95% confidence interval of `mean` (Student t); `None` below 2 samples.
    pub ci95: Option<f64>,
    /// Sample standard deviation.
    pub std: Option<f64>,
}

impl Acc {
    pub fn summary(&self) -> Summary {
        let n = self.served();
        let mean = (n > 0).then(|| self.sum / n as f64);
        let std = (n > 1).then(|| {
            let nf = n as f64;
            ((self.sumsq - self.sum * self.sum / nf) / (nf - 1.0))
                .max(0.0)
                .sqrt()
        });
        let ci95 = std.map(|s| t_975(n - 1) * s / (n as f64).sqrt());
        Summary {
            count: self.count,
            outages: self.outages,
            mean,
            ci95,
            std,
        }
    }
}

/// A reduced `(point, scheme, metric)` cell: the pooled samples, and the per-trial means.
/// Trials (task draws, libraries) vary more than realizations within a trial, so the interval
/// comes from the spread of the trial means whenever there are at least two of them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cell {
    pub pooled: Acc,
    pub trial_means: Acc,
}

impl Cell {
    /// Add one trial's statistics (in trial order).
    pub fn add_trial(&mut self, unit: &Acc) {
        self.pooled.merge(unit);
        let n = unit.served();
        self.trial_means.push(if n > 0 {
            unit.sum / n as f64
        } else {
            f64::INFINITY
        });
    }

    /// Mean, count and outages of the pooled samples; the 95% CI of the mean from the trial
    /// means (two or more served trials), else from the pooled samples.
    pub fn summary(&self) -> Summary {
        let pooled = self.pooled.summary();
        let ci95 = if self.trial_means.served() >= 2 {
            self.trial_means.summary().ci95
        } else {
            pooled.ci95
        };
        Summary { ci95, ..pooled }
    }
}

/// Two-sided 95% Student-t quantile `t_{0.975, df}`: a table to 30, then the Cornish-Fisher
/// expansion around the normal quantile (error below 1e-4 there).
pub fn t_975(df: u64) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if df == 0 {
        return f64::INFINITY;
    }
    if let Some(&t) = TABLE.get(df as usize - 1) {
        return t;
    }
    let z: f64 = 1.959_963_984_540_054;
    let d = df as f64;
    let z3 = z * z * z;
    let z5 = z3 * z * z;
    z + (z3 + z) / (4.0 * d) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * d * d)
}

/// Parts files store the sums as their IEEE-754 bit patterns so a JSON round trip is exact.
impl Serialize for Acc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [
            self.count,
            self.sum.to_bits(),
            self.sumsq.to_bits(),
            self.outages,
        ]
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Acc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [count, sum, sumsq, outages] = <[u64; 4]>::deserialize(d)?;
        Ok(Acc {
            count,
            sum: f64::from_bits(sum),
            sumsq: f64::from_bits(sumsq),
            outages,
        })
    }
}
