//! Exact parameter selection (docs/algorithms/exact.md): compact branch and bound with HiGHS LP bounds, then
//! HiGHS MIP on the compact model, and a plain HiGHS MIP of (P2.1) as the cross-check.

mod bnb;
pub mod colgen;
mod cuts;
pub mod groups;
mod mckp;
mod mip;
pub mod model;
pub mod work;

use serde::{Deserialize, Serialize};

pub use self::work::{StoppedBy, WorkDone};
use super::Selection;
use crate::error::{FieldError, Result, number};
use crate::library::Instance;

/// Limits of exact selection (`[exact]` in a settings or study file). The work budget decides
/// where a solve stops, so results are the same on every machine; the time limit is a safety net.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExactOptions {
    /// Work budget in units of about one second of `bnb` on a 2-core machine at the paper's
    /// scale (docs/algorithms/exact.md says what a unit counts). Default 60.
    pub work_limit: f64,
    /// Wall-clock safety net, seconds: a solve it stops is flagged `stopped_by: "time"` and is
    /// not reproducible. Default 3600.
    pub time_limit_s: f64,
    /// Limit on branch-and-bound nodes (HiGHS's and ours together). Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_limit: Option<u64>,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions {
            work_limit: 60.0,
            time_limit_s: 3600.0,
            node_limit: None,
        }
    }
}

/// The largest work budget accepted (about 11 days of solving).
pub const MAX_WORK_LIMIT: f64 = 1e6;

impl ExactOptions {
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if !(self.work_limit.is_finite()
            && self.work_limit > 0.0
            && self.work_limit <= MAX_WORK_LIMIT)
        {
            return Err(FieldError::new(
                format!("{prefix}work_limit"),
                format!(
                    "{} is out of range: need 0 < work_limit <= {MAX_WORK_LIMIT:e}",
                    number(self.work_limit)
                ),
            ));
        }
        if !(self.time_limit_s.is_finite() && self.time_limit_s > 0.0 && self.time_limit_s <= 1e9) {
            return Err(FieldError::new(
                format!("{prefix}time_limit_s"),
                format!(
                    "{} is out of range: need 0 < time_limit_s <= 1e9",
                    number(self.time_limit_s)
                ),
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
    /// Why the solve ended unproven (`None` when proven optimal).
    pub stopped_by: Option<StoppedBy>,
    /// The work it counted.
    pub work: WorkDone,
}

/// A bound every selection meets: each position needs at least one block.
pub fn trivial_lower_bound(inst: &Instance) -> usize {
    inst.library.blocks()
}

/// Exact selection in stages, from `incumbent` (the greedy result; an incumbent that does not
/// verify is replaced by a feasible one built here), each with a share of the work budget: the
/// class bound by column generation (up to 40% of the budget, 20% when the classes form
/// groups; it often proves optimality alone), the group bound where tasks cluster (up to 70%),
/// HiGHS MIP on the compact model (up to 90%), then the paper's Algorithm 2 for the rest.
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
        crate::selection::gap(self.selection.num_blocks(), self.lower_bound)
    }
}
