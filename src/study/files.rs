//! Writing output files safely.

use std::path::Path;

use crate::error::{MbaError, Result};

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// crashed or killed shard never leaves a half-written file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| MbaError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| MbaError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| MbaError::io(path, e))
}
