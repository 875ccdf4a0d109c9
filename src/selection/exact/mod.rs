//! Exact parameter selection (docs/algorithms/exact.md): compact branch and bound with HiGHS LP bounds, then
//! HiGHS MIP on the compact model, and a plain HiGHS MIP of (P2.1) as the cross-check.

mod bnb;
pub mod colgen;
mod cuts;
pub mod groups;
mod mckp;
mod mip;
pub mod model;

use serde::{Deserialize, Serialize};

use super::Selection;
use crate::error::{FieldError, Result};
use crate::library::Instance;

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

/// Exact selection in stages, from `incumbent` (the greedy result; an incumbent that does not
/// verify is replaced by a feasible one built here): the class bound by column generation (at
/// most 40% of the time limit, 20% when the classes form groups; it often proves optimality
/// alone), the group bound where tasks cluster (until 70%), HiGHS MIP on the compact model
/// until 90%, then the paper's Algorithm 2 for the rest.
pub fn branch_and_bound(
    inst: &Instance,
    opts: &ExactOptions,
    incumbent: Selection,
) -> Result<ExactResult> {
    bnb::run(inst, opts, incumbent, &|_| {})
}

/// [`branch_and_bound`] that hands a progress line to `log` every few seconds of a long solve.
pub fn branch_and_bound_logged(
    inst: &Instance,
    opts: &ExactOptions,
    incumbent: Selection,
    log: &dyn Fn(&str),
) -> Result<ExactResult> {
    bnb::run(inst, opts, incumbent, log)
}

/// The paper's Algorithm 2 alone: LP-bounded branch and bound on the compact model (with cover
/// cuts, strong branching, reduced-cost fixing and rounding), without the class bound and the
/// MIP stage of [`branch_and_bound`]. For comparisons with the paper, and to test the search.
pub fn lp_branch_and_bound(
    inst: &Instance,
    opts: &ExactOptions,
    incumbent: Selection,
) -> Result<ExactResult> {
    bnb::run_lp_only(inst, opts, incumbent)
}

/// (P2.1) handed to the HiGHS MIP solver as it is (one thread), with `incumbent` as its start.
pub fn highs_mip(
    inst: &Instance,
    opts: &ExactOptions,
    incumbent: Selection,
) -> Result<ExactResult> {
    mip::run(inst, opts, incumbent)
}

impl ExactResult {
    /// Relative gap `(|Y| - lower bound) / |Y|`.
    pub fn gap(&self) -> f64 {
        let best = self.selection.num_blocks();
        if best == 0 {
            0.0
        } else {
            best.saturating_sub(self.lower_bound) as f64 / best as f64
        }
    }
}
