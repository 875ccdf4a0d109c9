//! f32 CPU twins of the WGSL kernels, one module per shader file (`common`, `power`, `reduce`,
//! `greedy` for `shaders/common.wgsl`, `power.wgsl`, `reduce.wgsl`, `greedy.wgsl`). Each public
//! function has the name of the WGSL function it mirrors and the same arithmetic and branches,
//! so a kernel and its twin differ only by the last bits of `exp`/`log` (and of `/`). The f64 reference is the CPU code
//! (`crate::power`, `crate::selection::greedy`).

pub mod common;
pub mod greedy;
pub mod power;
pub mod reduce;
