//! (P2.1) as it is, per device and over every physical block, handed to the HiGHS MIP solver:
//! the cross-check and the peer that branch and bound has to beat.

use std::ffi::{CStr, c_char, c_int, c_void};

use highs::{Col, HighsModelStatus, HighsSolutionStatus, RowProblem, Sense};

use super::model::{Compact, int_bound, qos_row, quiet_single_thread};
use super::work::{Meter, StoppedBy, WorkDone};
use super::{ExactOptions, ExactResult};
use crate::error::{HighsFailure, MbaError, Result};
use crate::library::Instance;
use crate::selection::Selection;

/// A HiGHS C API callback (`HighsCCallbackType`).
type Callback = unsafe extern "C" fn(c_int, *const c_char, *const c_void, *mut c_int, *mut c_void);

unsafe extern "C" {
    // From the HiGHS C API (linked through `highs-sys`); the `highs` crate reads only 32-bit
    // info values (the node count is 64-bit) and has no callbacks.
    fn Highs_getInt64InfoValue(highs: *const c_void, info: *const c_char, value: *mut i64)
    -> c_int;
    fn Highs_setCallback(highs: *mut c_void, callback: Callback, data: *mut c_void) -> c_int;
    fn Highs_startCallback(highs: *mut c_void, callback_type: c_int) -> c_int;
    fn Highs_getCallbackDataOutItem(data_out: *const c_void, item: *const c_char) -> *const c_void;
}

/// `kHighsCallbackMipInterrupt`: HiGHS asks whether to stop, at fixed points of its search.
const MIP_INTERRUPT: c_int = 6;

/// A limit on the simplex iterations of one HiGHS MIP (all its LPs, root included): work
/// counted, so the MIP stops at the same point on every machine.
struct IterationBudget {
    limit: i64,
    /// Iterations at the last check.
    used: i64,
}

/// The interrupt callback of [`IterationBudget`].
unsafe extern "C" fn stop_after_iterations(
    kind: c_int,
    _message: *const c_char,
    data_out: *const c_void,
    data_in: *mut c_int,
    budget: *mut c_void,
) {
    if kind != MIP_INTERRUPT || data_out.is_null() || data_in.is_null() || budget.is_null() {
        return;
    }
    // SAFETY: HiGHS passes live callback data for the duration of the call; `budget` is the
    // `IterationBudget` registered with this callback, alive until the solve returns; the first
    // field of `HighsCallbackDataIn` is the `int user_interrupt` flag.
    unsafe {
        let item = Highs_getCallbackDataOutItem(data_out, c"mip_total_lp_iterations".as_ptr());
        if item.is_null() {
            return;
        }
        let used = *(item as *const i64);
        let budget = &mut *(budget as *mut IterationBudget);
        budget.used = used;
        if used >= budget.limit {
            *data_in = 1;
        }
    }
}

/// Solve `model` under an iteration budget; returns the solved model and the iterations used.
fn solve_within(
    model: highs::Model,
    iterations: u64,
    stage: &'static str,
) -> Result<(highs::SolvedModel, u64)> {
    let mut model = model;
    let mut budget = IterationBudget {
        limit: iterations.min(i64::MAX as u64) as i64,
        used: 0,
    };
    let ptr = model.as_mut_ptr();
    let data = (&mut budget as *mut IterationBudget).cast::<c_void>();
    // SAFETY: `ptr` is the live HiGHS object of `model`; `budget` outlives the solve below,
    // after which HiGHS no longer calls back.
    let ok = unsafe {
        Highs_setCallback(ptr, stop_after_iterations, data) == 0
            && Highs_startCallback(ptr, MIP_INTERRUPT) == 0
    };
    if !ok {
        return Err(MbaError::highs(
            stage,
            HighsFailure::Call(highs::HighsStatus::Error),
        ));
    }
    let solved = model
        .try_solve()
        .map_err(|e| MbaError::highs(stage, HighsFailure::Call(e)))?;
    let used = budget.used.max(0) as u64;
    Ok((solved, used))
}

/// The plain model: `y_b` binary per physical block, `x[k][b]` binary per device and block.
struct Plain {
    /// `(canonical model, position)` of every physical block.
    blocks: Vec<(usize, usize)>,
    y: Vec<Col>,
    /// `x[k][b]`.
    x: Vec<Vec<Col>>,
}

pub fn run(inst: &Instance, opts: &ExactOptions, incumbent: Selection) -> Result<ExactResult> {
    let start = std::time::Instant::now();
    let lib = &inst.library;
    let blocks: Vec<(usize, usize)> = (0..lib.blocks())
        .flat_map(|n| (0..lib.models()).map(move |i| (i, n)))
        .filter(|&(i, n)| lib.canonical(i, n) == i)
        .collect();
    let mut pb = RowProblem::default();
    let y: Vec<Col> = blocks
        .iter()
        .map(|_| pb.add_integer_column(1.0, 0..=1))
        .collect();
    let mut x = Vec::with_capacity(inst.num_devices());
    for d in &inst.devices {
        let xk: Vec<Col> = blocks
            .iter()
            .map(|_| pb.add_integer_column(0.0, 0..=1))
            .collect();
        for n in 0..lib.blocks() {
            let at_n = blocks.iter().enumerate().filter(|(_, bl)| bl.1 == n);
            pb.add_row(1.0..=1.0, at_n.map(|(b, _)| (xk[b], 1.0)));
        }
        let row = blocks
            .iter()
            .enumerate()
            .map(|(b, &(i, n))| (xk[b], lib.score(d.task, i, n)));
        let (bound, row) = qos_row(d.qos, row);
        pb.add_row(bound, row);
        for b in 0..blocks.len() {
            pb.add_row(..=0.0, [(xk[b], 1.0), (y[b], -1.0)]);
        }
        x.push(xk);
    }
    let plain = Plain { blocks, y, x };
    let mut model = pb.optimise(Sense::Minimise);
    quiet_single_thread(&mut model);
    set_limits(&mut model, opts.node_limit, opts.time_limit_s);
    let start_sel = Selection::verified(inst, incumbent.assignment).ok();
    if let Some(sel) = &start_sel {
        // A rejected start only costs HiGHS its head start.
        let _ = model.try_set_solution(Some(&plain.columns(inst, sel)), None, None, None);
    }
    let budget = Meter::mip_iterations(opts.work_limit, model.num_rows());
    let (solved, iterations) = solve_within(model, budget, "MIP")?;
    let status = solved.status();
    if matches!(
        status,
        HighsModelStatus::Infeasible | HighsModelStatus::UnboundedOrInfeasible
    ) {
        return Err(MbaError::Infeasible {
            reason: "some device cannot reach its QoS (HiGHS MIP)".into(),
        });
    }
    let found = (solved.primal_solution_status() == HighsSolutionStatus::Feasible)
        .then(|| plain.selection(inst, solved.get_solution().columns()))
        .flatten();
    let best = match (found, start_sel) {
        (Some(a), Some(b)) => Some(if a.num_blocks() <= b.num_blocks() {
            a
        } else {
            b
        }),
        (a, b) => a.or(b),
    };
    let Some(best) = best else {
        return Err(MbaError::highs("MIP", HighsFailure::NoSolution(status)));
    };
    let ub = best.num_blocks();
    let dual = solved.double_info_value(c"mip_dual_bound").unwrap_or(0.0);
    let mut lower = if dual.is_finite() {
        int_bound(dual).min(ub)
    } else {
        0
    };
    if status == HighsModelStatus::Optimal {
        lower = ub;
    }
    lower = lower.max(super::trivial_lower_bound(inst).min(ub));
    let node_count = int64_info(solved.as_ptr(), c"mip_node_count").unwrap_or(0);
    let stopped_by = (lower < ub).then(|| {
        if status == HighsModelStatus::ReachedTimeLimit {
            StoppedBy::Time
        } else if opts.node_limit.is_some_and(|l| node_count >= l) {
            StoppedBy::NodeLimit
        } else {
            StoppedBy::Work
        }
    });
    Ok(ExactResult {
        lower_bound: lower,
        optimal: lower >= ub,
        selection: best,
        nodes: node_count,
        lp_solves: 0,
        seconds: start.elapsed().as_secs_f64(),
        stopped_by,
        work: WorkDone {
            mip_nodes: node_count,
            mip_iterations: iterations,
            ..WorkDone::default()
        },
    })
}

/// Solve to optimality unless `nodes` HiGHS nodes are done or, as a safety net, `seconds` pass.
fn set_limits(model: &mut highs::Model, nodes: Option<u64>, seconds: f64) {
    model.set_option("time_limit", seconds.max(0.0));
    model.set_option("mip_rel_gap", 0.0);
    if let Some(n) = nodes {
        model.set_option("mip_max_nodes", n.min(i32::MAX as u64) as i32);
    }
}

/// A 64-bit HiGHS info value.
fn int64_info(highs: *const c_void, name: &CStr) -> Option<u64> {
    let mut value: i64 = 0;
    // SAFETY: `highs` is a live HiGHS object and `name` a NUL-terminated string.
    let status = unsafe { Highs_getInt64InfoValue(highs, name.as_ptr(), &mut value) };
    (status == 0).then_some(value.max(0) as u64)
}

impl Plain {
    /// Column values of a selection, as a MIP start.
    fn columns(&self, inst: &Instance, sel: &Selection) -> Vec<f64> {
        let width = self.blocks.len();
        let mut cols = vec![0.0; width * (1 + self.x.len())];
        let lib = &inst.library;
        for (k, row) in sel.assignment.iter().enumerate() {
            for (n, &i) in row.iter().enumerate() {
                let b = self
                    .blocks
                    .binary_search_by(|&(bi, bn)| (bn, bi).cmp(&(n, lib.canonical(i, n))))
                    .expect("assigned blocks are physical");
                cols[self.y[b].index()] = 1.0;
                cols[self.x[k][b].index()] = 1.0;
            }
        }
        cols
    }

    /// The checked selection read from a MIP solution.
    fn selection(&self, inst: &Instance, cols: &[f64]) -> Option<Selection> {
        let nb = inst.library.blocks();
        let assignment = self
            .x
            .iter()
            .map(|xk| {
                let mut row = vec![usize::MAX; nb];
                for (b, &(i, n)) in self.blocks.iter().enumerate() {
                    if cols[xk[b].index()] > 0.5 {
                        row[n] = i;
                    }
                }
                row
            })
            .collect();
        Selection::verified(inst, assignment).ok()
    }
}

/// What a compact MIP proves and finds.
pub struct Stage {
    /// The best selection found (only when every class is in the scope).
    pub best: Option<Selection>,
    /// The `y` of the best solution found, whatever the scope.
    pub pick: Option<Vec<bool>>,
    /// Proven lower bound on the objective, rounded up (on `|Y|` with unit costs).
    pub lower: usize,
    pub nodes: u64,
    /// Simplex iterations, all its LPs together.
    pub iterations: u64,
    /// The work units they are worth on this model ([`Meter::mip_units`]).
    pub units: f64,
    /// HiGHS stopped at the safety net's time limit.
    pub timed_out: bool,
}

/// What may stop a compact MIP: its work budget in units (simplex iterations weighted by the
/// model's rows), a node limit, and the safety net's seconds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub units: f64,
    pub nodes: Option<u64>,
    pub seconds: f64,
}

/// What a compact MIP runs over; the default is the whole compact model with unit costs.
#[derive(Default, Clone, Copy)]
pub struct Scope<'a> {
    /// A feasible set of kept blocks to start from.
    pub start: Option<&'a [bool]>,
    /// The blocks that may be sent (all when `None`; otherwise a sub-MIP for an incumbent,
    /// whose bound then says nothing).
    pub allowed: Option<&'a [bool]>,
    /// The classes whose QoS must hold (all when `None`).
    pub classes: Option<&'a [usize]>,
    /// The cost of sending each block (1 when `None`).
    pub cost: Option<&'a [f64]>,
}

/// The compact model (classes merged, dominated blocks removed, `x[c][b]` only where block
/// `b`'s loss fits in class `c`'s slack) handed to the HiGHS MIP solver over `scope`. `x` stays
/// binary: continuous `x` would be exact too (with `y` integral the best block per position is a
/// vertex), but HiGHS then loses the knapsack cover cuts it derives from the binary QoS rows,
/// and proves far less (measured). Our own cover cuts are not added either: as rows they slowed
/// HiGHS down (measured).
pub fn compact(inst: &Instance, cm: &Compact, scope: Scope, limits: Limits) -> Result<Stage> {
    // Past the safety net no model is even built: at N = 300 building one takes seconds.
    let late = limits.seconds <= 0.0;
    if limits.units <= 0.0 || limits.nodes == Some(0) || late {
        return Ok(Stage {
            best: None,
            pick: None,
            lower: 0,
            nodes: 0,
            iterations: 0,
            units: 0.0,
            timed_out: late,
        });
    }
    let nb = cm.blocks.len();
    let in_allowed = |b: usize| scope.allowed.is_none_or(|a| a[b]);
    let all: Vec<usize> = (0..cm.classes.len()).collect();
    let classes = scope.classes.unwrap_or(&all);
    let mut pb = RowProblem::default();
    let y: Vec<Col> = (0..nb)
        .map(|b| {
            let cost = scope.cost.map_or(1.0, |c| c[b]);
            pb.add_integer_column(cost, 0..=i32::from(in_allowed(b)))
        })
        .collect();
    let mut x: Vec<Vec<Option<Col>>> = vec![vec![None; nb]; cm.classes.len()];
    for &c in classes {
        let xc: Vec<Option<Col>> = (0..nb)
            .map(|b| (in_allowed(b) && cm.usable(c, b)).then(|| pb.add_integer_column(0.0, 0..=1)))
            .collect();
        for bs in &cm.by_pos {
            pb.add_row(
                1.0..=1.0,
                bs.iter().filter_map(|&b| xc[b].map(|v| (v, 1.0))),
            );
        }
        let row = (0..nb).filter_map(|b| xc[b].map(|v| (v, cm.s(c, b))));
        let (bound, row) = qos_row(cm.classes[c].qos, row);
        pb.add_row(bound, row);
        for b in 0..nb {
            if let Some(v) = xc[b] {
                pb.add_row(..=0.0, [(v, 1.0), (y[b], -1.0)]);
            }
        }
        x[c] = xc;
    }
    let mut model = pb.optimise(Sense::Minimise);
    quiet_single_thread(&mut model);
    set_limits(&mut model, limits.nodes, limits.seconds);
    if let Some(chosen) = scope.start {
        let ncols = nb + x.iter().flatten().flatten().count();
        let mut cols = vec![0.0; ncols];
        for b in 0..nb {
            cols[y[b].index()] = if chosen[b] { 1.0 } else { 0.0 };
        }
        for (c, picks) in cm.assemblies(chosen).into_iter().enumerate() {
            for b in picks {
                if let Some(v) = x[c][b] {
                    cols[v.index()] = 1.0;
                }
            }
        }
        let _ = model.try_set_solution(Some(&cols), None, None, None);
    }
    let rows = model.num_rows();
    let budget = Meter::mip_iterations(limits.units, rows);
    let (solved, iterations) = solve_within(model, budget, "compact MIP")?;
    let status = solved.status();
    let pick = (solved.primal_solution_status() == HighsSolutionStatus::Feasible).then(|| {
        let cols = solved.get_solution().columns().to_vec();
        y.iter()
            .map(|v| cols[v.index()] > 0.5)
            .collect::<Vec<bool>>()
    });
    let best = pick
        .as_ref()
        .filter(|_| scope.classes.is_none())
        .and_then(|p| cm.selection(inst, p));
    let dual = solved.double_info_value(c"mip_dual_bound").unwrap_or(0.0);
    let optimal = status == HighsModelStatus::Optimal;
    // At optimality the objective itself is the bound (the dual bound can trail it).
    let proven = if optimal {
        dual.max(solved.objective_value())
    } else {
        dual
    };
    let lower = if proven.is_finite() {
        int_bound(proven)
    } else {
        0
    };
    Ok(Stage {
        best,
        pick,
        lower,
        nodes: int64_info(solved.as_ptr(), c"mip_node_count").unwrap_or(0),
        iterations,
        units: Meter::mip_units(iterations, rows),
        timed_out: status == HighsModelStatus::ReachedTimeLimit,
    })
}
