//! Latency-constrained downloading (the paper's Section VII-E, Fig. 9): under a round latency
//! budget `T` and the energy budget `E`, choose what to send and how every device assembles its
//! model (one block per position, received or from its backup model) to maximise the smallest
//! score ratio over devices (or the total score). QoS is not a constraint here.
//!
//! The latency of a sent set under optimal power control depends only on how many blocks go at
//! each gain, and a block's gain is its weakest requester's. So a plan is summarised by `u[r]`,
//! the number of blocks whose weakest requester is the `r`-th weakest device; at most one per
//! device and position. `dp` is exact: a dynamic program over positions that keeps, for every
//! `u`, the Pareto front of the devices' scores; the plan is then the best front entry whose
//! `u` fits the budget (docs/algorithms/latency.md). It runs while its work stays within
//! [`LatencyOptions::exact_work`]; beyond that, `greedy` improves the plan one block at a time
//! (no optimality guarantee).

mod dp;
mod greedy;
mod prep;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, number};
use crate::library::Instance;
use crate::power::{GainGroups, Link, optimal_power};

use prep::Prep;

/// What a latency-constrained plan maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The smallest score ratio over devices (assembled score / own task model's score).
    #[default]
    MinRatio,
    /// The sum of the devices' assembled scores.
    TotalScore,
}

/// How blocks reach the devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Model broadcasting and assembling: any library block, sent once to all who use it.
    Mba,
    /// Each device only its own task model's blocks, sent to it alone.
    Unicast,
}

/// Which algorithm produced a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The exact dynamic program.
    Exact,
    /// The greedy heuristic (the exact program needed more than `exact_work`).
    Greedy,
}

/// `[latency]`: settings of latency-constrained downloading (docs/formats.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyOptions {
    /// The round latency budget `T`, s. Studies sweep it as `latency_budget_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_s: Option<f64>,
    /// Default `min-ratio`.
    pub objective: Objective,
    /// Most score vectors the exact program may create before the greedy heuristic takes over.
    /// Default 2e6 (about 0.5 s); it decides the method, never the clock.
    pub exact_work: f64,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        LatencyOptions {
            budget_s: None,
            objective: Objective::MinRatio,
            exact_work: 2e6,
        }
    }
}

/// Largest latency budget accepted, s.
pub const MAX_BUDGET_S: f64 = 1e9;
/// Largest `exact_work`: each unit holds a score vector (about 50 bytes at K = 4), so beyond
/// this the program's memory, not its answer, is the limit.
pub const MAX_EXACT_WORK: f64 = 1e8;

/// Largest `K N M` planned: the heuristic scans every device, position and block per move, so
/// its cost grows as `(K N M)^2`; this keeps a plan within seconds (the paper's K = M = 21,
/// N = 24 is 10584).
pub const MAX_PLAN_SIZE: f64 = 5e4;

/// Why an instance of this size cannot be planned under a latency budget, if it cannot.
pub fn check_size(models: usize, blocks: usize, devices: usize) -> Result<(), String> {
    let size = models as f64 * blocks as f64 * devices as f64;
    if size <= MAX_PLAN_SIZE {
        return Ok(());
    }
    Err(format!(
        "latency-constrained planning supports K N M <= {}, this instance has K N M = {} (K = \
         {devices}, N = {blocks}, M = {models})",
        number(MAX_PLAN_SIZE),
        number(size)
    ))
}

impl LatencyOptions {
    /// Check every value once; the error names the field under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if let Some(t) = self.budget_s {
            check_budget(t).map_err(|r| FieldError::new(format!("{prefix}budget_s"), r))?;
        }
        let w = self.exact_work;
        if !(0.0..=MAX_EXACT_WORK).contains(&w) {
            return Err(FieldError::new(
                format!("{prefix}exact_work"),
                format!(
                    "{} is out of range: need 0 <= exact_work <= {}",
                    number(w),
                    number(MAX_EXACT_WORK)
                ),
            ));
        }
        Ok(())
    }
}

/// Why a latency budget is not accepted, if it is not.
pub fn check_budget(t: f64) -> Result<(), String> {
    if (0.0..=MAX_BUDGET_S).contains(&t) {
        Ok(())
    } else {
        Err(format!(
            "{} is out of range: need 0 <= latency budget <= {} s",
            number(t),
            number(MAX_BUDGET_S)
        ))
    }
}

/// One sent block of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentBlock {
    pub model: usize,
    pub position: usize,
    /// The weakest requester's gain.
    pub gain: f64,
    pub requesters: Vec<usize>,
}

/// A latency-constrained plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyPlan {
    pub delivery: Delivery,
    pub method: Method,
    /// Whether the plan is proven best (the exact program ran).
    pub optimal: bool,
    /// `assignment[k][n]`: the model whose block device `k` uses at `n` (lowest copy's index),
    /// received or from its backup; `None` where it has nothing (no backup, nothing sent).
    pub assignment: Vec<Vec<Option<usize>>>,
    /// Blocks sent, with their requesters (unicast sends a copy per device).
    pub sent: Vec<SentBlock>,
    /// Assembled score of each device (0 for an incomplete model).
    pub scores: Vec<f64>,
    /// Score over the own task model's score (1 where that score is 0).
    pub ratios: Vec<f64>,
    /// The objective's value.
    pub objective: f64,
    /// Latency of the sent blocks under optimal power control, s (0 when nothing is sent).
    pub latency_s: f64,
    pub energy_j: f64,
}

/// Plans of one instance and delivery for many gains and budgets: the exact program's table
/// depends on the gains only through their order, so it is built once per order and reused.
pub struct Planner {
    prep: Prep,
    opts: LatencyOptions,
    /// Exact tables by device order (`None`: over the work limit, greedy instead).
    tables: HashMap<Vec<usize>, Option<dp::Table>>,
}

impl Planner {
    /// A planner for an instance within [`MAX_PLAN_SIZE`] (the error says why not).
    pub fn new(
        inst: &Instance,
        delivery: Delivery,
        opts: &LatencyOptions,
    ) -> Result<Self, FieldError> {
        let lib = &inst.library;
        check_size(lib.models(), lib.blocks(), inst.num_devices())
            .map_err(|r| FieldError::new("devices", r))?;
        Ok(Planner {
            prep: Prep::new(inst, delivery),
            opts: *opts,
            tables: HashMap::new(),
        })
    }

    /// The best plan for `gains` within `budget_s` (checked by [`check_budget`]).
    pub fn plan(&mut self, gains: &[f64], link: &Link, budget_s: f64) -> LatencyPlan {
        let order = device_order(gains);
        let prep = &self.prep;
        let (objective, work) = (self.opts.objective, self.opts.exact_work);
        let table = self
            .tables
            .entry(order.clone())
            .or_insert_with(|| dp::Table::build(prep, &order, objective, work));
        let fits = Fits::new(link, gains, &order, budget_s);
        let (choices, method) = match table {
            Some(t) => (t.best(prep, &fits), Method::Exact),
            None => (greedy::plan(prep, &order, objective, &fits), Method::Greedy),
        };
        prep.report(&choices, gains, link, objective, method)
    }
}

/// One plan (see [`Planner`] for many).
pub fn plan(
    inst: &Instance,
    gains: &[f64],
    link: &Link,
    budget_s: f64,
    delivery: Delivery,
    opts: &LatencyOptions,
) -> Result<LatencyPlan, FieldError> {
    Ok(Planner::new(inst, delivery, opts)?.plan(gains, link, budget_s))
}

/// Devices from the weakest gain to the strongest (ties by index): `order[r]` is the device of
/// rank `r`.
fn device_order(gains: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..gains.len()).collect();
    order.sort_by(|&a, &b| gains[a].total_cmp(&gains[b]).then(a.cmp(&b)));
    order
}

/// Whether block counts per rank fit the latency budget, with a cache per count vector.
pub(crate) struct Fits<'l> {
    link: &'l Link,
    /// Gains by rank.
    gains: Vec<f64>,
    budget_s: f64,
    cache: std::cell::RefCell<HashMap<Vec<u32>, Option<f64>>>,
}

impl<'l> Fits<'l> {
    fn new(link: &'l Link, gains: &[f64], order: &[usize], budget_s: f64) -> Self {
        Fits {
            link,
            gains: order.iter().map(|&k| gains[k]).collect(),
            budget_s,
            cache: Default::default(),
        }
    }

    /// Latency of `counts[r]` blocks at rank `r`'s gain under optimal PC; `None` on outage.
    pub(crate) fn latency(&self, counts: &[u32]) -> Option<f64> {
        if let Some(&l) = self.cache.borrow().get(counts) {
            return l;
        }
        let plan = optimal_power(self.link, &GainGroups::from_counts(&self.gains, counts));
        let l = plan.outage.is_none().then_some(plan.latency_s);
        self.cache.borrow_mut().insert(counts.to_vec(), l);
        l
    }

    pub(crate) fn fits(&self, counts: &[u32]) -> bool {
        self.latency(counts).is_some_and(|l| l <= self.budget_s)
    }
}
