//! Instances (docs/formats.md): a library plus the devices' requests.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Library;
use crate::error::{FieldError, MbaError, Result, number, parse_json, read_input};

/// Smallest nonzero channel gain `H_k`: below it even the least energy a block needs overflows.
pub const MIN_GAIN: f64 = 1e-30;

/// Largest channel gain `H_k`: above it signal-to-noise ratios leave what f64 power control
/// computes (a gain above 1 is already an amplifying channel).
pub const MAX_GAIN: f64 = 1e4;

/// One device's request, with QoS resolved to an absolute score.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub task: usize,
    /// `c_k`: least assembled-model score.
    pub qos: f64,
    /// `H_k` when the instance fixes it.
    pub gain: Option<f64>,
    /// A library model already on the device (latency-constrained mode): its blocks are free.
    pub backup: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Shared so Monte Carlo trials over one library do not copy it.
    pub library: std::sync::Arc<Library>,
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryFile {
    pub blocks: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<String>>,
    pub scores: Vec<Vec<Vec<f64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_ids: Option<Vec<Vec<i64>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFile {
    pub task: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceFile {
    pub library: LibraryFile,
    pub devices: Vec<DeviceFile>,
}

impl InstanceFile {
    /// Validate into an [`Instance`]; errors name the field.
    pub fn validate(self) -> Result<Instance, FieldError> {
        let lf = self.library;
        let library = Library::new(lf.tasks, lf.scores, lf.block_ids)?;
        if lf.blocks != library.blocks() {
            return Err(FieldError::new(
                "library.blocks",
                format!(
                    "says {} but scores have {} blocks per model",
                    lf.blocks,
                    library.blocks()
                ),
            ));
        }
        if self.devices.is_empty() {
            return Err(FieldError::new(
                "devices",
                "needs at least one device (K >= 1)",
            ));
        }
        let sizes = super::size_error(library.models(), library.blocks(), self.devices.len());
        if let Some((_, reason)) = sizes {
            return Err(FieldError::new("devices", reason));
        }
        let devices = self
            .devices
            .iter()
            .enumerate()
            .map(|(k, d)| validate_device(&library, k, d))
            .collect::<Result<Vec<_>, _>>()?;
        let inst = Instance {
            library: library.into(),
            devices,
        };
        inst.check_reachable()?;
        Ok(inst)
    }
}

fn validate_device(lib: &Library, k: usize, d: &DeviceFile) -> Result<Device, FieldError> {
    let field = |f: &str| format!("devices[{k}].{f}");
    if d.task >= lib.models() {
        return Err(FieldError::new(
            field("task"),
            format!(
                "task {} out of range: the library has M = {} tasks",
                d.task,
                lib.models()
            ),
        ));
    }
    let qos = match (d.qos, d.qos_ratio) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                field("qos"),
                "give `qos` or `qos_ratio`, not both",
            ));
        }
        (None, None) => {
            return Err(FieldError::new(
                field("qos"),
                "missing: give `qos` or `qos_ratio`",
            ));
        }
        (Some(q), None) => {
            if !q.is_finite() || q < 0.0 {
                return Err(FieldError::new(
                    field("qos"),
                    format!("{} must be finite and >= 0", number(q)),
                ));
            }
            q
        }
        (None, Some(r)) => {
            if !r.is_finite() || r < 0.0 {
                return Err(FieldError::new(
                    field("qos_ratio"),
                    format!("{} must be finite and >= 0", number(r)),
                ));
            }
            r * lib.own_score(d.task)
        }
    };
    if let Some(g) = d.gain
        && !(g == 0.0 || (MIN_GAIN..=MAX_GAIN).contains(&g))
    {
        return Err(FieldError::new(
            field("gain"),
            format!(
                "{} is out of range: need 0 (no link) or {} <= gain <= {}",
                number(g),
                number(MIN_GAIN),
                number(MAX_GAIN)
            ),
        ));
    }
    if let Some(b) = d.backup
        && b >= lib.models()
    {
        return Err(FieldError::new(
            field("backup"),
            format!(
                "model {b} out of range: the library has M = {} models",
                lib.models()
            ),
        ));
    }
    Ok(Device {
        task: d.task,
        qos,
        gain: d.gain,
        backup: d.backup,
    })
}

impl Instance {
    /// Read and validate an instance file.
    pub fn load(path: &Path) -> Result<Instance> {
        let text = read_input(path)?;
        let file: InstanceFile = parse_json(path, &text)?;
        file.validate().map_err(|e| e.in_file(path))
    }

    /// `K`.
    pub fn num_devices(&self) -> usize {
        self.devices.len()
    }

    /// Every device's task `t_k`, in device order.
    pub fn tasks(&self) -> Vec<usize> {
        self.devices.iter().map(|d| d.task).collect()
    }

    /// Every device's QoS must be reachable with the whole library (docs/algorithms/).
    pub fn check_reachable(&self) -> Result<(), FieldError> {
        for (k, d) in self.devices.iter().enumerate() {
            let best = self.library.best_reachable(d.task);
            if best < d.qos {
                return Err(FieldError::new(
                    format!("devices[{k}].qos"),
                    format!(
                        "infeasible: device {k} (task {}) needs score {} but the best assembly of \
                         the whole library reaches only {}",
                        d.task,
                        number(d.qos),
                        number(best)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The devices' fixed gains, when every device has one.
    pub fn fixed_gains(&self) -> Option<Vec<f64>> {
        self.devices.iter().map(|d| d.gain).collect()
    }

    /// The file form, for `mba generate`.
    pub fn to_file(&self) -> InstanceFile {
        let lib = &self.library;
        InstanceFile {
            library: LibraryFile {
                blocks: lib.blocks(),
                tasks: Some(lib.task_names().to_vec()),
                scores: lib.nested_scores(),
                block_ids: lib.block_ids(),
            },
            devices: self
                .devices
                .iter()
                .map(|d| DeviceFile {
                    task: d.task,
                    qos: Some(d.qos),
                    qos_ratio: None,
                    gain: d.gain,
                    backup: d.backup,
                })
                .collect(),
        }
    }

    /// Write as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.to_file()).expect("instance serialises");
        std::fs::write(path, text).map_err(|e| MbaError::io(path, e))
    }
}
