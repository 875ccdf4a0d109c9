//! Deterministic work budgets. An exact solve is limited by counted work, never by the clock:
//! `ExactOptions::work_limit` units, each worth a fixed number of column-generation rounds,
//! HiGHS simplex iterations or tree nodes. Stages get shares of the budget in order, and what a stage
//! leaves unused passes to the next, so the same instance and settings do the same work and give
//! the same answer on any machine, load and thread count. The wall-clock `time_limit_s` is only
//! a safety net; a solve it stops is flagged (`StoppedBy::Time`) as not reproducible.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Column-generation rounds (a master LP and a knapsack per class) worth one work unit.
pub const ROUNDS_PER_UNIT: f64 = 40.0;
/// HiGHS simplex work worth one unit, in iterations times the rows of the model they ran on
/// (all LPs of a MIP, root and heuristics included): 4,000 iterations on a 5,000-row model. An
/// iteration's cost grows about linearly with the rows (measured on models of 1.4k-11k rows), so
/// bare iteration counts would let the small MIPs of the group stage use up the budget.
pub const MIP_ROW_ITERATIONS_PER_UNIT: f64 = 2.0e7;
/// Nodes of our own search (Algorithm 2, each with strong branching) worth one work unit.
pub const TREE_NODES_PER_UNIT: f64 = 8.0;

/// Why a solve ended without a proof of optimality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoppedBy {
    /// The work budget was spent (reproducible).
    Work,
    /// The node limit was reached (reproducible).
    NodeLimit,
    /// The wall-clock safety net struck: the result depends on the machine and its load.
    Time,
}

/// The work a solve did; the same on every machine unless it was stopped by time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkDone {
    pub colgen_rounds: u64,
    pub mip_nodes: u64,
    pub mip_iterations: u64,
    pub tree_nodes: u64,
}

/// Budget bookkeeping of one solve.
#[derive(Debug, Clone)]
pub struct Meter {
    limit: f64,
    used: f64,
    deadline: Instant,
    /// The safety net struck somewhere in the solve.
    pub timed_out: bool,
    pub done: WorkDone,
}

impl Meter {
    pub fn new(work_limit: f64, time_limit_s: f64, start: Instant) -> Meter {
        Meter {
            limit: work_limit,
            used: 0.0,
            deadline: start + Duration::from_secs_f64(time_limit_s.min(1e9)),
            timed_out: false,
            done: WorkDone::default(),
        }
    }

    /// Units a stage may use so that the solve has used at most `share_end` of the budget.
    pub fn allot(&self, share_end: f64) -> f64 {
        (share_end * self.limit - self.used).max(0.0)
    }

    /// Rounds of column generation in `units`.
    pub fn rounds(units: f64) -> u64 {
        (units * ROUNDS_PER_UNIT).floor() as u64
    }

    /// HiGHS MIP simplex iterations in `units` on a model of `rows` rows.
    pub fn mip_iterations(units: f64, rows: usize) -> u64 {
        (units * MIP_ROW_ITERATIONS_PER_UNIT / rows.max(1) as f64).floor() as u64
    }

    /// Units worth `iterations` HiGHS simplex iterations on a model of `rows` rows.
    pub fn mip_units(iterations: u64, rows: usize) -> f64 {
        iterations as f64 * rows.max(1) as f64 / MIP_ROW_ITERATIONS_PER_UNIT
    }

    pub fn spend_rounds(&mut self, rounds: u64) {
        self.done.colgen_rounds += rounds;
        self.used += rounds as f64 / ROUNDS_PER_UNIT;
    }

    /// Count a MIP's `units` (from [`Meter::mip_units`]), iterations and nodes.
    pub fn spend_mip(&mut self, units: f64, iterations: u64, nodes: u64) {
        self.done.mip_iterations += iterations;
        self.done.mip_nodes += nodes;
        self.used += units;
    }

    pub fn spend_tree_node(&mut self) {
        self.done.tree_nodes += 1;
        self.used += 1.0 / TREE_NODES_PER_UNIT;
    }

    /// Whether the whole budget is spent.
    pub fn spent(&self) -> bool {
        self.used >= self.limit
    }

    /// Seconds left to the safety net (for HiGHS's own time limit).
    pub fn seconds_left(&self) -> f64 {
        self.deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the safety net has struck (and remember that it did).
    pub fn past_deadline(&mut self) -> bool {
        if Instant::now() >= self.deadline {
            self.timed_out = true;
        }
        self.timed_out
    }
}
