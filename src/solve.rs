//! One instance end to end (`mba solve`): parameter selection, then every power-control scheme.

use std::time::Instant;

use serde::Serialize;

use crate::channel::rayleigh_gains;
use crate::error::{MbaError, Result};
use crate::library::Instance;
use crate::power::{
    GainGroups, Link, Outage, PowerPlan, SystemParams, constant_power, multicast, optimal_power,
    per_block, unicast,
};
use crate::selection::exact::{ExactOptions, ExactResult, StoppedBy, WorkDone};
use crate::selection::greedy::{GreedyOptions, greedy};
use crate::selection::lagrangian::{LagrangianOptions, LagrangianResult, lagrangian_from};
use crate::selection::{Selection, exact};

/// Which parameter-selection algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PsMethod {
    /// Algorithm 1 (greedy).
    #[default]
    Greedy,
    /// Algorithm 2 (branch and bound with HiGHS LP bounds).
    Bnb,
    /// Plain HiGHS MIP on (P2.1).
    Mip,
    /// Near-optimal selection at scale: Lagrangian prices, local search and a walk, with a
    /// lower bound (`selection::lagrangian`).
    Lagrangian,
}

/// The settings of every selection method (`[greedy]`, `[exact]`, `[lagrangian]`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SelectOptions {
    pub greedy: GreedyOptions,
    pub exact: ExactOptions,
    pub lagrangian: LagrangianOptions,
}

/// The PS part of a solution (`ps` in the solution JSON, docs/formats.md).
#[derive(Debug, Clone, Serialize)]
pub struct PsReport {
    pub method: PsMethod,
    pub blocks: usize,
    pub broadcast: Vec<(usize, usize)>,
    pub assignment: Vec<Vec<usize>>,
    pub scores: Vec<f64>,
    pub lower_bound: usize,
    pub optimal: bool,
    pub gap: f64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_order: Option<crate::selection::greedy::ChainOrder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lp_solves: Option<u64>,
    /// Why an exact method ended unproven: `work`, `node_limit` or `time` (not reproducible).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<StoppedBy>,
    /// The work an exact method counted (the same on every machine unless stopped by time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkDone>,
    /// `bnb`/`mip` only: the incumbent the exact solve started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<ExactStart>,
}

/// Which exact method [`exact_from_best_start`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExactMethod {
    /// The staged branch and bound (`exact::branch_and_bound`).
    Bnb,
    /// The plain HiGHS MIP (`exact::highs_mip`).
    Mip,
}

/// The incumbent an exact solve started from (`ps.start` in the solution JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExactStart {
    /// `greedy` or `lagrangian`: the smaller of the two (`lagrangian` on a tie).
    pub from: PsMethod,
    /// Its `|Y|`.
    pub blocks: usize,
    /// Lagrangian's proven lower bound, which the exact result's bound is never below.
    pub lower_bound: usize,
    /// Whether that bound proved the start optimal, so that no exact solve was run.
    pub proven: bool,
}

/// One sent block under optimal PC.
#[derive(Debug, Clone, Serialize)]
pub struct BlockReport {
    pub model: usize,
    pub position: usize,
    pub gain: f64,
    pub power_w: f64,
    pub time_s: f64,
    pub requesters: Vec<usize>,
}

/// One PC scheme's outcome; `latency_s` is `null` on outage.
#[derive(Debug, Clone, Serialize)]
pub struct SchemeReport {
    pub latency_s: Option<f64>,
    pub energy_j: f64,
    pub outage: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_reason: Option<Outage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<BlockReport>>,
}

impl SchemeReport {
    fn from_plan(plan: &PowerPlan) -> Self {
        SchemeReport {
            latency_s: plan.outage.is_none().then_some(plan.latency_s),
            energy_j: plan.energy_j,
            outage: plan.outage.is_some(),
            outage_reason: plan.outage,
            blocks: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Schemes {
    pub mba: SchemeReport,
    pub mba_constant_power: SchemeReport,
    pub unicast: SchemeReport,
    /// Plain multicast: each requested task's model once to all its devices.
    pub multicast: SchemeReport,
}

/// A whole solution (what `mba solve --json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct SolveReport {
    pub ps: PsReport,
    pub gains: Vec<f64>,
    pub schemes: Schemes,
}

/// Device gains: the instance's where given, the rest Rayleigh-drawn (mean `path_loss`) from
/// `channel_seed`.
pub fn device_gains(inst: &Instance, path_loss: f64, channel_seed: u64) -> Vec<f64> {
    let mut drawn = vec![0.0; inst.num_devices()];
    rayleigh_gains(channel_seed, 0, 0, 0, path_loss, &mut drawn);
    inst.devices
        .iter()
        .zip(drawn)
        .map(|(d, g)| d.gain.unwrap_or(g))
        .collect()
}

/// Run parameter selection by `method` (greedy first; greedy and Lagrangian start the exact
/// methods).
pub fn select(inst: &Instance, method: PsMethod, opts: &SelectOptions) -> Result<PsReport> {
    select_logged(inst, method, opts, &|_| {})
}

/// [`select`] that hands the exact solver's progress lines to `log`.
pub fn select_logged(
    inst: &Instance,
    method: PsMethod,
    opts: &SelectOptions,
    log: &dyn Fn(&str),
) -> Result<PsReport> {
    let start = Instant::now();
    let exact_opts = &opts.exact;
    let greedy_result = greedy(inst, &opts.greedy).map_err(|source| MbaError::Check {
        method: "greedy",
        source,
    })?;
    let mut report = match method {
        PsMethod::Greedy => {
            let lb = exact::trivial_lower_bound(inst);
            let mut r = PsReport::new(method, greedy_result.selection, lb);
            r.chain_order = Some(greedy_result.chain_order);
            r
        }
        PsMethod::Bnb | PsMethod::Mip => {
            let which = if method == PsMethod::Bnb {
                ExactMethod::Bnb
            } else {
                ExactMethod::Mip
            };
            let g = greedy_result.selection;
            let lag = lagrangian_from(inst, &opts.lagrangian, g.clone())?;
            let (r, start) = exact_from_best_start(inst, which, exact_opts, g, &lag, log)?;
            PsReport {
                start: Some(start),
                ..PsReport::from_exact(method, r)
            }
        }
        PsMethod::Lagrangian => {
            let r = lagrangian_from(inst, &opts.lagrangian, greedy_result.selection)?;
            PsReport::new(method, r.selection, r.lower_bound)
        }
    };
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

impl PsReport {
    /// The report of a selection with a proven lower bound `lb`.
    fn new(method: PsMethod, sel: Selection, lb: usize) -> PsReport {
        PsReport {
            method,
            blocks: sel.num_blocks(),
            gap: gap(sel.num_blocks(), lb),
            optimal: sel.num_blocks() == lb,
            broadcast: sel.broadcast,
            assignment: sel.assignment,
            scores: sel.scores,
            lower_bound: lb,
            seconds: 0.0,
            chain_order: None,
            nodes: None,
            lp_solves: None,
            stopped_by: None,
            work: None,
            start: None,
        }
    }

    fn from_exact(method: PsMethod, r: ExactResult) -> PsReport {
        PsReport {
            nodes: Some(r.nodes),
            lp_solves: Some(r.lp_solves),
            stopped_by: r.stopped_by,
            work: Some(r.work),
            ..PsReport::new(method, r.selection, r.lower_bound)
        }
    }
}

pub use crate::selection::gap;

/// Exact selection from the better of the greedy and Lagrangian selections, its bound never
/// below Lagrangian's (both are proven bounds of the same instance). When Lagrangian's bound
/// already proves its answer optimal no exact solve runs: none could find less or prove more.
pub fn exact_from_best_start(
    inst: &Instance,
    method: ExactMethod,
    opts: &ExactOptions,
    greedy: Selection,
    lag: &LagrangianResult,
    log: &dyn Fn(&str),
) -> Result<(ExactResult, ExactStart)> {
    // Ties go to Lagrangian: it does not depend on the backend that ran greedy in a study.
    let (from, sel) = if greedy.num_blocks() < lag.selection.num_blocks() {
        (PsMethod::Greedy, greedy)
    } else {
        (PsMethod::Lagrangian, lag.selection.clone())
    };
    let start = ExactStart {
        from,
        blocks: sel.num_blocks(),
        lower_bound: lag.lower_bound,
        proven: lag.lower_bound >= sel.num_blocks(),
    };
    if start.proven {
        log("exact: the Lagrangian bound proves the start optimal; no exact solve needed");
        return Ok((proven_without_search(sel), start));
    }
    let r = match method {
        ExactMethod::Bnb => exact::branch_and_bound_logged(inst, opts, sel, log)?,
        ExactMethod::Mip => exact::highs_mip(inst, opts, sel)?,
    };
    Ok((with_bound(r, lag.lower_bound), start))
}

/// The result of an exact solve that was not needed: `sel` is proven optimal already.
fn proven_without_search(sel: Selection) -> ExactResult {
    ExactResult {
        lower_bound: sel.num_blocks(),
        optimal: true,
        selection: sel,
        nodes: 0,
        lp_solves: 0,
        seconds: 0.0,
        stopped_by: None,
        work: WorkDone::default(),
    }
}

/// `r` with the better of its own bound and another proven bound `lb` of the same instance.
/// `stopped_by` is kept even when `lb` proves optimality: a search stopped by the clock found
/// its selection at a time-dependent moment, so the result stays marked as not reproducible.
fn with_bound(r: ExactResult, lb: usize) -> ExactResult {
    let blocks = r.selection.num_blocks();
    let lower_bound = r.lower_bound.max(lb).min(blocks);
    ExactResult {
        lower_bound,
        optimal: lower_bound >= blocks,
        ..r
    }
}

/// PS, then optimal PC, constant-power MBA, unicast and plain multicast, for the given device
/// gains.
pub fn solve_with_gains(
    inst: &Instance,
    system: &SystemParams,
    ps: PsReport,
    gains: Vec<f64>,
) -> SolveReport {
    let link = Link::from(system);
    let sel = Selection {
        assignment: ps.assignment.clone(),
        broadcast: ps.broadcast.clone(),
        scores: ps.scores.clone(),
    };
    let requesters = sel.requesters();
    let block_gains = sel.block_gains(&gains);
    let groups = GainGroups::from_gains(&block_gains);
    let mba_plan = optimal_power(&link, &groups);
    let mut mba = SchemeReport::from_plan(&mba_plan);
    let powers = per_block(&mba_plan, &groups, &block_gains);
    mba.blocks = Some(
        sel.broadcast
            .iter()
            .zip(&block_gains)
            .zip(powers)
            .zip(requesters)
            .map(
                |((((model, position), &gain), (power_w, time_s)), requesters)| BlockReport {
                    model: *model,
                    position: *position,
                    gain,
                    power_w,
                    time_s,
                    requesters,
                },
            )
            .collect(),
    );
    let constant = constant_power(&link, &groups, system.constant_power_w);
    let uni = unicast(&link, &gains, inst.library.blocks());
    let multi = multicast(&link, &gains, &inst.tasks(), inst.library.blocks());
    SolveReport {
        ps,
        gains,
        schemes: Schemes {
            mba,
            mba_constant_power: SchemeReport::from_plan(&constant),
            unicast: SchemeReport::from_plan(&uni),
            multicast: SchemeReport::from_plan(&multi),
        },
    }
}
