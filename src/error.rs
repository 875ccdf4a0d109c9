//! Typed errors. Bad input maps to exit code 2, everything else to 1.

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
    /// A solver failed for a reason that is not the input's fault.
    #[error("solver: {0}")]
    Solver(String),
    /// The GPU backend could not be used.
    #[error("gpu: {0}")]
    Gpu(String),
}

impl MbaError {
    /// Exit code per the SPEC: 2 for bad input, 1 for anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            MbaError::Input { .. } => 2,
            _ => 1,
        }
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
