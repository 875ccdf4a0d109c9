//! System parameters and solver settings from TOML (`configs/paper.toml`), with the paper's
//! Section VII-A values as documented defaults, validated once.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, Result, parse_toml, read_input};
use crate::selection::greedy::GreedyOptions;

/// The downlink and the round's budget (SPEC §1, §4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemParams {
    /// `B`, Hz. Default 100e6.
    pub bandwidth_hz: f64,
    /// `N0`, noise power over the band, W. Default 0.5e-9.
    pub noise_w: f64,
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

impl Default for SystemParams {
    fn default() -> Self {
        SystemParams {
            bandwidth_hz: 100e6,
            noise_w: 0.5e-9,
            block_bits: 5e6,
            energy_j: 250.0,
            path_loss: 1e-3,
            constant_power_w: None,
        }
    }
}

impl SystemParams {
    /// Check every value once; the error names the field under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        let positive = [
            ("bandwidth_hz", self.bandwidth_hz),
            ("noise_w", self.noise_w),
            ("block_bits", self.block_bits),
            ("energy_j", self.energy_j),
            ("path_loss", self.path_loss),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(FieldError::new(
                    format!("{prefix}{name}"),
                    format!("{v} must be finite and > 0"),
                ));
            }
        }
        if let Some(p) = self.constant_power_w
            && !(p.is_finite() && p > 0.0)
        {
            return Err(FieldError::new(
                format!("{prefix}constant_power_w"),
                format!("{p} must be finite and > 0"),
            ));
        }
        Ok(())
    }
}

/// Branch-and-bound and MIP limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExactOptions {
    /// Wall-clock limit, seconds. Default 60.
    pub time_limit_s: f64,
    /// Node limit. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_limit: Option<u64>,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions {
            time_limit_s: 60.0,
            node_limit: None,
        }
    }
}

impl ExactOptions {
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if !(self.time_limit_s.is_finite() && self.time_limit_s > 0.0) {
            return Err(FieldError::new(
                format!("{prefix}time_limit_s"),
                format!("{} must be finite and > 0", self.time_limit_s),
            ));
        }
        Ok(())
    }
}

/// Everything a config file can set. Every section is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub system: SystemParams,
    pub greedy: GreedyOptions,
    pub exact: ExactOptions,
    pub generator: super::generate::GeneratorParams,
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings> {
        let text = read_input(path)?;
        let s: Settings = parse_toml(path, &text)?;
        s.validate().map_err(|e| e.in_file(path))?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        self.system.validate("system.")?;
        self.exact.validate("exact.")?;
        self.generator.validate("generator.")
    }
}
