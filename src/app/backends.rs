//! Backend choice (`--backend`, `study.backend`) and the worker pool (`--threads`): the one
//! place where a choice becomes a concrete backend.

use mba::backend::{Backend, CpuBackend};
use mba::error::{MbaError, Result};
use mba::gpu::{GpuBackend, hardware_adapter};
use mba::study::BackendChoice;

/// `auto` = a hardware GPU adapter when there is one, else the CPU path; `gpu` forces wgpu
/// (software Vulkan too); `cpu` the f64 reference.
pub fn open(choice: BackendChoice) -> Result<Box<dyn Backend>> {
    Ok(match choice {
        BackendChoice::Cpu => Box::new(CpuBackend),
        BackendChoice::Gpu => Box::new(GpuBackend::new(true)?),
        BackendChoice::Auto => match hardware_adapter() {
            Some(_) => Box::new(GpuBackend::new(false)?),
            None => Box::new(CpuBackend),
        },
    })
}

/// Most worker threads `--threads` may ask for: far above any machine's cores, and low enough
/// that starting the pool cannot exhaust the process's threads or memory.
pub const MAX_THREADS: usize = 1024;

/// Run `f` on a rayon pool of `threads` threads (the global pool when `None`).
pub fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        None => Ok(f()),
        Some(n) if n == 0 || n > MAX_THREADS => Err(MbaError::flag(
            "--threads",
            format!("{n} is out of range: need 1 <= threads <= {MAX_THREADS}"),
        )),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(|pool| pool.install(f))
            .map_err(|e| MbaError::flag("--threads", format!("cannot start {n} threads: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without `MBA_SKIP_GPU=1` a missing adapter fails the forced-GPU check loudly.
    #[test]
    fn backend_choice_semantics() {
        assert!(open(BackendChoice::Cpu).unwrap().name().starts_with("cpu"));
        let auto = open(BackendChoice::Auto).unwrap().name();
        match hardware_adapter() {
            Some(hw) => assert!(auto.contains(&hw), "auto picked {auto}, hardware {hw}"),
            None => assert!(auto.starts_with("cpu"), "auto without hardware: {auto}"),
        }
        if std::env::var("MBA_SKIP_GPU").as_deref() != Ok("1") {
            let forced = open(BackendChoice::Gpu)
                .unwrap_or_else(|e| panic!("no GPU adapter ({e}); set MBA_SKIP_GPU=1 to skip"))
                .name();
            assert!(forced.starts_with("gpu"), "{forced}");
        }
    }

    #[test]
    fn zero_threads_is_a_flag_error() {
        let e = with_threads(Some(0), || ()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--threads"), "{e}");
        let e = with_threads(Some(usize::MAX), || ()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("need 1 <= threads <= 1024"), "{e}");
    }
}
