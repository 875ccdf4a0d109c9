//! Lifted cover cuts on each class's QoS knapsack, in GUB form.
//!
//! Class `c` can afford a total loss `slack_c` (its best reachable score minus its QoS). Pick a
//! set `P` of positions and a threshold `theta_n > 0` at each: a device of class `c` can take a
//! block with loss `>= theta_n` at no more than `r` positions of `P`, where `r` is how many of
//! the smallest thresholds fit in the slack. So
//! `sum_{n in P} sum_{b at n, loss_c(b) >= theta_n} x[c][b] <= r` holds for every integral
//! solution; the LP relaxation spreads small fractions of loss over many positions and
//! violates it.

use super::model::Compact;

/// One cut: `sum_{b in blocks} x[class][b] <= rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub class: usize,
    pub blocks: Vec<usize>,
    pub rhs: f64,
}

/// Least violation worth a cut.
const MIN_VIOLATION: f64 = 1e-3;

/// Violated cuts for the LP point `x(c, b)`, at most a few per class.
pub fn separate(cm: &Compact, x: impl Fn(usize, usize) -> f64) -> Vec<Cut> {
    let mut out = Vec::new();
    for c in 0..cm.classes.len() {
        let slack = cm.slack[c].max(0.0);
        // Per position: thresholds (distinct positive losses, ascending) and the LP mass at or
        // above each.
        let levels: Vec<Vec<(f64, f64)>> = cm
            .by_pos
            .iter()
            .map(|bs| {
                let mut lv: Vec<(f64, f64)> = Vec::new();
                for &b in bs {
                    let theta = cm.loss(c, b);
                    if theta > 0.0 && !lv.iter().any(|&(t, _)| t == theta) {
                        let mass = bs
                            .iter()
                            .filter(|&&a| cm.loss(c, a) >= theta)
                            .map(|&a| x(c, a))
                            .sum();
                        lv.push((theta, mass));
                    }
                }
                lv
            })
            .collect();
        let mut seen: Vec<Vec<Option<usize>>> = Vec::new();
        // The largest threshold at each position that keeps all but `tau` of its LP mass:
        // larger thresholds shrink the right-hand side.
        for tau in [1e-9, 0.05, 0.2, 0.5] {
            let pick: Vec<Option<usize>> = levels
                .iter()
                .map(|lv| {
                    let top = lv.iter().map(|l| l.1).fold(0.0, f64::max);
                    (0..lv.len())
                        .filter(|&j| lv[j].1 > 1e-9 && lv[j].1 >= top - tau)
                        .max_by(|&a, &b| lv[a].0.total_cmp(&lv[b].0))
                })
                .collect();
            if seen.contains(&pick) {
                continue;
            }
            if let Some(cut) = best_subset(cm, c, slack, &levels, &pick) {
                out.push(cut);
            }
            seen.push(pick);
        }
    }
    out
}

/// With thresholds fixed, drop positions one at a time while that raises the violation (a
/// position with little LP mass can cost more in the right-hand side than it adds); return the
/// cut if it is violated.
fn best_subset(
    cm: &Compact,
    c: usize,
    slack: f64,
    levels: &[Vec<(f64, f64)>],
    pick: &[Option<usize>],
) -> Option<Cut> {
    let mut items: Vec<(f64, f64, usize)> = pick
        .iter()
        .enumerate()
        .filter_map(|(n, j)| j.map(|j| (levels[n][j].0, levels[n][j].1, n)))
        .collect();
    items.sort_by(|a, b| a.0.total_cmp(&b.0));
    let violation = |set: &[(f64, f64, usize)]| {
        let lhs: f64 = set.iter().map(|i| i.1).sum();
        let r = fitting(set.iter().map(|i| i.0), slack);
        (lhs - r as f64, r)
    };
    let (mut viol, mut r) = violation(&items);
    loop {
        let mut best: Option<(f64, usize, usize)> = None;
        for drop in 0..items.len() {
            let mut rest = items.clone();
            rest.remove(drop);
            let (v, rr) = violation(&rest);
            if v > viol + 1e-12 && best.is_none_or(|(bv, _, _)| v > bv) {
                best = Some((v, drop, rr));
            }
        }
        let Some((v, drop, rr)) = best else { break };
        items.remove(drop);
        viol = v;
        r = rr;
    }
    if viol <= MIN_VIOLATION {
        return None;
    }
    let blocks = items
        .iter()
        .flat_map(|&(theta, _, n)| {
            cm.by_pos[n]
                .iter()
                .copied()
                .filter(move |&b| cm.loss(c, b) >= theta)
        })
        .collect();
    Some(Cut {
        class: c,
        blocks,
        rhs: r as f64,
    })
}

/// How many of the (ascending) thresholds fit in the slack, with a margin so that rounding
/// never cuts off a feasible assembly.
fn fitting(thresholds: impl Iterator<Item = f64>, slack: f64) -> usize {
    let cap = slack * (1.0 + 1e-9) + 1e-12;
    let mut sum = 0.0;
    let mut r = 0;
    for t in thresholds {
        sum += t;
        if sum > cap {
            break;
        }
        r += 1;
    }
    r
}
