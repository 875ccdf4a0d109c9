//! Near-optimal parameter selection at scale without a solver (docs/algorithms/lagrangian.md): Lagrangian prices on
//! the device classes' QoS rows, a facility-location subproblem per position, repair and
//! redundancy removal, then exact re-covers of each position and a walk of exact pair
//! re-insertions and remove-and-repair moves. Deterministic: iteration counts and a seed, never
//! the clock, and no threads inside.
//!
//! Model. The compact model ([`Compact`]): undominated physical blocks and one class per
//! requested task with its strictest QoS. Class `c` loses `loss_c(j) = best_c(n) - I[t_c][j][n]`
//! by taking block `j` at its position `n`, and can afford `slack_c = sum_n best_c(n) - q_c` in
//! all. A broadcast set `Y` is feasible when every class's summed best-available loss,
//! `sum_n min_{j in Y_n} loss_c(j)`, is within its slack; each device then takes its class's
//! best block in `Y` at every position.
//!
//! Relaxation. Pricing the QoS rows with `lambda_c >= 0` splits (P2.1) into one uncapacitated
//! facility-location problem per position: `F_n(lambda) = min over nonempty S of
//! |S| + sum_c lambda_c min_{j in S} loss_c(j)`, where class `c` may only use blocks whose loss
//! alone fits its slack. Then `L(lambda) = sum_n F_n(lambda) - sum_c lambda_c slack_c` is a lower
//! bound on `|Y|`, and stays one when each `F_n` is replaced by a lower bound of it: here the
//! value of a dual-feasible point of its LP (Erlenkotter's dual ascent), never a local-search
//! value.
//!
//! Phase 1 (Lagrangian heuristic). At each price vector, every position's subproblem is solved
//! by local search (add, drop and add-then-drop swaps, warm-started from the previous
//! iteration's sets); the union of the sets is repaired (add the block that most reduces the
//! classes' excess loss, until every class fits) and made minimal (drop blocks whose users all
//! still fit, least used first). Prices move multiplicatively with each class's relative
//! violation in the union. The dual-ascent bound is evaluated at every few price vectors, and
//! polished further at the best one.
//!
//! Re-cover. Each position in turn is re-solved as a set cover (exact within a node cap) with
//! the others fixed (the classes' leftover budgets decide which blocks cover them), smallest
//! first, then the cover leaving the most slack.
//!
//! Phase 2 (walk). From the best set: take two classes out and put them back exactly (a
//! program over positions with Pareto fronts of their losses), or remove a few random blocks
//! (not re-added in the same move unless nothing else helps) and repair, or add one useful
//! block; drop what became redundant near the change; accept when the set does not grow
//! (plateaus are walked), keep the best.
//!
//! The greedy result (Algorithm 1) is the starting incumbent, so the answer is never above it.

// Classes index several parallel tables (prices, losses, budgets, values) at once.
#![allow(clippy::needless_range_loop)]

use std::collections::BinaryHeap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Selection;
use super::exact::model::{Compact, int_bound};
use super::greedy::{GreedyOptions, greedy};
use crate::error::{FieldError, MbaError, Result};
use crate::library::Instance;

/// Lagrangian settings, `[lagrangian]` in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LagrangianOptions {
    /// Phase 1: price updates (each one a subproblem solve per position and a repair).
    /// Default 60.
    pub price_iterations: usize,
    /// The bound is evaluated at every `bound_every`-th price vector and at the last (at least
    /// 1). Default 4.
    pub bound_every: usize,
    /// Multiplicative price step: `lambda_c *= exp(step * violation_c)`, the relative violation
    /// clamped to [-1, 1]; the step shrinks linearly to a fifth of it over phase 1. In (0, 10].
    /// Default 0.6.
    pub price_step: f64,
    /// Initial prices in units of blocks per slack: `lambda_c = initial_price / slack_c`
    /// (slack floored at a thousandth of the class's best score). > 0. Default 1.0.
    pub initial_price: f64,
    /// After phase 1: passes re-covering each position with the others fixed. Default 2.
    pub cover_sweeps: usize,
    /// Phase 2: walk moves. Default 200.
    pub walk_iterations: usize,
    /// Share of walk moves that take two classes out and put them back exactly (in [0, 1]).
    /// Default 0.3.
    pub pair_share: f64,
    /// Most blocks removed by one walk move (at least 1). Default 3.
    pub max_removed: usize,
    /// Probability of accepting a walk move that adds one block (in [0, 1]). Default 0.05.
    pub uphill: f64,
    /// Breakpoint rounds of the dual ascent before its final unbounded round. Default 30.
    pub ascent_rounds: usize,
    /// Subgradient steps polishing each position's dual-ascent point. Default 20.
    pub polish_steps: usize,
    /// Polishing steps at the best price vector once phase 1 ends. Default 100.
    pub final_polish_steps: usize,
    /// Seed of the walk's random choices (ChaCha8). Default 0.
    pub seed: u64,
}

impl Default for LagrangianOptions {
    fn default() -> Self {
        LagrangianOptions {
            price_iterations: 60,
            bound_every: 4,
            price_step: 0.6,
            initial_price: 1.0,
            cover_sweeps: 2,
            walk_iterations: 200,
            pair_share: 0.3,
            max_removed: 3,
            uphill: 0.05,
            ascent_rounds: 30,
            polish_steps: 20,
            final_polish_steps: 100,
            seed: 0,
        }
    }
}

/// The largest iteration count a setting may ask for.
pub const MAX_ITERATIONS: usize = 1_000_000;

impl LagrangianOptions {
    /// Check every value; the error names the field under `prefix` (e.g. `"lagrangian."`).
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if !(self.price_step.is_finite() && self.price_step > 0.0 && self.price_step <= 10.0) {
            return Err(FieldError::new(
                format!("{prefix}price_step"),
                format!("{} must be finite and in (0, 10]", self.price_step),
            ));
        }
        if !(self.initial_price.is_finite() && self.initial_price > 0.0) {
            return Err(FieldError::new(
                format!("{prefix}initial_price"),
                format!("{} must be finite and > 0", self.initial_price),
            ));
        }
        for (name, v) in [("uphill", self.uphill), ("pair_share", self.pair_share)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(FieldError::new(
                    format!("{prefix}{name}"),
                    format!("{v} must be in [0, 1]"),
                ));
            }
        }
        if self.bound_every == 0 {
            return Err(FieldError::new(
                format!("{prefix}bound_every"),
                "must be at least 1",
            ));
        }
        if self.max_removed == 0 {
            return Err(FieldError::new(
                format!("{prefix}max_removed"),
                "must be at least 1",
            ));
        }
        // Iteration counts beyond these would run for hours at K = 500: a typo, not a setting.
        for (name, v) in [
            ("price_iterations", self.price_iterations),
            ("bound_every", self.bound_every),
            ("cover_sweeps", self.cover_sweeps),
            ("walk_iterations", self.walk_iterations),
            ("ascent_rounds", self.ascent_rounds),
            ("polish_steps", self.polish_steps),
            ("final_polish_steps", self.final_polish_steps),
        ] {
            if v > MAX_ITERATIONS {
                return Err(FieldError::new(
                    format!("{prefix}{name}"),
                    format!("{v} is out of range: need 0..={MAX_ITERATIONS}"),
                ));
            }
        }
        Ok(())
    }
}

/// A Lagrangian solve's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LagrangianResult {
    /// The best selection found (checked).
    pub selection: Selection,
    /// A valid lower bound on `|Y|`: the best Lagrangian dual value rounded up, at least `N`.
    pub lower_bound: usize,
    /// The best Lagrangian dual value before rounding.
    pub dual_value: f64,
    /// Phase 1 price updates run.
    pub price_iterations: usize,
    /// Phase 2 moves run.
    pub walk_iterations: usize,
    /// Phase 2 moves that made the best set smaller.
    pub improving_moves: usize,
    /// `|Y|` of the greedy start (Algorithm 1 under the caller's `GreedyOptions`).
    pub greedy_blocks: usize,
    /// `|Y|` after phase 1.
    pub phase1_blocks: usize,
}

impl LagrangianResult {
    /// Relative gap `(|Y| - lower bound) / |Y|`.
    pub fn gap(&self) -> f64 {
        crate::selection::gap(self.selection.num_blocks(), self.lower_bound)
    }

    /// Whether the bound proves the selection optimal.
    pub fn optimal(&self) -> bool {
        self.lower_bound >= self.selection.num_blocks()
    }
}

const NONE: u32 = u32::MAX;
/// Least improvement a local-search move must bring.
const MOVE_EPS: f64 = 1e-9;
/// Search nodes of one position's exact re-cover ([`recover_position`]).
const COVER_NODES: usize = 500;

/// Losses, budgets and sparse usability lists over the compact model.
struct Model {
    nc: usize,
    np: usize,
    nb: usize,
    /// Position of each block.
    pos: Vec<usize>,
    /// Blocks at each position.
    by_pos: Vec<Vec<u32>>,
    /// `loss[c * nb + b]`.
    loss: Vec<f64>,
    /// Feasibility: class `c` fits when its total loss is at most `budget[c]` (the checker's
    /// QoS with its tolerance).
    budget: Vec<f64>,
    /// The slightly larger budget of the bound and the usability test, so rounding never
    /// excludes an assembly the checker accepts.
    loose: Vec<f64>,
    /// `(c, n)`: usable blocks sorted by loss, then index: `cn[cn_off[c*np+n]..cn_off[..+1]]`.
    cn_off: Vec<usize>,
    cn: Vec<u32>,
    /// Classes that can use each block: `bc[bc_off[b]..bc_off[b+1]]`.
    bc_off: Vec<usize>,
    bc: Vec<u32>,
    /// Per position, classes by number of usable blocks (fewest first): the ascent's order.
    ascent_order: Vec<Vec<u32>>,
    /// Scale of each class's scores: its best total score.
    top: Vec<f64>,
}

impl Model {
    fn new(cm: &Compact) -> Model {
        let nc = cm.classes.len();
        let np = cm.positions;
        let nb = cm.blocks.len();
        let pos: Vec<usize> = cm.blocks.iter().map(|&(_, n)| n).collect();
        let by_pos: Vec<Vec<u32>> = cm
            .by_pos
            .iter()
            .map(|bs| bs.iter().map(|&b| b as u32).collect())
            .collect();
        let mut loss = vec![0.0; nc * nb];
        for c in 0..nc {
            for b in 0..nb {
                loss[c * nb + b] = cm.loss(c, b).max(0.0);
            }
        }
        let budget: Vec<f64> = cm.slack.clone();
        let loose: Vec<f64> = (0..nc).map(|c| cm.loss_budget(c)).collect();
        let top: Vec<f64> = (0..nc)
            .map(|c| cm.best_at[c * np..(c + 1) * np].iter().sum())
            .collect();
        let mut cn_off = Vec::with_capacity(nc * np + 1);
        let mut cn = Vec::new();
        let mut counts = vec![0usize; nb];
        cn_off.push(0);
        for c in 0..nc {
            for bs in &by_pos {
                let start = cn.len();
                cn.extend(
                    bs.iter()
                        .copied()
                        .filter(|&b| loss[c * nb + b as usize] <= loose[c]),
                );
                let l = &loss[c * nb..(c + 1) * nb];
                cn[start..]
                    .sort_by(|&a, &b| l[a as usize].total_cmp(&l[b as usize]).then(a.cmp(&b)));
                for &b in &cn[start..] {
                    counts[b as usize] += 1;
                }
                cn_off.push(cn.len());
            }
        }
        let mut bc_off = Vec::with_capacity(nb + 1);
        bc_off.push(0);
        for b in 0..nb {
            bc_off.push(bc_off[b] + counts[b]);
        }
        let mut fill = bc_off.clone();
        let mut bc = vec![0u32; cn.len()];
        for c in 0..nc {
            for &b in &cn[cn_off[c * np]..cn_off[(c + 1) * np]] {
                bc[fill[b as usize]] = c as u32;
                fill[b as usize] += 1;
            }
        }
        let ascent_order = (0..np)
            .map(|n| {
                let len = |c: usize| cn_off[c * np + n + 1] - cn_off[c * np + n];
                let mut order: Vec<u32> = (0..nc as u32).collect();
                order.sort_by_key(|&c| (len(c as usize), c));
                order
            })
            .collect();
        Model {
            nc,
            np,
            nb,
            pos,
            by_pos,
            loss,
            budget,
            loose,
            cn_off,
            cn,
            bc_off,
            bc,
            ascent_order,
            top,
        }
    }

    #[inline]
    fn l(&self, c: usize, b: usize) -> f64 {
        self.loss[c * self.nb + b]
    }

    #[inline]
    fn list(&self, c: usize, n: usize) -> &[u32] {
        let i = c * self.np + n;
        &self.cn[self.cn_off[i]..self.cn_off[i + 1]]
    }

    #[inline]
    fn users(&self, b: usize) -> &[u32] {
        &self.bc[self.bc_off[b]..self.bc_off[b + 1]]
    }
}

/// A set of blocks with each class's best (least-loss) block in it at each position.
#[derive(Clone)]
struct State {
    in_y: Vec<bool>,
    size: usize,
    /// `cur[c*np+n]`: least loss of class `c` at `n` in the set (`inf` when none is usable).
    cur: Vec<f64>,
    /// The block achieving it (`NONE` when none).
    arg: Vec<u32>,
    /// Each class's total loss.
    total: Vec<f64>,
}

impl State {
    fn new(m: &Model, in_y: Vec<bool>) -> State {
        let size = in_y.iter().filter(|&&x| x).count();
        let mut s = State {
            in_y,
            size,
            cur: vec![f64::INFINITY; m.nc * m.np],
            arg: vec![NONE; m.nc * m.np],
            total: vec![0.0; m.nc],
        };
        for c in 0..m.nc {
            for n in 0..m.np {
                s.rescan(m, c, n);
            }
        }
        s.refresh_totals(m);
        s
    }

    /// Recompute the best block of `(c, n)` from the sorted list.
    #[inline]
    fn rescan(&mut self, m: &Model, c: usize, n: usize) {
        let i = c * m.np + n;
        match m.list(c, n).iter().find(|&&b| self.in_y[b as usize]) {
            Some(&b) => {
                self.cur[i] = m.l(c, b as usize);
                self.arg[i] = b;
            }
            None => {
                self.cur[i] = f64::INFINITY;
                self.arg[i] = NONE;
            }
        }
    }

    /// Totals summed afresh in position order (incremental updates drift).
    fn refresh_totals(&mut self, m: &Model) {
        for c in 0..m.nc {
            self.total[c] = self.cur[c * m.np..(c + 1) * m.np].iter().sum();
        }
    }

    fn add(&mut self, m: &Model, b: usize) {
        debug_assert!(!self.in_y[b]);
        self.in_y[b] = true;
        self.size += 1;
        let n = m.pos[b];
        for &c in m.users(b) {
            let c = c as usize;
            let i = c * m.np + n;
            let l = m.l(c, b);
            // Ties go to the earlier block in the sorted list, as `rescan` finds it.
            let better = l < self.cur[i]
                || (l == self.cur[i] && self.arg[i] != NONE && b < self.arg[i] as usize);
            if better {
                let was = self.cur[i];
                self.cur[i] = l;
                self.arg[i] = b as u32;
                if was.is_finite() {
                    self.total[c] += l - was;
                } else {
                    self.total[c] = self.cur[c * m.np..(c + 1) * m.np].iter().sum();
                }
            }
        }
    }

    fn remove(&mut self, m: &Model, b: usize) {
        debug_assert!(self.in_y[b]);
        self.in_y[b] = false;
        self.size -= 1;
        let n = m.pos[b];
        for &c in m.users(b) {
            let c = c as usize;
            let i = c * m.np + n;
            if self.arg[i] as usize == b {
                let old = self.cur[i];
                self.rescan(m, c, n);
                if self.cur[i].is_finite() {
                    self.total[c] += self.cur[i] - old;
                } else {
                    self.total[c] = f64::INFINITY;
                }
            }
        }
    }

    #[inline]
    fn excess(&self, m: &Model, c: usize) -> f64 {
        self.total[c] - m.budget[c]
    }

    fn feasible(&self, m: &Model) -> bool {
        (0..m.nc).all(|c| self.total[c] <= m.budget[c])
    }

    /// Least loss of `(c, n)` in the set without block `b` (which is its best).
    fn next_without(&self, m: &Model, c: usize, n: usize, b: usize) -> f64 {
        m.list(c, n)
            .iter()
            .find(|&&j| j as usize != b && self.in_y[j as usize])
            .map_or(f64::INFINITY, |&j| m.l(c, j as usize))
    }

    /// Whether dropping `b` keeps every class within its budget.
    fn removable(&self, m: &Model, b: usize) -> bool {
        let n = m.pos[b];
        m.users(b).iter().all(|&c| {
            let c = c as usize;
            let i = c * m.np + n;
            if self.arg[i] as usize != b {
                return true;
            }
            let next = self.next_without(m, c, n, b);
            next.is_finite() && self.total[c] - self.cur[i] + next <= m.budget[c]
        })
    }

    /// Classes that take `b` as their best at its position.
    fn usage(&self, m: &Model, b: usize) -> usize {
        let n = m.pos[b];
        m.users(b)
            .iter()
            .filter(|&&c| self.arg[c as usize * m.np + n] as usize == b)
            .count()
    }

    fn blocks(&self) -> Vec<usize> {
        (0..self.in_y.len()).filter(|&b| self.in_y[b]).collect()
    }
}

/// Scratch space reused across calls.
struct Scratch {
    gain: Vec<f64>,
    touched: Vec<u32>,
    /// `tabu[b] == stamp`: not to be re-added in this move.
    tabu: Vec<u64>,
    stamp: u64,
    /// Dual ascent: facility slacks and customer values.
    slack: Vec<f64>,
    value: Vec<f64>,
    stopped: Vec<bool>,
    stopped_grad: Vec<f64>,
}

impl Scratch {
    /// Block `j` as a repair candidate: its current gain, and whether this move may add it.
    fn cand(&self, j: u32) -> Cand {
        Cand {
            ok: self.tabu[j as usize] != self.stamp,
            gain: self.gain[j as usize],
            block: j,
        }
    }

    fn new(m: &Model) -> Scratch {
        Scratch {
            gain: vec![0.0; m.nb],
            touched: Vec::new(),
            tabu: vec![0; m.nb],
            stamp: 1,
            slack: vec![0.0; m.nb],
            value: vec![0.0; m.nc],
            stopped: vec![false; m.nc],
            stopped_grad: vec![0.0; m.nc],
        }
    }

    fn bump(&mut self, b: u32, g: f64) {
        if self.gain[b as usize] == 0.0 {
            self.touched.push(b);
        }
        self.gain[b as usize] += g;
    }

    fn clear(&mut self) {
        for &b in &self.touched {
            self.gain[b as usize] = 0.0;
        }
        self.touched.clear();
    }
}

/// Add blocks until every class fits. First every class gets a usable block at each position
/// (the block covering the most uncovered classes, rarely needed); then, lazily, the block that
/// most reduces the classes' excess loss, each class's reduction capped at its excess and
/// divided by its excess when the repair began (so gains only fall as blocks are added and a
/// stale gain bounds the true one). Blocks marked tabu are taken only when nothing else helps.
/// Returns the blocks added, or `None` when no block helps (impossible from a feasible library).
fn repair(m: &Model, s: &mut State, sc: &mut Scratch) -> Option<Vec<usize>> {
    let mut added = Vec::new();
    cover(m, s, sc, &mut added)?;
    s.refresh_totals(m);
    let e0: Vec<f64> = (0..m.nc).map(|c| s.excess(m, c)).collect();
    if e0.iter().all(|&e| e <= 0.0) {
        return Some(added);
    }
    // Only classes over budget gain: the fewer of those and the block's users are scanned.
    let gain_of = |s: &State, over: &[usize], is_over: &[bool], j: usize| -> f64 {
        let n = m.pos[j];
        let gain = |c: usize| {
            let d = s.cur[c * m.np + n] - m.l(c, j);
            if d > 0.0 && m.l(c, j) <= m.loose[c] {
                d.min(s.excess(m, c)) / e0[c]
            } else {
                0.0
            }
        };
        let users = m.users(j);
        if over.len() <= users.len() {
            over.iter().map(|&c| gain(c)).sum()
        } else {
            users
                .iter()
                .map(|&c| c as usize)
                .filter(|&c| is_over[c])
                .map(gain)
                .sum()
        }
    };
    for c in 0..m.nc {
        let e = e0[c];
        if e <= 0.0 {
            continue;
        }
        for n in 0..m.np {
            let cur = s.cur[c * m.np + n];
            for &j in m.list(c, n) {
                let l = m.l(c, j as usize);
                if l >= cur {
                    break;
                }
                sc.bump(j, (cur - l).min(e) / e);
            }
        }
    }
    let mut heap: BinaryHeap<Cand> = sc.touched.iter().map(|&j| sc.cand(j)).collect();
    sc.clear();
    let mut since_refresh = 0;
    let mut over: Vec<usize> = (0..m.nc).filter(|&c| s.excess(m, c) > 0.0).collect();
    let mut is_over = vec![false; m.nc];
    for &c in &over {
        is_over[c] = true;
    }
    while !over.is_empty() {
        let Some(top) = heap.pop() else {
            // Totals may have drifted: sum afresh once before giving up.
            s.refresh_totals(m);
            if s.feasible(m) {
                break;
            }
            return None;
        };
        let j = top.block as usize;
        if s.in_y[j] {
            continue;
        }
        let g = gain_of(s, &over, &is_over, j);
        if g <= 0.0 {
            continue;
        }
        let fresh = Cand { gain: g, ..top };
        if heap.peek().is_some_and(|next| *next > fresh) {
            heap.push(fresh);
            continue;
        }
        s.add(m, j);
        added.push(j);
        since_refresh += 1;
        if since_refresh == 64 {
            s.refresh_totals(m);
            since_refresh = 0;
        }
        over.retain(|&c| {
            let still = s.excess(m, c) > 0.0;
            is_over[c] = still;
            still
        });
    }
    s.refresh_totals(m);
    if s.feasible(m) {
        Some(added)
    } else {
        // Drift put a class just over its budget: one more exact round.
        let more = repair(m, s, sc)?;
        added.extend(more);
        Some(added)
    }
}

/// A repair candidate: non-tabu first, then the larger gain, then the lower block index.
#[derive(Clone, Copy, PartialEq)]
struct Cand {
    ok: bool,
    gain: f64,
    block: u32,
}

impl Eq for Cand {}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ok
            .cmp(&other.ok)
            .then(self.gain.total_cmp(&other.gain))
            .then(other.block.cmp(&self.block))
    }
}

/// Give every class a usable block at every position: repeatedly the block that covers the
/// most uncovered `(class, position)` pairs (non-tabu first, ties by index).
fn cover(m: &Model, s: &mut State, sc: &mut Scratch, added: &mut Vec<usize>) -> Option<()> {
    loop {
        for c in 0..m.nc {
            for n in 0..m.np {
                if s.arg[c * m.np + n] == NONE {
                    for &j in m.list(c, n) {
                        sc.bump(j, 1.0);
                    }
                }
            }
        }
        if sc.touched.is_empty() {
            return Some(());
        }
        let best = sc
            .touched
            .iter()
            .map(|&j| sc.cand(j))
            .max()
            .expect("touched is not empty");
        sc.clear();
        if s.in_y[best.block as usize] {
            return None;
        }
        s.add(m, best.block as usize);
        added.push(best.block as usize);
    }
}

/// Drop blocks of `candidates` whose users all still fit without them, least used first (ties
/// by index).
fn drop_redundant(m: &Model, s: &mut State, candidates: &mut Vec<usize>) {
    candidates.sort_unstable();
    candidates.dedup();
    candidates.retain(|&b| s.in_y[b]);
    let mut keyed: Vec<(usize, usize)> = candidates.iter().map(|&b| (s.usage(m, b), b)).collect();
    keyed.sort_unstable();
    for (_, b) in keyed {
        if s.in_y[b] && s.removable(m, b) {
            s.remove(m, b);
        }
    }
    s.refresh_totals(m);
}

/// Local search on position `n`'s priced facility-location problem, in place on `s` (whose
/// sets at other positions are untouched): add, drop, and add-then-drop moves, best first.
fn price_position(m: &Model, s: &mut State, sc: &mut Scratch, n: usize, lambda: &[f64]) {
    for _ in 0..4 * m.by_pos[n].len() + 8 {
        // Add gains: what the priced classes save by taking each block.
        for c in 0..m.nc {
            let lam = lambda[c];
            if lam <= 0.0 {
                continue;
            }
            let cur = s.cur[c * m.np + n];
            for &j in m.list(c, n) {
                let l = m.l(c, j as usize);
                if l >= cur {
                    break;
                }
                sc.bump(j, lam * (cur - l));
            }
        }
        let mut adds: Vec<(f64, u32)> = sc
            .touched
            .iter()
            .map(|&j| (sc.gain[j as usize] - 1.0, j))
            .collect();
        sc.clear();
        adds.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let (drop_gain, drop) = best_drop(m, s, sc, n, lambda);
        let add_gain = adds.first().map_or(f64::NEG_INFINITY, |a| a.0);
        if add_gain > MOVE_EPS && add_gain >= drop_gain {
            s.add(m, adds[0].1 as usize);
            continue;
        }
        if drop_gain > MOVE_EPS {
            s.remove(m, drop.expect("a positive drop has a block"));
            continue;
        }
        // Swaps: the best few additions, each followed by the best drop.
        let mut moved = false;
        for &(g, j) in adds.iter().take(3) {
            s.add(m, j as usize);
            let (dg, d) = best_drop(m, s, sc, n, lambda);
            if g + dg > MOVE_EPS && d.is_some_and(|d| d != j as usize) {
                s.remove(m, d.expect("checked"));
                moved = true;
                break;
            }
            s.remove(m, j as usize);
        }
        if !moved {
            break;
        }
    }
}

/// The best drop at position `n`: `(saving, block)`, from one pass over the classes; a block is
/// droppable only when each of its users has another usable block in the set.
fn best_drop(
    m: &Model,
    s: &State,
    sc: &mut Scratch,
    n: usize,
    lambda: &[f64],
) -> (f64, Option<usize>) {
    // `gain` holds each set block's priced cost of dropping it, `stopped` marks blocks some
    // class cannot do without (indexed by block through `slack` as a flag: 1.0 = pinned).
    for &b in &m.by_pos[n] {
        if s.in_y[b as usize] {
            sc.slack[b as usize] = 0.0;
            sc.gain[b as usize] = 0.0;
        }
    }
    for c in 0..m.nc {
        let i = c * m.np + n;
        let b = s.arg[i];
        if b == NONE || sc.slack[b as usize] != 0.0 {
            continue;
        }
        let next = s.next_without(m, c, n, b as usize);
        if next.is_finite() {
            sc.gain[b as usize] += lambda[c] * (next - s.cur[i]);
        } else {
            sc.slack[b as usize] = 1.0;
        }
    }
    let mut best = (f64::NEG_INFINITY, None);
    for &b in &m.by_pos[n] {
        let b = b as usize;
        if !s.in_y[b] {
            continue;
        }
        let saving = 1.0 - sc.gain[b];
        sc.gain[b] = 0.0;
        if sc.slack[b] == 0.0 && saving > best.0 {
            best = (saving, Some(b));
        }
    }
    best
}

/// A lower bound on position `n`'s priced facility-location problem: a feasible point of the
/// dual of its LP, `max sum_c v_c` s.t. `sum_c (v_c - lambda_c loss_c(j))^+ <= 1` for every
/// block `j` (class `c` only over its usable blocks), by Erlenkotter's dual ascent: `rounds`
/// rounds raising each class to its next breakpoint, then one raising each as far as it goes.
fn ascent(m: &Model, sc: &mut Scratch, n: usize, lambda: &[f64], rounds: usize) -> f64 {
    for &b in &m.by_pos[n] {
        sc.slack[b as usize] = 1.0;
    }
    for c in 0..m.nc {
        let first = m.list(c, n)[0] as usize;
        sc.value[c] = lambda[c] * m.l(c, first);
        sc.stopped[c] = false;
    }
    let mut round = 0;
    loop {
        let last = round >= rounds;
        let mut moved = false;
        for &c in &m.ascent_order[n] {
            let c = c as usize;
            if sc.stopped[c] {
                continue;
            }
            let lam = lambda[c];
            let v = sc.value[c];
            let list = m.list(c, n);
            // The next breakpoint above `v` (or none), and how far the slacks let `v` go.
            let mut target = f64::INFINITY;
            let mut room = f64::INFINITY;
            for &j in list {
                let a = lam * m.l(c, j as usize);
                if a > v {
                    if !last {
                        target = a;
                        break;
                    }
                    room = room.min(sc.slack[j as usize] + a);
                } else {
                    room = room.min(sc.slack[j as usize] + v);
                }
            }
            let new = target.min(room);
            if new == room {
                sc.stopped[c] = true;
            }
            if new <= v || !new.is_finite() {
                continue;
            }
            for &j in list {
                let a = lam * m.l(c, j as usize);
                if a >= new {
                    break;
                }
                let s = &mut sc.slack[j as usize];
                *s = (*s - (new - a.max(v))).max(0.0);
            }
            sc.value[c] = new;
            moved = true;
        }
        if last {
            break;
        }
        // Nothing moved at a breakpoint round: go straight to the final one.
        round = if moved { round + 1 } else { rounds };
    }
    sc.value.iter().sum()
}

/// Improve the ascent's point for position `n` by subgradient steps on the UFL's Lagrangian in
/// the classes' values `v` (the assignment rows dualised): `sum_c v_c + sum_j min(0, 1 -
/// sum_c (v_c - lambda_c loss_c(j))^+)` bounds `F_n(lambda)` from below for *any* `v`, so
/// every step's value is valid. Polyak steps towards `target` (an upper bound on `F_n`, the
/// local search's value). Starts from `sc.value` (the ascent's); returns the best value seen.
fn polish(
    m: &Model,
    sc: &mut Scratch,
    n: usize,
    lambda: &[f64],
    start: f64,
    target: f64,
    steps: usize,
) -> f64 {
    let mut best = start;
    let mut theta = 1.0;
    let mut since = 0;
    let value = &mut sc.value;
    let load = &mut sc.slack;
    for _ in 0..steps {
        if target - best <= 1e-9 {
            break;
        }
        for &b in &m.by_pos[n] {
            load[b as usize] = 0.0;
        }
        for c in 0..m.nc {
            let (lam, v) = (lambda[c], value[c]);
            for &j in m.list(c, n) {
                let a = lam * m.l(c, j as usize);
                if a >= v {
                    break;
                }
                load[j as usize] += v - a;
            }
        }
        let mut f: f64 = value.iter().sum();
        for &b in &m.by_pos[n] {
            f += (1.0 - load[b as usize]).min(0.0);
        }
        if f > best + 1e-12 {
            best = f;
            since = 0;
        } else {
            since += 1;
            if since >= 3 {
                theta *= 0.5;
                since = 0;
            }
        }
        // Subgradient: 1 - (open blocks the class would pay for by rising).
        let grad = &mut sc.stopped_grad;
        let mut norm = 0.0;
        for c in 0..m.nc {
            let (lam, v) = (lambda[c], value[c]);
            let mut open = 0.0;
            for &j in m.list(c, n) {
                let a = lam * m.l(c, j as usize);
                if a > v {
                    break;
                }
                if load[j as usize] >= 1.0 - 1e-12 {
                    open += 1.0;
                }
            }
            grad[c] = 1.0 - open;
            norm += grad[c] * grad[c];
        }
        if norm == 0.0 {
            break;
        }
        let t = theta * (target - f).max(1e-9) / norm;
        for c in 0..m.nc {
            let floor = lambda[c] * m.l(c, m.list(c, n)[0] as usize);
            value[c] = (value[c] + t * grad[c]).max(floor);
        }
    }
    best
}

/// The Lagrangian bound at `lambda`: `sum_n F_n lower bound - sum_c lambda_c * loose_c`, each
/// position by dual ascent, then `steps` polishing steps towards `targets[n]`.
fn dual_bound(
    m: &Model,
    sc: &mut Scratch,
    lambda: &[f64],
    rounds: usize,
    targets: Option<&[f64]>,
    steps: usize,
) -> f64 {
    let mut total = 0.0;
    for n in 0..m.np {
        let mut here = ascent(m, sc, n, lambda, rounds);
        if let Some(t) = targets {
            here = polish(m, sc, n, lambda, here, t[n], steps);
        }
        total += here;
    }
    total - (0..m.nc).map(|c| lambda[c] * m.loose[c]).sum::<f64>()
}

/// Lagrangian selection (docs/algorithms/lagrangian.md), started from Algorithm 1 under the
/// user's `greedy` settings (so the answer is never above the greedy selection the user sees).
/// Errors on invalid options and on a device whose QoS the whole library cannot reach.
pub fn lagrangian(
    inst: &Instance,
    opts: &LagrangianOptions,
    greedy_opts: &GreedyOptions,
) -> Result<LagrangianResult> {
    let cm = checked_model(inst, opts)?;
    let g = greedy(inst, greedy_opts)
        .map_err(|source| MbaError::Check {
            method: "greedy",
            source,
        })?
        .selection;
    search(inst, opts, &cm, g)
}

/// [`lagrangian`] from a greedy selection the caller already has (`start`, under the user's
/// `greedy` settings), so that it is not computed twice.
pub fn lagrangian_from(
    inst: &Instance,
    opts: &LagrangianOptions,
    start: Selection,
) -> Result<LagrangianResult> {
    let cm = checked_model(inst, opts)?;
    search(inst, opts, &cm, start)
}

/// The compact model, once the options are valid and every class can reach its QoS.
fn checked_model(inst: &Instance, opts: &LagrangianOptions) -> Result<Compact> {
    opts.validate("lagrangian.")
        .map_err(|e| e.in_file("lagrangian options"))?;
    let cm = Compact::new(inst);
    if let Some(c) = (0..cm.classes.len()).find(|&c| !cm.feasible_class(c, |_| true)) {
        let class = &cm.classes[c];
        return Err(MbaError::Infeasible {
            reason: format!(
                "device {} (task {}) cannot reach QoS {} with the whole library (best {})",
                class.devices[0],
                class.task,
                class.qos,
                inst.library.best_reachable(class.task)
            ),
        });
    }
    Ok(cm)
}

/// Both phases from the greedy selection `g`; never above it.
fn search(
    inst: &Instance,
    opts: &LagrangianOptions,
    cm: &Compact,
    g: Selection,
) -> Result<LagrangianResult> {
    let greedy_blocks = g.num_blocks();
    let m = Model::new(cm);
    let mut sc = Scratch::new(&m);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);

    // The greedy set, made minimal: the first incumbent.
    let mut best = State::new(&m, cm.chosen_of(inst, &g));
    if repair(&m, &mut best, &mut sc).is_none() {
        return Err(MbaError::Infeasible {
            reason: "no feasible broadcast set found".into(),
        });
    }
    let mut all = best.blocks();
    drop_redundant(&m, &mut best, &mut all);

    let dual = prices(&m, &mut sc, opts, &mut best);
    let phase1_blocks = best.size;
    cover_sweeps(&m, &mut best, opts.cover_sweeps);
    let improving = walk(&m, &mut sc, &mut rng, opts, &mut best);

    let selection = match cm.selection(inst, &best.in_y) {
        Some(sel) if sel.num_blocks() <= greedy_blocks => sel,
        _ => g,
    };
    let lower_bound = int_bound(dual).max(m.np);
    Ok(LagrangianResult {
        selection,
        lower_bound,
        dual_value: dual,
        price_iterations: opts.price_iterations,
        walk_iterations: opts.walk_iterations,
        improving_moves: improving,
        greedy_blocks,
        phase1_blocks,
    })
}

/// Phase 1: prices, per-position subproblems, repair; `best` becomes the best feasible set seen.
/// Returns the best dual value: the bound at every `bound_every`-th price vector and the last,
/// then `final_polish_steps` more polishing at the best one.
fn prices(m: &Model, sc: &mut Scratch, opts: &LagrangianOptions, best: &mut State) -> f64 {
    let scale = |c: usize| m.budget[c].max(1e-3 * m.top[c]).max(1e-12);
    let mut lambda: Vec<f64> = (0..m.nc).map(|c| opts.initial_price / scale(c)).collect();
    if opts.price_iterations == 0 {
        return dual_bound(m, sc, &lambda, opts.ascent_rounds, None, 0);
    }
    let mut dual = f64::NEG_INFINITY;
    let mut best_point = (lambda.clone(), vec![0.0; m.np]);
    let mut priced = best.clone();
    for it in 0..opts.price_iterations {
        for n in 0..m.np {
            price_position(m, &mut priced, sc, n, &lambda);
        }
        priced.refresh_totals(m);
        let last = it + 1 == opts.price_iterations;
        if (it + 1) % opts.bound_every == 0 || last {
            let targets = priced_values(m, &priced, &lambda);
            let here = dual_bound(
                m,
                sc,
                &lambda,
                opts.ascent_rounds,
                Some(&targets),
                opts.polish_steps,
            );
            if here > dual {
                dual = here;
                best_point = (lambda.clone(), targets);
            }
        }
        let mut y = priced.clone();
        if repair(m, &mut y, sc).is_some() {
            let mut all = y.blocks();
            drop_redundant(m, &mut y, &mut all);
            if y.feasible(m) && y.size < best.size {
                *best = y;
            }
        }
        let frac = it as f64 / opts.price_iterations as f64;
        let step = opts.price_step * (1.0 - 0.8 * frac);
        for c in 0..m.nc {
            let v = ((priced.total[c] - m.budget[c]) / scale(c)).clamp(-1.0, 1.0);
            lambda[c] *= (step * v).exp();
        }
    }
    if opts.final_polish_steps > 0 {
        let (lambda, targets) = &best_point;
        let here = dual_bound(
            m,
            sc,
            lambda,
            opts.ascent_rounds,
            Some(targets),
            opts.final_polish_steps,
        );
        dual = dual.max(here);
    }
    dual
}

/// Each position's priced value in `s` (open blocks plus the classes' priced losses): the
/// polishing steps' targets, upper bounds on the positions' subproblems.
fn priced_values(m: &Model, s: &State, lambda: &[f64]) -> Vec<f64> {
    (0..m.np)
        .map(|n| {
            let open = m.by_pos[n].iter().filter(|&&b| s.in_y[b as usize]).count();
            open as f64
                + (0..m.nc)
                    .map(|c| lambda[c] * s.cur[c * m.np + n])
                    .sum::<f64>()
        })
        .collect()
}

/// Up to `sweeps` passes re-covering every position with the others fixed
/// ([`recover_position`]), dropping what became redundant; stops at a pass that changes nothing.
fn cover_sweeps(m: &Model, best: &mut State, sweeps: usize) {
    for _ in 0..sweeps {
        let mut changed = false;
        for n in 0..m.np {
            if recover_position(m, best, n, COVER_NODES) {
                changed = true;
                let mut all = best.blocks();
                drop_redundant(m, best, &mut all);
            }
        }
        if !changed {
            break;
        }
    }
}

/// Phase 2 from `best`: `walk_iterations` moves, plateaus walked, one block uphill now and then
/// (never more than two above the best). Returns the moves that made the best set smaller.
fn walk(
    m: &Model,
    sc: &mut Scratch,
    rng: &mut ChaCha8Rng,
    opts: &LagrangianOptions,
    best: &mut State,
) -> usize {
    let mut cur = best.clone();
    let mut improving = 0;
    for _ in 0..opts.walk_iterations {
        if cur.size <= m.np {
            break;
        }
        let mut trial = cur.clone();
        let Some(added) = walk_move(m, sc, rng, opts, &mut trial) else {
            continue;
        };
        let mut near = near_changes(m, &trial, &added);
        drop_redundant(m, &mut trial, &mut near);
        let uphill = trial.size == cur.size + 1
            && trial.size <= best.size + 2
            && rng.random_bool(opts.uphill);
        if !trial.feasible(m) || (trial.size > cur.size && !uphill) {
            continue;
        }
        cur = trial;
        if cur.size < best.size {
            *best = cur.clone();
            improving += 1;
        }
    }
    improving
}

/// One walk move on `trial`; the blocks it added, or `None` when the move does not apply.
/// With probability `pair_share` two random classes are taken out and put back exactly
/// ([`reinsert_pair`]); otherwise half the moves remove up to `max_removed` random blocks and
/// repair without them, half add one unsent block some class would rather use.
fn walk_move(
    m: &Model,
    sc: &mut Scratch,
    rng: &mut ChaCha8Rng,
    opts: &LagrangianOptions,
    trial: &mut State,
) -> Option<Vec<usize>> {
    if m.nc >= 2 && rng.random_bool(opts.pair_share) {
        let c1 = rng.random_range(0..m.nc);
        let c2 = (c1 + 1 + rng.random_range(0..m.nc - 1)) % m.nc;
        return reinsert_pair(m, trial, [c1, c2]);
    }
    if rng.random_bool(0.5) {
        let blocks = trial.blocks();
        let k = 1 + rng.random_range(0..opts.max_removed.min(blocks.len()));
        sc.stamp += 1;
        for _ in 0..k {
            let b = blocks[rng.random_range(0..blocks.len())];
            if trial.in_y[b] {
                trial.remove(m, b);
                sc.tabu[b] = sc.stamp;
            }
        }
        return repair(m, trial, sc);
    }
    let b = rng.random_range(0..m.nb);
    let n = m.pos[b];
    let useful = !trial.in_y[b]
        && m.users(b)
            .iter()
            .any(|&c| m.l(c as usize, b) < trial.cur[c as usize * m.np + n]);
    if !useful {
        return None;
    }
    trial.add(m, b);
    Some(vec![b])
}

/// The sent blocks a move's additions may have made redundant: those at the same positions,
/// and those of the classes that now take an added block.
fn near_changes(m: &Model, trial: &State, added: &[usize]) -> Vec<usize> {
    let mut near = Vec::new();
    for &a in added {
        let n = m.pos[a];
        near.extend(
            m.by_pos[n]
                .iter()
                .map(|&b| b as usize)
                .filter(|&b| trial.in_y[b]),
        );
        for &c in m.users(a) {
            let c = c as usize;
            if trial.arg[c * m.np + n] as usize == a {
                near.extend(
                    trial.arg[c * m.np..(c + 1) * m.np]
                        .iter()
                        .filter(|&&x| x != NONE)
                        .map(|&x| x as usize),
                );
            }
        }
    }
    near
}

/// Re-solve position `n` as a set cover with every other position fixed: class `c` may take at
/// `n` any block whose loss fits what its other positions leave (`budget_c - total_c +
/// cur_c(n)`, a prefix of its sorted list). Among covers no larger than the current one, the
/// smallest, then the one with the least normalised loss (slack left for the other
/// positions). Depth-first over the uncovered class with the fewest choices, `node_cap` nodes.
/// Returns whether the set changed.
fn recover_position(m: &Model, s: &mut State, n: usize, node_cap: usize) -> bool {
    let current: Vec<usize> = m.by_pos[n]
        .iter()
        .map(|&b| b as usize)
        .filter(|&b| s.in_y[b])
        .collect();
    // Each class's usable prefix at `n` and the weight of its loss.
    let mut prefix = Vec::with_capacity(m.nc);
    let mut weight = Vec::with_capacity(m.nc);
    for c in 0..m.nc {
        let i = c * m.np + n;
        let room = m.budget[c] - s.total[c] + s.cur[i];
        let list = m.list(c, n);
        let len = list
            .iter()
            .take_while(|&&j| m.l(c, j as usize) <= room)
            .count();
        prefix.push(&list[..len.max(1)]);
        weight.push(1.0 / m.budget[c].max(1e-3 * m.top[c]).max(1e-12));
    }
    let mut search = Cover {
        m,
        prefix: &prefix,
        weight: &weight,
        best: current.clone(),
        best_cost: cover_cost(m, &prefix, &weight, &current),
        chosen: Vec::new(),
        covered: vec![0; m.nc],
        nodes: 0,
        cap: node_cap,
    };
    search.dive();
    let mut next = search.best;
    next.sort_unstable();
    if next == current {
        return false;
    }
    swap_sets(m, s, &current, &next);
    if !s.feasible(m) {
        // Rounding at a budget's edge: keep the set as it was.
        swap_sets(m, s, &next, &current);
        return false;
    }
    true
}

/// Replace the blocks `from` by `to` (both sorted) in `s`.
fn swap_sets(m: &Model, s: &mut State, from: &[usize], to: &[usize]) {
    for &b in to {
        if !s.in_y[b] {
            s.add(m, b);
        }
    }
    for &b in from {
        if to.binary_search(&b).is_err() {
            s.remove(m, b);
        }
    }
    s.refresh_totals(m);
}

/// `(size, weighted loss)` of a cover at one position.
fn cover_cost(m: &Model, prefix: &[&[u32]], weight: &[f64], set: &[usize]) -> (usize, f64) {
    let mut loss = 0.0;
    for (c, p) in prefix.iter().enumerate() {
        let best = p
            .iter()
            .find(|&&j| set.contains(&(j as usize)))
            .map_or(f64::INFINITY, |&j| m.l(c, j as usize));
        loss += weight[c] * best;
    }
    (set.len(), loss)
}

struct Cover<'a> {
    m: &'a Model,
    prefix: &'a [&'a [u32]],
    weight: &'a [f64],
    best: Vec<usize>,
    best_cost: (usize, f64),
    chosen: Vec<usize>,
    /// How many chosen blocks cover each class.
    covered: Vec<u32>,
    nodes: usize,
    cap: usize,
}

impl Cover<'_> {
    fn dive(&mut self) {
        if self.nodes >= self.cap {
            return;
        }
        self.nodes += 1;
        // The uncovered class with the fewest choices.
        let pick = (0..self.m.nc)
            .filter(|&c| self.covered[c] == 0)
            .min_by_key(|&c| (self.prefix[c].len(), c));
        let Some(c) = pick else {
            let cost = cover_cost(self.m, self.prefix, self.weight, &self.chosen);
            if cost.0 < self.best_cost.0
                || (cost.0 == self.best_cost.0 && cost.1 < self.best_cost.1 - 1e-12)
            {
                self.best_cost = cost;
                self.best = self.chosen.clone();
            }
            return;
        };
        if self.chosen.len() + 1 > self.best_cost.0 {
            return;
        }
        for &j in self.prefix[c] {
            let j = j as usize;
            if self.chosen.contains(&j) {
                continue;
            }
            // The classes `j` covers: its users whose usable prefix holds it.
            let covers: Vec<usize> = self
                .m
                .users(j)
                .iter()
                .map(|&u| u as usize)
                .filter(|&u| self.prefix[u].contains(&(j as u32)))
                .collect();
            self.chosen.push(j);
            for &u in &covers {
                self.covered[u] += 1;
            }
            self.dive();
            for &u in &covers {
                self.covered[u] -= 1;
            }
            self.chosen.pop();
        }
    }
}

/// One position's choice in [`reinsert_pair`]: new blocks (at most two) and the pair's losses.
#[derive(Clone, Copy)]
struct PairOption {
    cost: usize,
    loss: [f64; 2],
    add: [u32; 2],
}

/// A point of the pair program: the pair's summed losses, and where it came from.
#[derive(Clone, Copy)]
struct PairPoint {
    loss: [f64; 2],
    /// Index of the point it extends (in the previous position's front of cost `cost - option
    /// cost`), and the option taken.
    parent: u32,
    option: u32,
}

/// Most points kept per front of the pair program (beyond it, evenly thinned).
const PAIR_FRONT: usize = 48;
/// Most fronts (positions x block counts) one pair program may hold, so that its memory stays
/// bounded on libraries with very many positions (the paper's scale needs about 600).
const PAIR_CELLS: usize = 20_000;

/// Take out the blocks only classes `pair` use, then put both classes back with the fewest new
/// blocks: an exact program over positions (at each, the pair keeps what the set has, or adds
/// a block for one of them, one block both use, or one for each), Pareto fronts of the pair's
/// summed losses per number of new blocks (thinned beyond [`PAIR_FRONT`] points). Other
/// classes keep their blocks. Returns the blocks added, or `None` (then `s` is unchanged)
/// when the pair cannot come back with at most as many blocks as it had.
fn reinsert_pair(m: &Model, s: &mut State, pair: [usize; 2]) -> Option<Vec<usize>> {
    let own = |b: usize| {
        let n = m.pos[b];
        let mut used = false;
        let only = m.users(b).iter().all(|&c| {
            let c = c as usize;
            let uses = s.arg[c * m.np + n] as usize == b;
            used |= uses && pair.contains(&c);
            !uses || pair.contains(&c)
        });
        only && used
    };
    let private: Vec<usize> = s.blocks().into_iter().filter(|&b| own(b)).collect();
    let limit = private.len();
    if m.np.saturating_mul(limit + 1) > PAIR_CELLS {
        return None;
    }
    let mut t = s.clone();
    for &b in &private {
        t.remove(m, b);
    }
    let options: Vec<Vec<PairOption>> = (0..m.np).map(|n| pair_options(m, &t, pair, n)).collect();
    // fronts[n][k]: points after positions 0..=n with k new blocks.
    let mut fronts: Vec<Vec<Vec<PairPoint>>> = Vec::with_capacity(m.np);
    let budget = [m.budget[pair[0]], m.budget[pair[1]]];
    for n in 0..m.np {
        let mut next: Vec<Vec<PairPoint>> = vec![Vec::new(); limit + 1];
        // Every point of the previous position: (new blocks, index in its front, losses).
        let from: Vec<(usize, usize, [f64; 2])> = if n == 0 {
            vec![(0, 0, [0.0, 0.0])]
        } else {
            fronts[n - 1]
                .iter()
                .enumerate()
                .flat_map(|(k, f)| f.iter().enumerate().map(move |(i, p)| (k, i, p.loss)))
                .collect()
        };
        for (o, opt) in options[n].iter().enumerate() {
            for &(k, i, l) in &from {
                let k2 = k + opt.cost;
                let loss = [l[0] + opt.loss[0], l[1] + opt.loss[1]];
                if k2 > limit || loss[0] > budget[0] || loss[1] > budget[1] {
                    continue;
                }
                next[k2].push(PairPoint {
                    loss,
                    parent: i as u32,
                    option: o as u32,
                });
            }
        }
        for f in &mut next {
            *f = pareto_thin(std::mem::take(f));
        }
        fronts.push(next);
    }
    let last = &fronts[m.np - 1];
    let k = (0..=limit).find(|&k| !last[k].is_empty())?;
    // Walk back from the point with the most slack left.
    let score =
        |p: &PairPoint| p.loss[0] / budget[0].max(1e-300) + p.loss[1] / budget[1].max(1e-300);
    let mut i = (0..last[k].len())
        .min_by(|&a, &b| score(&last[k][a]).total_cmp(&score(&last[k][b])))
        .expect("front is not empty");
    let mut kk = k;
    let mut added = Vec::new();
    for n in (0..m.np).rev() {
        let p = fronts[n][kk][i];
        let opt = options[n][p.option as usize];
        added.extend(opt.add.iter().filter(|&&b| b != NONE).map(|&b| b as usize));
        kk -= opt.cost;
        i = p.parent as usize;
    }
    for &b in &added {
        if !t.in_y[b] {
            t.add(m, b);
        }
    }
    t.refresh_totals(m);
    if !t.feasible(m) {
        return None;
    }
    *s = t;
    Some(added)
}

/// The pair's undominated choices at position `n` of set `t` (cost, then both losses).
fn pair_options(m: &Model, t: &State, pair: [usize; 2], n: usize) -> Vec<PairOption> {
    let keep = [t.cur[pair[0] * m.np + n], t.cur[pair[1] * m.np + n]];
    let loss_of = |c: usize, j: usize| {
        if m.l(c, j) <= m.loose[c] {
            m.l(c, j)
        } else {
            f64::INFINITY
        }
    };
    // One new block: those that improve on what the set gives either class.
    let mut ones = Vec::new();
    let mut best_new = [(f64::INFINITY, NONE); 2];
    for &j in &m.by_pos[n] {
        let j = j as usize;
        if t.in_y[j] {
            continue;
        }
        let l = [loss_of(pair[0], j), loss_of(pair[1], j)];
        for a in 0..2 {
            if l[a] < best_new[a].0 {
                best_new[a] = (l[a], j as u32);
            }
        }
        if l[0] < keep[0] || l[1] < keep[1] {
            ones.push(PairOption {
                cost: 1,
                loss: [keep[0].min(l[0]), keep[1].min(l[1])],
                add: [j as u32, NONE],
            });
        }
    }
    ones.sort_by(|a, b| {
        (a.loss[0].total_cmp(&b.loss[0]))
            .then(a.loss[1].total_cmp(&b.loss[1]))
            .then(a.add[0].cmp(&b.add[0]))
    });
    let mut opts = vec![PairOption {
        cost: 0,
        loss: keep,
        add: [NONE, NONE],
    }];
    let mut least = f64::INFINITY;
    for o in ones {
        if o.loss[1] < least {
            least = o.loss[1];
            opts.push(o);
        }
    }
    let two = [keep[0].min(best_new[0].0), keep[1].min(best_new[1].0)];
    let distinct = best_new[0].1 != NONE && best_new[1].1 != NONE && best_new[0].1 != best_new[1].1;
    if distinct
        && !opts
            .iter()
            .any(|o| o.loss[0] <= two[0] && o.loss[1] <= two[1])
    {
        opts.push(PairOption {
            cost: 2,
            loss: two,
            add: [best_new[0].1, best_new[1].1],
        });
    }
    opts.retain(|o| o.loss[0].is_finite() && o.loss[1].is_finite());
    opts
}

/// The Pareto front (least of both losses) of `points`, thinned evenly to [`PAIR_FRONT`].
fn pareto_thin(mut points: Vec<PairPoint>) -> Vec<PairPoint> {
    points.sort_by(|a, b| {
        a.loss[0]
            .total_cmp(&b.loss[0])
            .then(a.loss[1].total_cmp(&b.loss[1]))
    });
    let mut front: Vec<PairPoint> = Vec::new();
    for p in points {
        if front.last().is_none_or(|q| p.loss[1] < q.loss[1]) {
            front.push(p);
        }
    }
    if front.len() > PAIR_FRONT {
        let len = front.len();
        front = (0..PAIR_FRONT)
            .map(|i| front[i * (len - 1) / (PAIR_FRONT - 1)])
            .collect();
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::generate::{GeneratorParams, generate_instance};

    /// A small instance's model and its greedy set, made minimal.
    fn start(seed: u64) -> (Model, State) {
        let p = GeneratorParams {
            models: 5,
            blocks: 3,
            devices: 4,
            clusters: 2,
            sharing: 0.3,
            ..Default::default()
        };
        let inst = generate_instance(&p, seed);
        let cm = Compact::new(&inst);
        let m = Model::new(&cm);
        let g = greedy(&inst, &GreedyOptions::default()).unwrap().selection;
        let mut s = State::new(&m, cm.chosen_of(&inst, &g));
        let mut sc = Scratch::new(&m);
        repair(&m, &mut s, &mut sc).unwrap();
        let mut all = s.blocks();
        drop_redundant(&m, &mut s, &mut all);
        (m, s)
    }

    /// Whether classes `cs` fit their budgets with the set `in_y`.
    fn fits(m: &Model, in_y: &[bool], cs: &[usize]) -> bool {
        let t = State::new(m, in_y.to_vec());
        cs.iter().all(|&c| t.total[c] <= m.budget[c])
    }

    /// The pair program equals brute force over every set of blocks added back.
    #[test]
    fn pair_reinsertion_is_exact() {
        let mut checked = 0;
        // Moves that keep the size, fail (never: the pair's own blocks always fit), shrink it.
        let mut outcomes = [0; 3];
        for seed in 0..12 {
            let (m, s) = start(seed);
            for c1 in 0..m.nc {
                for c2 in c1 + 1..m.nc {
                    let mut t = s.clone();
                    let got = reinsert_pair(&m, &mut t, [c1, c2]).map(|_| t.size);
                    // Brute force: the set without the pair's own blocks, plus any subset.
                    let mut base = s.clone();
                    let own: Vec<usize> = s
                        .blocks()
                        .into_iter()
                        .filter(|&b| {
                            let n = m.pos[b];
                            let users: Vec<usize> = m
                                .users(b)
                                .iter()
                                .map(|&c| c as usize)
                                .filter(|&c| s.arg[c * m.np + n] as usize == b)
                                .collect();
                            !users.is_empty() && users.iter().all(|c| [c1, c2].contains(c))
                        })
                        .collect();
                    for &b in &own {
                        base.remove(&m, b);
                    }
                    let free: Vec<usize> = (0..m.nb).filter(|&b| !base.in_y[b]).collect();
                    assert!(free.len() <= 16, "instance too large for brute force");
                    let mut best = usize::MAX;
                    for mask in 0u32..1 << free.len() {
                        let mut in_y = base.in_y.clone();
                        for (i, &b) in free.iter().enumerate() {
                            in_y[b] |= mask >> i & 1 == 1;
                        }
                        if fits(&m, &in_y, &[c1, c2]) {
                            best = best.min(base.size + mask.count_ones() as usize);
                        }
                    }
                    let want = (best <= s.size).then_some(best);
                    assert_eq!(got, want, "seed {seed}, pair ({c1}, {c2})");
                    outcomes[usize::from(got.is_none())
                        + usize::from(got.is_some_and(|g| g < s.size)) * 2] += 1;
                    if let Some(size) = got {
                        assert!(t.feasible(&m), "seed {seed}: infeasible after the move");
                        assert!(size <= s.size);
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 30, "only {checked} pairs");
        assert!(
            outcomes[2] > 0,
            "no pair move shrinks the set: {outcomes:?}"
        );
    }

    /// The re-cover of one position equals brute force over the position's block sets.
    #[test]
    fn position_recover_is_exact() {
        let mut smaller = 0;
        for seed in 0..12 {
            let (m, minimal) = start(seed);
            // From the minimal greedy set and from the whole library.
            for s in [minimal, State::new(&m, vec![true; m.nb])] {
                for n in 0..m.np {
                    let mut t = s.clone();
                    recover_position(&m, &mut t, n, usize::MAX);
                    assert!(t.feasible(&m), "seed {seed}, position {n}");
                    let here =
                        |st: &State| m.by_pos[n].iter().filter(|&&b| st.in_y[b as usize]).count();
                    let blocks = &m.by_pos[n];
                    let mut best = usize::MAX;
                    for mask in 1u32..1 << blocks.len() {
                        let mut in_y = s.in_y.clone();
                        for (i, &b) in blocks.iter().enumerate() {
                            in_y[b as usize] = mask >> i & 1 == 1;
                        }
                        if fits(&m, &in_y, &(0..m.nc).collect::<Vec<_>>()) {
                            best = best.min(mask.count_ones() as usize);
                        }
                    }
                    assert_eq!(here(&t), best, "seed {seed}, position {n}");
                    smaller += usize::from(best < here(&s));
                }
            }
        }
        assert!(smaller > 0, "no position could be re-covered smaller");
    }
}
