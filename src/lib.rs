//! `mba`: multi-user AI model downloading by model broadcasting and assembling.
//!
//! The modules follow the paper: [`library`] (the AI library, instances, generator),
//! [`selection`] (parameter selection, Section V), [`power`] (power control, Section VI),
//! [`channel`] (fading and Monte Carlo), [`solve`] (one instance end to end) and [`latency`]
//! (latency-constrained downloading with backup models, Section VII-E).

pub mod backend;
pub mod channel;
pub mod error;
pub mod latency;
pub mod library;
pub mod power;
pub mod selection;
pub mod solve;
pub mod study;

pub use error::{MbaError, Result};
pub mod gpu;
