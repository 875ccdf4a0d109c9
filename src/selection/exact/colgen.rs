//! A stronger relaxation than the LP: Dantzig-Wolfe over device classes. Each class chooses a
//! whole *pattern* (one block per position within its loss budget) instead of fractions of
//! blocks per position, so every class's QoS knapsack is convexified exactly; only the
//! sharing of blocks between classes (`x[c][b] <= y_b`) stays relaxed.
//!
//! Master LP: `min sum_b y_b` s.t. `sum_p w[c][p] = 1` for every class and
//! `y_b - sum_{p of c using b} w[c][p] >= 0` for every class and usable block. Pricing is one
//! multiple-choice knapsack per class (`mckp.rs`). Every pricing round also gives a Lagrangian
//! bound (the linking rows dualised with multipliers `mu >= 0`):
//! `L(mu) = sum_b min(0, 1 - sum_c mu[c][b]) + sum_c MCKP_c(mu[c])`, valid at any `mu`, so the
//! bound holds however early the column generation stops. Duals are smoothed towards the best
//! multipliers so far (Wentges) against the tailing-off of plain column generation.
//!
//! At the best multipliers the same Lagrangian fixes `y` for every solution smaller than the
//! incumbent: a block whose forced use (or forced absence) lifts the bound to the incumbent.

use std::time::Instant;

use highs::{Col, HighsModelStatus, Model, Row, RowProblem, Sense};

use super::mckp::{self, Item};
use super::model::{Compact, int_bound, quiet_single_thread};
use crate::error::{HighsFailure, MbaError, Result};

/// Reduced cost below which a pattern enters the master.
const PRICE_TOL: f64 = 1e-9;
/// Seconds between progress lines (none on a fast solve).
const PROGRESS_EVERY_S: f64 = 2.0;
/// Weight of the best multipliers so far in the smoothed pricing point.
const SMOOTHING: f64 = 0.5;

/// What the column generation proves at the root.
#[derive(Debug, Clone)]
pub struct RootBound {
    /// The best Lagrangian value: a lower bound on `|Y|`.
    pub bound: f64,
    /// The last restricted master's value: an upper bound on the Dantzig-Wolfe bound.
    pub master: f64,
    pub iterations: u64,
    /// The safety net stopped it (the bound is valid, but depends on the machine).
    pub timed_out: bool,
    /// The last master's `y`: a fractional point to round for an incumbent.
    pub y: Vec<f64>,
    /// The multipliers of `bound`.
    pub mu: Vec<Vec<f64>>,
    /// `y_fix[b]`: 0 or 1 where every solution smaller than the incumbent has that value, -1
    /// where free.
    pub y_fix: Vec<i8>,
}

/// Column generation from `start_patterns` (per class, block lists) until the bound proves
/// `ub`, cannot rise to the next integer, or `max_rounds` rounds are done (or, as a safety net,
/// `deadline` passes: then `timed_out`). Nothing is fixed yet (see [`RootBound::fix_against`]).
pub fn root_bound(
    cm: &Compact,
    start_patterns: &[Vec<usize>],
    ub: usize,
    max_rounds: u64,
    deadline: Instant,
    log: &dyn Fn(&str),
) -> Result<RootBound> {
    let mut master = Master::new(cm);
    for (c, p) in start_patterns.iter().enumerate() {
        if p.len() == cm.positions {
            master.add_pattern(c, p);
        }
    }
    for c in 0..cm.classes.len() {
        master.add_pattern(c, &own_pattern(cm, c));
    }
    let nc = cm.classes.len();
    let mut center: Option<(f64, Vec<Vec<f64>>)> = None;
    let mut value = f64::INFINITY;
    let mut iterations = 0;
    let mut y = vec![1.0; cm.blocks.len()];
    let started = Instant::now();
    let mut next_progress = PROGRESS_EVERY_S;
    let mut timed_out = false;
    while iterations < max_rounds {
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        iterations += 1;
        let (v, mu) = master.solve()?;
        value = v;
        y = master.y.clone();
        let smoothed = match &center {
            Some((_, best)) => blend(best, &mu, SMOOTHING),
            None => mu.clone(),
        };
        let mut added = price(cm, &mut master, &smoothed, &mut center)?;
        if added == 0 && center.is_some() {
            // Mispricing at the smoothed point: price at the master's own duals.
            added = price(cm, &mut master, &mu, &mut center)?;
        }
        let best = center.as_ref().map_or(f64::NEG_INFINITY, |c| c.0);
        let t = started.elapsed().as_secs_f64();
        if t >= next_progress {
            next_progress = t + PROGRESS_EVERY_S;
            log(&format!(
                "bnb: column generation, {t:.1} s, round {iterations}, bound {best:.3}, master {value:.3}"
            ));
        }
        if added == 0 || int_bound(best) >= ub || int_bound(best) >= int_bound(value) {
            break;
        }
    }
    let (bound, mu) = center.unwrap_or_else(|| (0.0, vec![vec![0.0; cm.blocks.len()]; nc]));
    Ok(RootBound {
        bound,
        master: value,
        iterations,
        timed_out,
        y,
        mu,
        y_fix: vec![-1; cm.blocks.len()],
    })
}

impl RootBound {
    /// Lagrangian fixing at the bound's multipliers against the incumbent size `ub`.
    /// Returns whether the safety net's `deadline` cut the fixing short (blocks not reached
    /// stay free: fewer fixings are still valid).
    pub fn fix_against(&mut self, cm: &Compact, ub: usize, deadline: Instant) -> bool {
        let (y_fix, late) = fixings(cm, &self.mu, self.bound, ub, deadline);
        self.y_fix = y_fix;
        late
    }
}

/// Price every class at `mu`, add the patterns that improve the master at its current duals,
/// and move the stability center when `L(mu)` beats it. Returns the number of patterns added.
fn price(
    cm: &Compact,
    master: &mut Master,
    mu: &[Vec<f64>],
    center: &mut Option<(f64, Vec<Vec<f64>>)>,
) -> Result<usize> {
    let mut lagrangian = y_term(cm, mu);
    let mut added = 0;
    for (c, mu_c) in mu.iter().enumerate() {
        let sol = class_knapsack(cm, c, mu_c, None).ok_or_else(|| MbaError::Infeasible {
            reason: format!("class {c} has no pattern within its QoS budget"),
        })?;
        lagrangian += sol.bound;
        if master.reduced_cost(c, &sol.chosen) < -PRICE_TOL {
            master.add_pattern(c, &sol.chosen);
            added += 1;
        }
    }
    if center.as_ref().is_none_or(|(best, _)| lagrangian > *best) {
        *center = Some((lagrangian, mu.to_vec()));
    }
    Ok(added)
}

/// `sum_b min(0, 1 - sum_c mu[c][b])`: the `y` part of the Lagrangian.
fn y_term(cm: &Compact, mu: &[Vec<f64>]) -> f64 {
    (0..cm.blocks.len())
        .map(|b| reduced_y(mu, b).min(0.0))
        .sum()
}

fn reduced_y(mu: &[Vec<f64>], b: usize) -> f64 {
    1.0 - mu.iter().map(|m| m[b]).sum::<f64>()
}

fn blend(a: &[Vec<f64>], b: &[Vec<f64>], alpha: f64) -> Vec<Vec<f64>> {
    a.iter()
        .zip(b)
        .map(|(ra, rb)| {
            ra.iter()
                .zip(rb)
                .map(|(x, y)| alpha * x + (1.0 - alpha) * y)
                .collect()
        })
        .collect()
}

/// Class `c`'s knapsack at multipliers `mu_c`: one usable block per position (never `ban`),
/// total loss within the class's slack.
fn class_knapsack(
    cm: &Compact,
    c: usize,
    mu_c: &[f64],
    ban: Option<usize>,
) -> Option<mckp::Solution> {
    let groups: Vec<Vec<Item>> = cm
        .by_pos
        .iter()
        .map(|bs| {
            bs.iter()
                .copied()
                .filter(|&b| ban != Some(b) && cm.usable(c, b))
                .map(|b| Item {
                    id: b,
                    cost: mu_c[b],
                    weight: cm.loss(c, b),
                })
                .collect()
        })
        .collect();
    mckp::solve(&groups, cm.loss_budget(c))
}

/// Class `c`'s best block at every position (loss 0).
fn own_pattern(cm: &Compact, c: usize) -> Vec<usize> {
    cm.by_pos
        .iter()
        .map(|bs| {
            *bs.iter()
                .min_by(|&&a, &&b| cm.loss(c, a).total_cmp(&cm.loss(c, b)).then(a.cmp(&b)))
                .expect("every position keeps a block")
        })
        .collect()
}

/// Lagrangian fixing at multipliers `mu` with bound `lagrangian`, against incumbent `ub`.
fn fixings(
    cm: &Compact,
    mu: &[Vec<f64>],
    lagrangian: f64,
    ub: usize,
    deadline: Instant,
) -> (Vec<i8>, bool) {
    let nb = cm.blocks.len();
    let nc = cm.classes.len();
    let proves = |v: f64| int_bound(v) >= ub;
    let base: Vec<Option<mckp::Solution>> = (0..nc)
        .map(|c| class_knapsack(cm, c, &mu[c], None))
        .collect();
    let bound_of = |s: Option<mckp::Solution>| s.map_or(f64::INFINITY, |s| s.bound);
    let mut y_fix = vec![-1i8; nb];
    for (b, fix) in y_fix.iter_mut().enumerate() {
        // A knapsack per class and block: seconds at N = 300, so the safety net is checked.
        if Instant::now() >= deadline {
            return (y_fix, true);
        }
        let r = reduced_y(mu, b);
        if r > 0.0 {
            if proves(lagrangian + r) {
                *fix = 0;
            }
            continue;
        }
        // Forcing y_b = 0 gives up -r and bans b from the classes whose pattern uses it.
        let mut lifted = lagrangian - r;
        for c in 0..nc {
            let Some(s) = &base[c] else { continue };
            if !proves(lifted) && s.chosen.contains(&b) {
                lifted += bound_of(class_knapsack(cm, c, &mu[c], Some(b))) - s.bound;
            }
        }
        if proves(lifted) {
            *fix = 1;
        }
    }
    (y_fix, false)
}

/// A linking row's state.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    /// The block's loss exceeds the class's slack.
    Unusable,
    /// No pattern of the class uses the block yet.
    Unused,
    /// The row's index.
    Row(usize),
}

impl Link {
    fn row(self) -> Option<usize> {
        match self {
            Link::Row(r) => Some(r),
            _ => None,
        }
    }
}

/// The restricted master LP in HiGHS; patterns are added as columns, and every solve starts
/// from the previous basis.
struct Master {
    model: Option<Model>,
    nb: usize,
    /// Row handles by index: one convexity row per class, then the linking rows.
    rows: Vec<Row>,
    y_cols: Vec<Col>,
    /// `link[c][b]`: class `c`'s linking row for block `b`.
    link: Vec<Vec<Link>>,
    /// The last solve's row duals.
    duals: Vec<f64>,
    /// The last solve's `y`.
    y: Vec<f64>,
}

impl Master {
    fn new(cm: &Compact) -> Master {
        let nb = cm.blocks.len();
        let mut pb = RowProblem::default();
        let y: Vec<Col> = (0..nb).map(|_| pb.add_column(1.0, 0.0..=1.0)).collect();
        let mut model = pb.optimise(Sense::Minimise);
        quiet_single_thread(&mut model);
        let rows: Vec<Row> = (0..cm.classes.len())
            .map(|_| model.add_row(1.0..=1.0, std::iter::empty::<(Col, f64)>()))
            .collect();
        // Linking rows are added with the first pattern that uses their block: until then the
        // row `y_b >= 0` is redundant and its dual may be taken as 0.
        let link = (0..cm.classes.len())
            .map(|c| {
                (0..nb)
                    .map(|b| {
                        if cm.usable(c, b) {
                            Link::Unused
                        } else {
                            Link::Unusable
                        }
                    })
                    .collect()
            })
            .collect();
        Master {
            model: Some(model),
            y_cols: y,
            nb,
            rows,
            link,
            duals: Vec::new(),
            y: Vec::new(),
        }
    }

    fn add_pattern(&mut self, c: usize, blocks: &[usize]) {
        if blocks.iter().any(|&b| self.link[c][b] == Link::Unusable) {
            return; // a pattern over an unusable block (cannot happen for priced ones)
        }
        let Some(model) = self.model.as_mut() else {
            return;
        };
        let mut factors = vec![(self.rows[c], 1.0)];
        for &b in blocks {
            let r = match self.link[c][b] {
                Link::Row(r) => r,
                _ => {
                    self.rows
                        .push(model.add_row(0.0.., [(self.y_cols[b], 1.0)]));
                    let r = self.rows.len() - 1;
                    self.link[c][b] = Link::Row(r);
                    r
                }
            };
            factors.push((self.rows[r], -1.0));
        }
        model.add_col(0.0, 0.0.., factors);
    }

    /// A linking row's dual at the last solve, 0 for a row added since (it was not in that LP).
    fn dual(&self, r: usize) -> f64 {
        self.duals.get(r).map_or(0.0, |d| d.max(0.0))
    }

    /// `sum_{b in pattern} mu[c][b] - sigma_c` at the last solve's duals.
    fn reduced_cost(&self, c: usize, blocks: &[usize]) -> f64 {
        let mu: f64 = blocks
            .iter()
            .filter_map(|&b| self.link[c][b].row())
            .map(|r| self.dual(r))
            .sum();
        mu - self.duals[c]
    }

    /// Solve; returns the value and the linking duals `mu[c][b]` (0 where no row).
    fn solve(&mut self) -> Result<(f64, Vec<Vec<f64>>)> {
        let model = self
            .model
            .take()
            .expect("master model present between solves");
        let solved = model
            .try_solve()
            .map_err(|e| MbaError::highs("master LP", HighsFailure::Call(e)))?;
        if solved.status() != HighsModelStatus::Optimal {
            return Err(MbaError::highs(
                "master LP",
                HighsFailure::Status(solved.status()),
            ));
        }
        let value = solved.objective_value();
        let sol = solved.get_solution();
        self.duals = sol.dual_rows().to_vec();
        self.y = sol.columns()[..self.nb].to_vec();
        let mu = self
            .link
            .iter()
            .map(|lc| {
                (0..self.nb)
                    .map(|b| lc[b].row().map_or(0.0, |r| self.dual(r)))
                    .collect()
            })
            .collect();
        self.model = Some(Model::from(solved));
        Ok((value, mu))
    }
}
