//! The group bound: device classes of related tasks, which share blocks among themselves and
//! hardly with anyone else, solved as separate small MIPs.
//!
//! **Bound.** Split every block's unit cost among the groups, `nu[g][b] >= 0` with
//! `sum_g nu[g][b] = 1`. A feasible set `Y` serves every group, so
//! `|Y| = sum_g nu[g] . Y >= sum_g min { nu[g] . Y' : Y' serves group g }`: each group pays
//! only for its share of the blocks it takes. Here `nu` gives each block wholly to its *home*
//! group, the one that loses least by it (relative to its slack), so a group's MIP counts the
//! home blocks it needs and gets every other block free. The bound is exact as long as no group
//! can save its own blocks by taking another group's (true when tasks form clusters, as in
//! muNet-like libraries), and always valid.
//!
//! **Incumbent.** The union of each group's own optimum (unit costs) serves every class.

use std::time::Instant;

use super::mip::{self, Scope};
use super::model::Compact;
use crate::error::Result;
use crate::library::Instance;

/// What the group stage proves and finds.
#[derive(Default)]
pub struct GroupBound {
    /// Proven lower bound on `|Y|` (0 when a group's MIP stopped without a bound).
    pub lower: usize,
    /// The union of the groups' optima (unit costs), when every group found one.
    pub union: Option<Vec<bool>>,
    pub nodes: u64,
    pub iterations: u64,
    /// Work units of all its MIPs.
    pub units: f64,
    /// A MIP stopped at the safety net's time limit.
    pub timed_out: bool,
}

/// Classes grouped by task affinity: `r[c][d]`, the loss class `c` takes with task `d`'s whole
/// model, over `c`'s slack. Classes are linked when `max(r[c][d], r[d][c])` lies below the
/// widest gap in the sorted affinities, and only if the affinity grows by half across it
/// (clustered tasks); otherwise every class is its own group and the stage is skipped.
pub fn class_groups(inst: &Instance, cm: &Compact) -> Vec<Vec<usize>> {
    let nc = cm.classes.len();
    let lib = &inst.library;
    let ratio = |c: usize, d: usize| -> f64 {
        let task = cm.classes[c].task;
        let own = cm.classes[d].task;
        let lost: f64 = (0..cm.positions)
            .map(|n| cm.best_at[c * cm.positions + n] - lib.score(task, own, n))
            .sum();
        over_slack(cm, c, lost)
    };
    let affinity: Vec<Vec<f64>> = (0..nc)
        .map(|c| (0..nc).map(|d| ratio(c, d).max(ratio(d, c))).collect())
        .collect();
    let mut values: Vec<f64> = (0..nc)
        .flat_map(|c| (c + 1..nc).map(move |d| (c, d)))
        .map(|(c, d)| affinity[c][d])
        .collect();
    values.sort_by(f64::total_cmp);
    let split = values
        .windows(2)
        .filter(|w| w[1] >= 1.5 * w[0])
        .max_by(|a, b| (a[1] - a[0]).total_cmp(&(b[1] - b[0])))
        .map(|w| (w[0] + w[1]) / 2.0);
    let mut parent: Vec<usize> = (0..nc).collect();
    if let Some(limit) = split {
        for (c, row) in affinity.iter().enumerate() {
            for (d, &a) in row.iter().enumerate().skip(c + 1) {
                if a < limit {
                    let (a, b) = (root(&parent, c), root(&parent, d));
                    parent[a] = b;
                }
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index = vec![usize::MAX; nc];
    for c in 0..nc {
        let r = root(&parent, c);
        if index[r] == usize::MAX {
            index[r] = groups.len();
            groups.push(Vec::new());
        }
        groups[index[r]].push(c);
    }
    groups
}

fn root(parent: &[usize], mut c: usize) -> usize {
    while parent[c] != c {
        c = parent[c];
    }
    c
}

/// Whether grouping helps: at least two groups, one of them with several classes.
pub fn worth_it(groups: &[Vec<usize>]) -> bool {
    groups.len() >= 2 && groups.iter().any(|g| g.len() >= 2)
}

/// A loss of class `c` relative to its slack (floored at 1e-12, so a class with none stays finite).
fn over_slack(cm: &Compact, c: usize, loss: f64) -> f64 {
    loss / cm.slack[c].max(1e-12)
}

/// Each block's home group: the one whose classes lose least by it, relative to their slack.
fn homes(cm: &Compact, groups: &[Vec<usize>]) -> Vec<usize> {
    let relative = |g: &[usize], b: usize| {
        g.iter()
            .map(|&c| over_slack(cm, c, cm.loss(c, b)))
            .fold(f64::INFINITY, f64::min)
    };
    (0..cm.blocks.len())
        .map(|b| {
            (0..groups.len())
                .min_by(|&g, &h| relative(&groups[g], b).total_cmp(&relative(&groups[h], b)))
                .unwrap_or(0)
        })
        .collect()
}

/// The group bound and the union incumbent, each group's two MIPs sharing `budget` (work
/// units, and HiGHS nodes when limited; smaller groups first, so what a fast MIP leaves
/// goes to the later ones), under the safety net `deadline`.
pub fn group_bound(
    inst: &Instance,
    cm: &Compact,
    groups: &[Vec<usize>],
    budget: (f64, Option<u64>),
    deadline: Instant,
) -> Result<GroupBound> {
    let (units, node_limit) = budget;
    let home = homes(cm, groups);
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| groups[g].len());
    let mut union = Some(vec![false; cm.blocks.len()]);
    let mut found = GroupBound::default();
    let mut runs_left = 2 * groups.len() as u64;
    let mut run = |scope: Scope, found: &mut GroupBound| -> Result<mip::Stage> {
        let limits = mip::Limits {
            units: (units - found.units).max(0.0) / runs_left.max(1) as f64,
            nodes: node_limit.map(|n| n.saturating_sub(found.nodes)),
            seconds: deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64(),
        };
        runs_left = runs_left.saturating_sub(1);
        let stage = mip::compact(inst, cm, scope, limits)?;
        found.nodes += stage.nodes;
        found.iterations += stage.iterations;
        found.units += stage.units;
        found.timed_out |= stage.timed_out;
        Ok(stage)
    };
    for &g in &order {
        let classes = Some(groups[g].as_slice());
        let own_scope = Scope {
            classes,
            ..Default::default()
        };
        let own = run(own_scope, &mut found)?;
        union = match (union, own.pick) {
            (Some(mut u), Some(p)) => {
                u.iter_mut().zip(&p).for_each(|(u, &p)| *u |= p);
                Some(u)
            }
            _ => None,
        };
        let cost: Vec<f64> = home.iter().map(|&h| f64::from(u8::from(h == g))).collect();
        let scope = Scope {
            classes,
            cost: Some(&cost),
            ..Default::default()
        };
        // Home costs are 0 or 1, so each group's share is an integer.
        found.lower += run(scope, &mut found)?.lower;
    }
    found.union = union;
    Ok(found)
}
