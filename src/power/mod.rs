//! Power control (docs/algorithms/power-control.md): optimal MBA power by the Lambert-W closed form (eqs. 11-12),
//! constant-power MBA, channel-adaptive unicast and plain multicast. Blocks with equal gains are grouped so one
//! `beta` solve costs `O(distinct gains)` per iteration.

pub mod fast;
pub mod lambert;
mod solve;

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, number};

pub use solve::{constant_power, optimal_power};

/// The downlink and the round's budget (docs/formats.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemParams {
    /// `B`, Hz. Default 100e6.
    pub bandwidth_hz: f64,
    /// `N0`, noise power over the band, W; [`DEFAULT_NOISE_W`] when neither noise key is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_w: Option<f64>,
    /// Noise spectral density, W/Hz (the paper's unit): the noise power is then this times `B`.
    /// At most one of `noise_w` and this is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_psd_w_per_hz: Option<f64>,
    /// `Q`, bits per block. Default 5e6.
    pub block_bits: f64,
    /// `E`, energy budget of one round, J. Default 250.
    pub energy_j: f64,
    /// Mean channel power gain used when gains are drawn. Default 1e-3.
    pub path_loss: f64,
    /// A fixed power for constant-power MBA, W; when absent the power is energy-matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constant_power_w: Option<f64>,
}

/// The paper's `N0 = 0.5e-9`, read as noise power over the band (docs/choices.md).
pub const DEFAULT_NOISE_W: f64 = 0.5e-9;

impl Default for SystemParams {
    fn default() -> Self {
        SystemParams {
            bandwidth_hz: 100e6,
            noise_w: None,
            noise_psd_w_per_hz: None,
            block_bits: 5e6,
            energy_j: 250.0,
            path_loss: 1e-3,
            constant_power_w: None,
        }
    }
}

/// Each system value's accepted range `[lo, hi]` (docs/formats.md): every real downlink fits
/// well inside, and inside them the power-control formulas stay finite in f64 (SNRs, rates,
/// energies and times all far from overflow and underflow).
/// `noise_psd_w_per_hz` must also make a noise power inside `noise_w`'s range.
pub const RANGES: [(&str, f64, f64); 7] = [
    ("bandwidth_hz", 1.0, 1e12),
    ("noise_w", 1e-24, 1.0),
    ("noise_psd_w_per_hz", 1e-36, 1.0),
    ("block_bits", 1.0, 1e15),
    ("energy_j", 1e-15, 1e9),
    ("path_loss", 1e-20, 1e2),
    ("constant_power_w", 1e-12, 1e9),
];

impl SystemParams {
    /// Check every value once; the error names the field under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if self.noise_w.is_some() && self.noise_psd_w_per_hz.is_some() {
            return Err(FieldError::new(
                format!("{prefix}noise_psd_w_per_hz"),
                format!(
                    "give {prefix}noise_w (noise power, W) or {prefix}noise_psd_w_per_hz \
                     (spectral density, W/Hz), not both"
                ),
            ));
        }
        let values = [
            Some(self.bandwidth_hz),
            self.noise_w,
            self.noise_psd_w_per_hz,
            Some(self.block_bits),
            Some(self.energy_j),
            Some(self.path_loss),
            self.constant_power_w,
        ];
        for ((name, lo, hi), v) in RANGES.into_iter().zip(values) {
            if let Some(v) = v
                && !(lo..=hi).contains(&v)
            {
                return Err(FieldError::new(
                    format!("{prefix}{name}"),
                    format!(
                        "{} is out of range: need {} <= {name} <= {}",
                        number(v),
                        number(lo),
                        number(hi)
                    ),
                ));
            }
        }
        self.check_psd_power(prefix)
    }

    /// A spectral density's noise power `N0 * B` must lie in `noise_w`'s range too.
    fn check_psd_power(&self, prefix: &str) -> Result<(), FieldError> {
        let Some(psd) = self.noise_psd_w_per_hz else {
            return Ok(());
        };
        let (_, lo, hi) = RANGES[1];
        let power = self.noise_power_w();
        if (lo..=hi).contains(&power) {
            return Ok(());
        }
        Err(FieldError::new(
            format!("{prefix}noise_psd_w_per_hz"),
            format!(
                "{} W/Hz times bandwidth_hz = {} Hz makes a noise power of {} W, out of range: \
                 need {} <= noise power <= {} W",
                number(psd),
                number(self.bandwidth_hz),
                number(power),
                number(lo),
                number(hi)
            ),
        ))
    }

    /// The noise power over the band, W: `noise_w`, or `noise_psd_w_per_hz * B`, or the default.
    pub fn noise_power_w(&self) -> f64 {
        match (self.noise_w, self.noise_psd_w_per_hz) {
            (Some(n), _) => n,
            (None, Some(psd)) => psd * self.bandwidth_hz,
            (None, None) => DEFAULT_NOISE_W,
        }
    }
}

/// What one round needs from the system: `B`, `N0`, `Q`, `E`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Link {
    pub bandwidth_hz: f64,
    pub noise_w: f64,
    pub block_bits: f64,
    pub energy_j: f64,
}

impl From<&SystemParams> for Link {
    fn from(s: &SystemParams) -> Self {
        Link {
            bandwidth_hz: s.bandwidth_hz,
            noise_w: s.noise_power_w(),
            block_bits: s.block_bits,
            energy_j: s.energy_j,
        }
    }
}

impl Link {
    /// `Q ln2 / B`: a block's time is this over its rate in nats/s/Hz.
    pub fn time_unit(&self) -> f64 {
        self.block_bits * std::f64::consts::LN_2 / self.bandwidth_hz
    }
}

/// Blocks grouped by gain: `count[g]` blocks share `gain[g]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GainGroups {
    pub gain: Vec<f64>,
    pub count: Vec<u32>,
}

impl GainGroups {
    /// Group per-block gains (exact equality).
    pub fn from_gains(gains: &[f64]) -> Self {
        let mut sorted = gains.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut g = GainGroups::default();
        for x in sorted {
            if g.gain.last() == Some(&x) {
                *g.count.last_mut().expect("non-empty") += 1;
            } else {
                g.gain.push(x);
                g.count.push(1);
            }
        }
        g
    }

    /// Groups from per-device gains and how many blocks each device is the weakest requester of.
    pub fn from_counts(gains: &[f64], counts: &[u32]) -> Self {
        let mut g = GainGroups::default();
        for (&x, &c) in gains.iter().zip(counts) {
            if c > 0 {
                g.gain.push(x);
                g.count.push(c);
            }
        }
        g
    }

    pub fn num_blocks(&self) -> u64 {
        self.count.iter().map(|&c| c as u64).sum()
    }

    /// `E_min = sum_b Q N0 ln2 / (B H_b)`: the energy as `beta -> infinity`.
    pub fn min_energy(&self, link: &Link) -> f64 {
        let inv: f64 = self
            .gain
            .iter()
            .zip(&self.count)
            .map(|(&h, &c)| c as f64 / h)
            .sum();
        link.time_unit() * link.noise_w * inv
    }
}

/// Why a round cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Outage {
    /// A block's gain is zero (or not finite): no power delivers it.
    ZeroGain,
    /// `E <= E_min`: the budget cannot send every block even at vanishing rate.
    BudgetBelowMinimum { e_min_j: f64 },
    /// A fixed constant power needs more energy than the budget.
    OverBudget { needed_j: f64 },
}

/// The result of one power-control solve.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerPlan {
    /// Total downloading latency `sum_b T_b`, s; infinite on outage.
    pub latency_s: f64,
    /// Energy used, J.
    pub energy_j: f64,
    pub outage: Option<Outage>,
    /// `beta` for optimal PC, the power for constant power.
    pub level: f64,
    /// Per group: power (W) and time per block (s), in `GainGroups` order.
    pub group_power_w: Vec<f64>,
    pub group_time_s: Vec<f64>,
}

impl PowerPlan {
    pub(crate) fn outage(outage: Outage, groups: usize) -> Self {
        PowerPlan {
            latency_s: f64::INFINITY,
            energy_j: 0.0,
            outage: Some(outage),
            level: f64::NAN,
            group_power_w: vec![0.0; groups],
            group_time_s: vec![f64::INFINITY; groups],
        }
    }
}

/// Channel-adaptive unicast: every device gets its own `N` blocks at its own gain, optimal PC.
pub fn unicast(link: &Link, device_gains: &[f64], blocks_per_model: usize) -> PowerPlan {
    optimal_power(
        link,
        &GainGroups::from_gains_repeated(device_gains, blocks_per_model as u32),
    )
}

/// Plain multicast's receivers: the devices of each distinct requested task (`tasks[k]` is
/// device `k`'s), in task order, each in device order. Each list receives its task's model once.
/// Tasks only: plain multicast knows no cross-task sharing, not even of physical blocks.
pub fn multicast_groups(tasks: &[usize]) -> Vec<Vec<usize>> {
    let mut by_task: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (k, &t) in tasks.iter().enumerate() {
        by_task.entry(t).or_default().push(k);
    }
    by_task.into_values().collect()
}

/// Plain multicast: each distinct requested task's `N` blocks, sent once at the weakest gain of
/// its devices (eq. 10), optimal PC. Equals [`unicast`] when every device has its own task.
pub fn multicast(
    link: &Link,
    device_gains: &[f64],
    tasks: &[usize],
    blocks_per_model: usize,
) -> PowerPlan {
    let weakest: Vec<f64> = multicast_groups(tasks)
        .iter()
        .map(|g| {
            g.iter()
                .map(|&k| device_gains[k])
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    optimal_power(
        link,
        &GainGroups::from_gains_repeated(&weakest, blocks_per_model as u32),
    )
}

impl GainGroups {
    /// Each gain repeated `times` (unicast's `K x N` blocks).
    pub fn from_gains_repeated(gains: &[f64], times: u32) -> Self {
        let mut g = GainGroups::from_gains(gains);
        g.count.iter_mut().for_each(|c| *c *= times);
        g
    }
}

/// Per-block powers and times from a plan, for blocks whose gains are `block_gains`.
pub fn per_block(plan: &PowerPlan, groups: &GainGroups, block_gains: &[f64]) -> Vec<(f64, f64)> {
    block_gains
        .iter()
        .map(|h| match groups.gain.binary_search_by(|g| g.total_cmp(h)) {
            Ok(gi) => (plan.group_power_w[gi], plan.group_time_s[gi]),
            Err(_) => (0.0, f64::INFINITY),
        })
        .collect()
}
