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
    let written = std::fs::write(&tmp, bytes)
        .map_err(|e| MbaError::io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| MbaError::io(path, e)));
    if written.is_err() {
        // The temporary file is ours alone; a failed write or rename must not leave it behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rename onto a folder fails: the error names the target and no temporary file is left.
    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("mba-files-{}", std::process::id()));
        let target = dir.join("results.csv");
        std::fs::create_dir_all(target.join("blocker")).unwrap();
        let e = write_atomic(&target, b"x").unwrap_err();
        assert!(e.to_string().contains("results.csv"), "{e}");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["results.csv"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
