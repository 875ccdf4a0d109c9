//! HiGHS MIP on the compact model, then branch and bound on the broadcast variables `y` of the
//! compact model (docs/algorithms/exact.md), with the LP relaxation solved by HiGHS dual simplex, warm-started
//! from the previous node's basis.

use std::time::Instant;

use highs::{Col, HighsModelStatus, Model};

use super::model::{Compact, int_bound};
use super::work::{Meter, StoppedBy};
use super::{ExactOptions, ExactResult, colgen, cuts, groups, mip};
use crate::error::{HighsFailure, MbaError, Result};
use crate::library::Instance;
use crate::selection::Selection;

/// Integrality and bound-rounding tolerance on LP values.
const EPS: f64 = 1e-6;
/// Rounds of cut separation at the root and at other nodes.
const ROOT_CUT_ROUNDS: u32 = 50;
const NODE_CUT_ROUNDS: u32 = 3;
/// Candidates evaluated by strong branching at each node.
const STRONG_CANDIDATES: usize = 6;
/// Seconds between progress lines.
const PROGRESS_EVERY_S: f64 = 2.0;

/// Fixing of a `y` variable in a node.
const FREE: i8 = -1;

/// An open node: `fix[b]` is 0, 1 or [`FREE`]; `bound` is a proven lower bound on its subtree.
struct Node {
    fix: Vec<i8>,
    bound: usize,
    depth: u32,
}

enum Lp {
    Solved {
        value: f64,
        /// Every column's value.
        cols: Vec<f64>,
        reduced: Vec<f64>,
    },
    Infeasible,
    /// The time limit struck inside the LP.
    Stopped,
}

struct Search<'a> {
    inst: &'a Instance,
    cm: Compact,
    model: Option<Model>,
    y_cols: Vec<Col>,
    x_cols: Vec<Vec<Col>>,
    cuts: u64,
    /// The fixings currently loaded as column bounds in `model`.
    loaded: Vec<i8>,
    best: Selection,
    opts: ExactOptions,
    /// The work budget and the safety net.
    meter: Meter,
    start: Instant,
    next_progress: f64,
    /// Where progress lines of a long solve go (the caller decides whether they are shown).
    log: &'a dyn Fn(&str),
    nodes: u64,
    lps: u64,
}

/// Run the stages from `incumbent` (ignored if it does not verify).
pub fn run(
    inst: &Instance,
    opts: &ExactOptions,
    incumbent: Selection,
    log: &dyn Fn(&str),
) -> Result<ExactResult> {
    let mut s = Search::new(inst, opts, incumbent, log)?;
    let nb = s.cm.blocks.len();
    let groups = groups::class_groups(inst, &s.cm);
    let grouped = groups::worth_it(&groups);
    // Stage 0: the Dantzig-Wolfe bound over device classes, and the fixings it proves. With
    // class groups it gets less work: the group stage proves more where tasks cluster.
    let chosen = s.cm.chosen_of(inst, &s.best);
    let ub = s.best.num_blocks();
    let colgen_end = if grouped {
        COLGEN_SHARE_GROUPED
    } else {
        COLGEN_SHARE
    };
    let rounds = Meter::rounds(s.meter.allot(colgen_end));
    let deadline = s.meter.deadline();
    let patterns = s.cm.assemblies(&chosen);
    let mut root_lp = colgen::root_bound(&s.cm, &patterns, ub, rounds, deadline, log)?;
    s.meter.spend_rounds(root_lp.iterations);
    s.meter.timed_out |= root_lp.timed_out;
    s.lps += root_lp.iterations;
    let dw = int_bound(root_lp.bound);
    // Incumbents from the master, far better than greedy (the fixings and the MIP stage both
    // gain from them): its `y` rounded, then a sub-MIP over the blocks it uses. Solving the
    // master over the generated patterns as an integer program found nothing better in our
    // runs, so it is not done.
    let greedy_size = s.best.num_blocks();
    s.round(&vec![FREE; nb], &root_lp.y);
    let rounded_size = s.best.num_blocks();
    if dw < s.best.num_blocks() {
        let allowed: Vec<bool> = root_lp.y.iter().map(|&v| v > EPS).collect();
        let units = s
            .meter
            .allot(colgen_end + SUB_MIP_SHARE)
            .min(SUB_MIP_SHARE * opts.work_limit);
        s.compact_mip(Some(&allowed), units)?;
    }
    s.report_root(&root_lp, [greedy_size, rounded_size, s.best.num_blocks()]);
    // Stage 0b: the group bound and the union of the groups' optima.
    let group_lower = if grouped && dw < s.best.num_blocks() {
        s.group_stage(&groups)?
    } else {
        0
    };
    let root_bound = dw.max(group_lower);
    let ub = s.best.num_blocks();
    if root_bound >= ub {
        return Ok(s.result(root_bound));
    }
    s.meter.timed_out |= root_lp.fix_against(&s.cm, ub, s.meter.deadline());
    if s.elapsed() >= PROGRESS_EVERY_S / 2.0 {
        (s.log)(&format!(
            "bnb: {:.1} s, HiGHS MIP on the compact model for {:.1} work units",
            s.elapsed(),
            s.meter.allot(MIP_SHARE)
        ));
    }
    // Stage 1: HiGHS MIP on the compact model, for most of the budget. The Lagrangian fixings
    // are not passed on: HiGHS proved less with them (K = 8 and 12, seeds 0-7, 60 s: K = 8
    // seed 5 in 38 s instead of 18, K = 12 seed 6 unproven).
    let mip_lower = s.compact_mip(None, s.meter.allot(MIP_SHARE))?;
    // Stage 2: our own search for the rest, from the better bound (it proves the tail rarely;
    // it also covers a MIP stage that stopped early). The fixings hold below `ub`, and the
    // incumbent only shrinks.
    let root = Node {
        fix: root_lp.y_fix,
        bound: s.cm.positions.max(mip_lower).max(root_bound),
        depth: 0,
    };
    let lower_bound = s.search(root)?;
    Ok(s.result(lower_bound))
}

/// The paper's Algorithm 2 alone (docs/algorithms/exact.md): LP-bounded branch and bound on the compact
/// model from `incumbent`, with our cuts, branching and heuristics but without the class bound
/// and the MIP stage.
pub fn run_lp_only(
    inst: &Instance,
    opts: &ExactOptions,
    incumbent: Selection,
) -> Result<ExactResult> {
    let mut s = Search::new(inst, opts, incumbent, &|_| {})?;
    let root = Node {
        fix: vec![FREE; s.cm.blocks.len()],
        bound: s.cm.positions,
        depth: 0,
    };
    let lower_bound = s.search(root)?;
    Ok(s.result(lower_bound))
}

/// Share of the work budget by which the column generation ends.
const COLGEN_SHARE: f64 = 0.4;
/// The same when the classes form groups.
const COLGEN_SHARE_GROUPED: f64 = 0.2;
/// Share of the work budget by which the group stage ends.
const GROUP_END: f64 = 0.7;
/// Share of the work budget for the sub-MIP over the master's support (at most).
const SUB_MIP_SHARE: f64 = 0.1;
/// Share of the work budget by which the compact MIP stage ends and our own search begins.
const MIP_SHARE: f64 = 0.9;

/// The error for a class that cannot reach its QoS with the whole library.
fn infeasible(cm: &Compact, c: usize) -> MbaError {
    let class = &cm.classes[c];
    MbaError::Infeasible {
        reason: format!(
            "device {} (task {}) cannot reach QoS {} with the whole library",
            class.devices[0], class.task, class.qos
        ),
    }
}

impl<'a> Search<'a> {
    /// The compact model, its LP and a verified incumbent; errors on an infeasible model.
    fn new(
        inst: &'a Instance,
        opts: &ExactOptions,
        incumbent: Selection,
        log: &'a dyn Fn(&str),
    ) -> Result<Search<'a>> {
        let start = Instant::now();
        let cm = Compact::new(inst);
        if let Some(c) = (0..cm.classes.len()).find(|&c| !cm.feasible_class(c, |_| true)) {
            return Err(infeasible(&cm, c));
        }
        let best = match Selection::verified(inst, incumbent.assignment) {
            Ok(sel) => sel,
            Err(_) => cm.fallback_incumbent(inst)?,
        };
        let lp = cm.lp(false);
        let nb = cm.blocks.len();
        Ok(Search {
            inst,
            cm,
            model: Some(lp.model),
            y_cols: lp.y,
            x_cols: lp.x,
            cuts: 0,
            loaded: vec![FREE; nb],
            best,
            opts: *opts,
            meter: Meter::new(opts.work_limit, opts.time_limit_s, start),
            start,
            next_progress: PROGRESS_EVERY_S,
            log,
            nodes: 0,
            lps: 0,
        })
    }

    /// One stderr line on the root bound of a long solve: the bound and the incumbent after
    /// greedy, the rounding and the sub-MIP.
    fn report_root(&self, root: &colgen::RootBound, found: [usize; 3]) {
        if self.elapsed() < PROGRESS_EVERY_S / 2.0 {
            return;
        }
        (self.log)(&format!(
            "bnb: {:.1} s, class bound {:.3} (master {:.3}, {} rounds), incumbent {} / {} / {} \
             (greedy / rounded / sub-MIP)",
            self.elapsed(),
            root.bound,
            root.master,
            root.iterations,
            found[0],
            found[1],
            found[2],
        ));
    }

    fn result(self, lower_bound: usize) -> ExactResult {
        let ub = self.best.num_blocks();
        let stopped_by = (lower_bound < ub).then(|| self.stop_reason());
        ExactResult {
            lower_bound: lower_bound.min(ub),
            optimal: lower_bound >= ub,
            selection: self.best,
            nodes: self.nodes,
            lp_solves: self.lps,
            seconds: self.start.elapsed().as_secs_f64(),
            stopped_by,
            work: self.meter.done,
        }
    }

    /// Depth-first search; returns the proven lower bound (the incumbent's size when complete).
    fn search(&mut self, root: Node) -> Result<usize> {
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            if node.bound >= self.best.num_blocks() {
                continue;
            }
            if self.out_of_budget() {
                stack.push(node);
                break;
            }
            self.nodes += 1;
            self.meter.spend_tree_node();
            self.progress(&stack, node.bound);
            match self.process(node)? {
                Step::Children(children) => stack.extend(children),
                Step::Stopped(node) => {
                    stack.push(node);
                    break;
                }
            }
        }
        let ub = self.best.num_blocks();
        Ok(stack.iter().map(|n| n.bound).fold(ub, usize::min))
    }

    /// What the node limit leaves (`Some(None)`: no limit; `None`: nothing left).
    fn nodes_left(&self) -> Option<Option<u64>> {
        match self.opts.node_limit {
            None => Some(None),
            Some(l) if l > self.nodes => Some(Some(l - self.nodes)),
            Some(_) => None,
        }
    }

    fn out_of_budget(&mut self) -> bool {
        self.meter.spent()
            || self.opts.node_limit.is_some_and(|l| self.nodes >= l)
            || self.meter.past_deadline()
    }

    /// Why an unproven solve ended: the safety net wins (it makes the result irreproducible).
    fn stop_reason(&self) -> StoppedBy {
        if self.meter.timed_out {
            StoppedBy::Time
        } else if self.opts.node_limit.is_some_and(|l| self.nodes >= l) {
            StoppedBy::NodeLimit
        } else {
            StoppedBy::Work
        }
    }

    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// A line on stderr every couple of seconds, none on fast solves.
    fn progress(&mut self, stack: &[Node], current: usize) {
        let t = self.elapsed();
        if t < self.next_progress {
            return;
        }
        self.next_progress = t + PROGRESS_EVERY_S;
        let ub = self.best.num_blocks();
        let lb = stack
            .iter()
            .map(|n| n.bound)
            .fold(current.min(ub), usize::min);
        (self.log)(&format!(
            "bnb: {t:.1} s, {} nodes, {} LPs, {} cuts, {} open, incumbent {ub}, bound {lb}",
            self.nodes,
            self.lps,
            self.cuts,
            stack.len()
        ));
    }

    /// Assess one node: prune, improve the incumbent, or branch.
    fn process(&mut self, node: Node) -> Result<Step> {
        let ub = self.best.num_blocks();
        let comb = self.cm.fixed_bound(&node.fix);
        // Architecture and QoS: every class must still reach its QoS with the allowed blocks
        // (a position with every block fixed to 0 gives -inf).
        if comb >= ub || !self.cm.feasible(|b| node.fix[b] != 0) {
            return Ok(Step::Children(Vec::new()));
        }
        let mut rounds = if node.depth == 0 {
            ROOT_CUT_ROUNDS
        } else {
            NODE_CUT_ROUNDS
        };
        let (value, cols, reduced) = loop {
            let (value, cols, reduced) = match self.solve_lp(&node.fix)? {
                Lp::Solved {
                    value,
                    cols,
                    reduced,
                } => (value, cols, reduced),
                Lp::Infeasible => return Ok(Step::Children(Vec::new())),
                Lp::Stopped => return Ok(Step::Stopped(node)),
            };
            let stop = rounds == 0 || self.meter.past_deadline();
            if stop || int_bound(value) >= ub || !self.add_cuts(&cols) {
                break (value, cols, reduced);
            }
            rounds -= 1;
        };
        let y = &cols[..self.y_cols.len()];
        let bound = int_bound(value).max(comb).max(node.bound);
        self.round(&node.fix, y);
        let ub = self.best.num_blocks();
        if bound >= ub {
            return Ok(Step::Children(Vec::new()));
        }
        if y.iter().all(|&v| !(EPS..=1.0 - EPS).contains(&v)) {
            let chosen: Vec<bool> = y.iter().map(|&v| v > 0.5).collect();
            self.offer(&chosen);
            return Ok(Step::Children(Vec::new()));
        }
        let mut fix = node.fix;
        reduced_cost_fixing(&mut fix, value, y, &reduced, ub);
        self.branch(fix, value, y, bound, node.depth + 1)
    }

    /// Strong branching on the most fractional `y`: solve both children of each candidate,
    /// fix a candidate whose one child is fathomed, branch on the best product of LP gains.
    fn branch(
        &mut self,
        mut fix: Vec<i8>,
        value: f64,
        y: &[f64],
        bound: usize,
        depth: u32,
    ) -> Result<Step> {
        let ub = self.best.num_blocks();
        let mut best: Option<(f64, usize, usize, usize)> = None;
        for b in fractional(&fix, y, STRONG_CANDIDATES) {
            // Past the safety net: branch on the best so far, or hand the node back to the
            // stopped search with the fixings found.
            if self.meter.past_deadline() {
                break;
            }
            let z0 = self.child_value(&mut fix, b, 0, value)?;
            let z1 = self.child_value(&mut fix, b, 1, value)?;
            let (b0, b1) = (bound.max(int_bound(z0)), bound.max(int_bound(z1)));
            match (b0 >= ub, b1 >= ub) {
                (true, true) => return Ok(Step::Children(Vec::new())),
                (true, false) => fix[b] = 1,
                (false, true) => fix[b] = 0,
                (false, false) => {
                    let score = (z0 - value).max(EPS) * (z1 - value).max(EPS);
                    if best.is_none_or(|(s, ..)| score > s) {
                        best = Some((score, b, b0, b1));
                    }
                }
            }
        }
        let Some((_, b, b0, b1)) = best else {
            // Every candidate got fixed: assess the node again under the fixings.
            return Ok(Step::Children(vec![Node { fix, bound, depth }]));
        };
        let mut down = fix.clone();
        down[b] = 0;
        fix[b] = 1;
        // Pushed last, explored first: the up branch dives towards integral solutions.
        Ok(Step::Children(vec![
            Node {
                fix: down,
                bound: b0,
                depth,
            },
            Node {
                fix,
                bound: b1,
                depth,
            },
        ]))
    }

    /// LP value with `y_b` fixed to `v` (`+inf` when infeasible, the parent's on a stop).
    fn child_value(&mut self, fix: &mut [i8], b: usize, v: i8, parent: f64) -> Result<f64> {
        fix[b] = v;
        let out = self.solve_lp(fix);
        fix[b] = FREE;
        Ok(match out? {
            Lp::Solved { value, .. } => value,
            Lp::Infeasible => f64::INFINITY,
            Lp::Stopped => parent,
        })
    }

    /// Primal heuristic: the LP's support, then drop blocks (least LP weight first) while every
    /// class still reaches its QoS.
    fn round(&mut self, fix: &[i8], y: &[f64]) {
        let mut chosen: Vec<bool> = (0..y.len()).map(|b| y[b] > EPS || fix[b] == 1).collect();
        let mut order: Vec<usize> = (0..y.len()).filter(|&b| chosen[b]).collect();
        order.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
        if !self.cm.feasible(|b| chosen[b]) {
            return;
        }
        self.cm.make_minimal(&mut chosen, &order);
        let size = chosen.iter().filter(|&&c| c).count();
        if size < self.best.num_blocks() || (size == self.best.num_blocks() && self.nodes % 16 == 1)
        {
            self.cm.improve(&mut chosen);
        }
        self.offer(&chosen);
    }

    /// The compact MIP for `units` of work, within what the node limit leaves: over every
    /// block, or (a sub-MIP) over the blocks `allowed` and the incumbent's, from the incumbent.
    /// Takes a smaller selection it finds; returns its proven bound (0 for a sub-MIP or no run).
    ///
    /// The full MIP is *not* given our incumbent as a start: HiGHS proves more without it
    /// (measured on K = 8 and 12, seeds 0-7, 60 s: with the start it missed K = 8 seeds 5 and 6
    /// and K = 12 seeds 2 and 6, which it proves in 13-43 s without, and was slower on K = 8
    /// seeds 1 and 7; faster only on K = 8 seed 2, by about a second). Its own root heuristics
    /// find as good a solution early, and our incumbent still counts.
    fn compact_mip(&mut self, allowed: Option<&[bool]>, units: f64) -> Result<usize> {
        let Some(nodes) = self.nodes_left() else {
            return Ok(0);
        };
        let limits = mip::Limits {
            units,
            nodes,
            seconds: self.meter.seconds_left(),
        };
        let chosen = self.cm.chosen_of(self.inst, &self.best);
        let allowed: Option<Vec<bool>> =
            allowed.map(|a| a.iter().zip(&chosen).map(|(&a, &c)| a || c).collect());
        let start = allowed.is_some().then_some(chosen.as_slice());
        let scope = mip::Scope {
            start,
            allowed: allowed.as_deref(),
            ..Default::default()
        };
        let stage = mip::compact(self.inst, &self.cm, scope, limits)?;
        self.nodes += stage.nodes;
        self.meter
            .spend_mip(stage.units, stage.iterations, stage.nodes);
        self.meter.timed_out |= stage.timed_out;
        if let Some(sel) = stage
            .best
            .filter(|s| s.num_blocks() < self.best.num_blocks())
        {
            self.best = sel;
        }
        Ok(if allowed.is_some() { 0 } else { stage.lower })
    }

    /// The group bound and its union incumbent (`groups.rs`); returns the bound.
    fn group_stage(&mut self, groups: &[Vec<usize>]) -> Result<usize> {
        let Some(nodes) = self.nodes_left() else {
            return Ok(0);
        };
        let units = self.meter.allot(GROUP_END);
        let deadline = self.meter.deadline();
        let found = groups::group_bound(self.inst, &self.cm, groups, (units, nodes), deadline)?;
        self.nodes += found.nodes;
        self.meter
            .spend_mip(found.units, found.iterations, found.nodes);
        self.meter.timed_out |= found.timed_out;
        if let Some(mut union) = found.union {
            let order: Vec<usize> = (0..union.len()).collect();
            self.cm.make_minimal(&mut union, &order);
            self.offer(&union);
        }
        if self.elapsed() >= PROGRESS_EVERY_S / 2.0 {
            let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
            (self.log)(&format!(
                "bnb: {:.1} s, group bound {} over class groups of sizes {sizes:?}, incumbent {}",
                self.elapsed(),
                found.lower,
                self.best.num_blocks()
            ));
        }
        Ok(found.lower)
    }

    /// Take `chosen` as the incumbent if it is a smaller valid selection.
    fn offer(&mut self, chosen: &[bool]) {
        if chosen.iter().filter(|&&c| c).count() >= self.best.num_blocks() {
            return;
        }
        if let Some(sel) = self.cm.selection(self.inst, chosen)
            && sel.num_blocks() < self.best.num_blocks()
        {
            self.best = sel;
        }
    }

    /// Load the node's fixings as bounds and re-solve from the current basis.
    fn solve_lp(&mut self, fix: &[i8]) -> Result<Lp> {
        let mut model = match self.model.take() {
            Some(m) => m,
            None => self.fresh_model(),
        };
        for (b, (&want, have)) in fix.iter().zip(self.loaded.iter_mut()).enumerate() {
            if want != *have {
                let (lo, hi) = match want {
                    0 => (0.0, 0.0),
                    1 => (1.0, 1.0),
                    _ => (0.0, 1.0),
                };
                model.change_column_bounds(self.y_cols[b], lo..=hi);
                *have = want;
            }
        }
        // No HiGHS time limit here: its clock runs across re-solves of one model, and a node LP
        // takes milliseconds; the search checks the wall clock between nodes.
        let solved = model
            .try_solve()
            .map_err(|e| MbaError::highs("node LP", HighsFailure::Call(e)))?;
        self.lps += 1;
        let nb = fix.len();
        let out = match solved.status() {
            HighsModelStatus::Optimal => {
                let sol = solved.get_solution();
                Lp::Solved {
                    value: solved.objective_value(),
                    cols: sol.columns().to_vec(),
                    reduced: sol.dual_columns()[..nb].to_vec(),
                }
            }
            HighsModelStatus::Infeasible => Lp::Infeasible,
            HighsModelStatus::ReachedTimeLimit => Lp::Stopped,
            other => {
                return Err(MbaError::highs("node LP", HighsFailure::Status(other)));
            }
        };
        self.model = Some(Model::from(solved));
        Ok(out)
    }

    /// Separate cover cuts at the LP point `cols` and add them; false when none is violated.
    fn add_cuts(&mut self, cols: &[f64]) -> bool {
        let x = &self.x_cols;
        let cuts = cuts::separate(&self.cm, |c, b| cols[x[c][b].index()]);
        let Some(model) = self.model.as_mut() else {
            return false;
        };
        for cut in &cuts {
            let row = cut.blocks.iter().map(|&b| (x[cut.class][b], 1.0));
            model.add_row(..=cut.rhs, row);
        }
        self.cuts += cuts.len() as u64;
        !cuts.is_empty()
    }

    fn fresh_model(&mut self) -> Model {
        let lp = self.cm.lp(false);
        self.y_cols = lp.y;
        self.x_cols = lp.x;
        self.loaded.iter_mut().for_each(|f| *f = FREE);
        lp.model
    }
}

enum Step {
    Children(Vec<Node>),
    Stopped(Node),
}

/// Fix free `y` whose reduced cost proves that moving them off their bound cannot beat `ub`.
fn reduced_cost_fixing(fix: &mut [i8], value: f64, y: &[f64], reduced: &[f64], ub: usize) {
    for b in 0..fix.len() {
        if fix[b] != FREE {
            continue;
        }
        let d = reduced[b];
        if y[b] < EPS && d > 0.0 && int_bound(value + d) >= ub {
            fix[b] = 0;
        } else if y[b] > 1.0 - EPS && d < 0.0 && int_bound(value - d) >= ub {
            fix[b] = 1;
        }
    }
}

/// Up to `count` free fractional `y`, closest to one half first.
fn fractional(fix: &[i8], y: &[f64], count: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..fix.len())
        .filter(|&b| fix[b] == FREE && y[b] > EPS && y[b] < 1.0 - EPS)
        .collect();
    let frac = |b: usize| y[b].min(1.0 - y[b]);
    out.sort_by(|&a, &b| frac(b).total_cmp(&frac(a)).then(a.cmp(&b)));
    out.truncate(count);
    out
}
