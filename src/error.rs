//! Typed errors, the foundation every layer uses. Bad input maps to exit code 2, everything
//! else to 1.

use std::path::Path;

/// Where a bad value sits: the file and the field path inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Attach the file the field came from.
    pub fn in_file(self, file: impl AsRef<Path>) -> MbaError {
        MbaError::Input {
            file: file.as_ref().display().to_string(),
            field: self.field,
            reason: self.reason,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MbaError {
    /// A value in an input file (or a flag) is malformed or out of range.
    #[error("{file}: field `{field}`: {reason}")]
    Input {
        file: String,
        field: String,
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    /// No selection meets every device's QoS.
    #[error("infeasible: {reason}")]
    Infeasible { reason: String },
    /// A selection method produced an assignment that the checker rejects: a bug, not the input.
    #[error("{method} returned an invalid selection: {source}")]
    Check {
        method: &'static str,
        source: CheckError,
    },
    /// HiGHS failed, or ended in a status the calling stage cannot use.
    #[error("HiGHS {stage}: {failure}")]
    Highs {
        stage: &'static str,
        failure: HighsFailure,
    },
    /// A backend broke the `Backend` contract (e.g. returned the wrong number of results).
    #[error("backend {backend}: {what}")]
    Backend { backend: String, what: String },
    /// The GPU backend could not be used.
    #[error("gpu: {0}")]
    Gpu(#[from] GpuError),
    /// Where in a study a computation failed.
    #[error("{scheme} at point {point}, trial {trial}: {source}")]
    InTrial {
        scheme: &'static str,
        point: usize,
        trial: u64,
        source: Box<MbaError>,
    },
}

/// Why an assignment is not a valid selection (the checker, `Selection::verified`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    #[error("assignment has {got} devices, the instance has {want}")]
    DeviceCount { got: usize, want: usize },
    #[error("device {device}: {got} positions assigned, the architecture has {want} (C1)")]
    Architecture {
        device: usize,
        got: usize,
        want: usize,
    },
    #[error("device {device} position {position}: model {model} is not in the library")]
    UnknownModel {
        device: usize,
        position: usize,
        model: usize,
    },
    #[error("device {device}: assembled score {score} misses its QoS {qos} (C2)")]
    Qos { device: usize, score: f64, qos: f64 },
}

/// How a HiGHS call went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HighsFailure {
    /// The call itself returned an error status.
    #[error("call failed with {0:?}")]
    Call(highs::HighsStatus),
    /// The solve ended with a model status the stage does not handle.
    #[error("ended with status {0:?}")]
    Status(highs::HighsModelStatus),
    /// The solve ended without any feasible solution.
    #[error("found no solution (status {0:?})")]
    NoSolution(highs::HighsModelStatus),
}

/// Why the GPU backend failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpuError {
    /// No adapter of the kind asked for.
    #[error("{0}")]
    NoAdapter(String),
    /// The adapter refused a device.
    #[error("request_device on {adapter}: {reason}")]
    Device { adapter: String, reason: String },
    /// Waiting for or mapping a result buffer failed.
    #[error("readback ({stage}): {reason}")]
    Readback { stage: &'static str, reason: String },
    /// A worker panicked while it held a shared GPU resource.
    #[error("a GPU worker panicked while holding the {0}")]
    Poisoned(&'static str),
    /// A job the kernels cannot take (inconsistent offsets or counts).
    #[error("malformed job: {0}")]
    MalformedJob(String),
}

impl MbaError {
    /// Exit code: 2 for bad input, 1 for anything else.
    pub fn exit_code(&self) -> i32 {
        match self.root() {
            MbaError::Input { .. } | MbaError::Infeasible { .. } => 2,
            _ => 1,
        }
    }

    /// The error under any study context ([`MbaError::InTrial`]).
    pub fn root(&self) -> &MbaError {
        match self {
            MbaError::InTrial { source, .. } => source.root(),
            other => other,
        }
    }

    /// An exact solver could not deliver (HiGHS failed): callers may go on without it.
    pub fn is_solver_failure(&self) -> bool {
        matches!(self.root(), MbaError::Highs { .. })
    }

    /// A HiGHS failure in `stage`.
    pub fn highs(stage: &'static str, failure: HighsFailure) -> Self {
        MbaError::Highs { stage, failure }
    }

    pub fn io(file: impl AsRef<Path>, source: std::io::Error) -> Self {
        MbaError::Io {
            file: file.as_ref().display().to_string(),
            source,
        }
    }

    /// A bad command-line flag, reported like a bad field.
    pub fn flag(flag: &str, reason: impl Into<String>) -> Self {
        MbaError::Input {
            file: "command line".into(),
            field: flag.into(),
            reason: reason.into(),
        }
    }
}

/// A number as an error message shows it: plain when ordinary, `1e300` style when huge or tiny.
pub fn number(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

pub type Result<T, E = MbaError> = std::result::Result<T, E>;

/// Read a file, mapping failures to [`MbaError::Io`] (a missing input file is bad input: exit 2).
pub fn read_input(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| MbaError::Input {
        file: path.display().to_string(),
        field: "(file)".into(),
        reason: format!("cannot read: {e}"),
    })
}

/// Parse JSON with the failing field's path in the error.
pub fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = path_or_root(e.path().to_string());
        let inner = e.into_inner();
        FieldError::new(field, inner.to_string()).in_file(path)
    })
}

/// Parse TOML with the failing field's path in the error.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| FieldError::new("(syntax)", e.to_string().trim().to_string()).in_file(path))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = path_or_root(e.path().to_string());
        let inner = e.into_inner();
        FieldError::new(field, inner.message().to_string()).in_file(path)
    })
}

fn path_or_root(p: String) -> String {
    if p == "." || p.is_empty() {
        "(root)".into()
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_trial(e: MbaError) -> MbaError {
        MbaError::InTrial {
            scheme: "mba_bnb",
            point: 1,
            trial: 2,
            source: Box::new(e),
        }
    }

    #[test]
    fn exit_codes_and_kinds_follow_the_variant_under_any_context() {
        let input = MbaError::flag("--x", "bad");
        let highs = MbaError::highs("MIP", HighsFailure::Call(highs::HighsStatus::Error));
        let check = MbaError::Check {
            method: "greedy",
            source: CheckError::DeviceCount { got: 1, want: 2 },
        };
        let infeasible = MbaError::Infeasible { reason: "r".into() };
        assert_eq!(in_trial(input).exit_code(), 2);
        assert_eq!(in_trial(infeasible).exit_code(), 2);
        assert_eq!(check.exit_code(), 1);
        assert!(!check.is_solver_failure());
        let highs = in_trial(highs);
        assert_eq!(highs.exit_code(), 1);
        assert!(highs.is_solver_failure());
        let text = highs.to_string();
        assert!(
            text.starts_with("mba_bnb at point 1, trial 2: HiGHS MIP"),
            "{text}"
        );
    }
}
