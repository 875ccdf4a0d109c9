//! Exact parameter selection (SPEC §2.2): compact branch and bound with HiGHS LP bounds, and a
//! plain HiGHS MIP of (P2.1) as the cross-check.

use serde::Serialize;

use super::Selection;
use crate::error::{MbaError, Result};
use crate::library::Instance;
use crate::library::config::ExactOptions;

/// An exact solve's outcome: the best selection found and what is proven about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExactResult {
    pub selection: Selection,
    /// Proven lower bound on `|Y|`.
    pub lower_bound: usize,
    pub optimal: bool,
    pub nodes: u64,
    pub lp_solves: u64,
    pub seconds: f64,
}

/// A bound every selection meets: each position needs at least one block.
pub fn trivial_lower_bound(inst: &Instance) -> usize {
    inst.library.blocks()
}

/// The paper's Algorithm 2, started from `incumbent`.
pub fn branch_and_bound(
    _inst: &Instance,
    _opts: &ExactOptions,
    _incumbent: Selection,
) -> Result<ExactResult> {
    Err(MbaError::Solver("branch and bound is not built yet".into()))
}

/// (P2.1) handed to the HiGHS MIP solver as it is.
pub fn highs_mip(
    _inst: &Instance,
    _opts: &ExactOptions,
    _incumbent: Selection,
) -> Result<ExactResult> {
    Err(MbaError::Solver("HiGHS MIP is not built yet".into()))
}
