//! The `beta` solve of eq. (12) and the energy-matched constant power: both are a monotone
//! equation in a log variable, solved by Newton safeguarded with a bracket to full f64 precision.

use super::lambert::{expm1_over, h, w_and_exp_near};
use super::{GainGroups, Link, Outage, PowerPlan};

/// Solve `f(x) = target` for `f` monotone in `x` (`increasing` says which way), from `x0`.
/// `f` returns the value and its derivative.
fn solve_monotone(f: impl Fn(f64) -> (f64, f64), target: f64, x0: f64, increasing: bool) -> f64 {
    // `above(x)`: f(x) is on the side of the target reached by increasing x.
    let above = |v: f64| if increasing { v >= target } else { v <= target };
    let (mut lo, mut hi) = (x0, x0);
    // f(x0) decides which side needs expanding; evaluated once (speed).
    let f0 = f(x0);
    let at_x0 = above(f0.0);
    let mut step = 2.0;
    let mut lo_above = at_x0;
    while lo_above && step < 1e4 {
        lo -= step;
        step *= 2.0;
        lo_above = above(f(lo).0);
    }
    step = 2.0;
    let mut hi_above = at_x0;
    while !hi_above && step < 1e4 {
        hi += step;
        step *= 2.0;
        hi_above = above(f(hi).0);
    }
    let mut x = x0.clamp(lo, hi);
    for i in 0..200 {
        let (v, dv) = if i == 0 && x == x0 { f0 } else { f(x) };
        if v == target {
            return x;
        }
        if above(v) {
            hi = x
        } else {
            lo = x
        }
        let newton = x - (v - target) / dv;
        let next = if newton.is_finite() && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= 2.0 * f64::EPSILON * x.abs().max(1.0)
            || hi - lo <= f64::EPSILON * x.abs().max(1.0)
        {
            return next;
        }
        x = next;
    }
    x
}

/// Outage checks shared by both schemes: no blocks, a zero gain, or `E <= E_min`.
fn precheck(link: &Link, g: &GainGroups) -> Option<PowerPlan> {
    if g.gain.is_empty() {
        return Some(PowerPlan {
            latency_s: 0.0,
            energy_j: 0.0,
            outage: None,
            level: 0.0,
            group_power_w: vec![],
            group_time_s: vec![],
        });
    }
    if g.gain.iter().any(|&x| !(x > 0.0 && x.is_finite())) {
        return Some(PowerPlan::outage(Outage::ZeroGain, g.gain.len()));
    }
    let e_min = g.min_energy(link);
    (link.energy_j <= e_min)
        .then(|| PowerPlan::outage(Outage::BudgetBelowMinimum { e_min_j: e_min }, g.gain.len()))
}

/// `w` with `expm1(w)/w = r` (r > 1): the equal-gain solution, used as a starting point.
fn w_for_ratio(r: f64) -> f64 {
    let mut w = if r < 2.0 {
        2.0 * (r - 1.0)
    } else {
        r.ln() + (r.ln() + 1.0).ln()
    };
    for _ in 0..30 {
        let phi = expm1_over(w).ln() - r.ln();
        let dphi = w.exp() / w.exp_m1() - 1.0 / w;
        let next = w - phi / dphi;
        if !(next.is_finite() && next > 0.0) {
            break;
        }
        w = next;
    }
    w.max(1e-300)
}

/// Optimal MBA power control (Proposition 2): minimise `sum T_b` with `sum T_b p_b = E`.
pub fn optimal_power(link: &Link, g: &GainGroups) -> PowerPlan {
    if let Some(plan) = precheck(link, g) {
        return plan;
    }
    let c = link.time_unit();
    let ln_a: Vec<f64> = g.gain.iter().map(|&x| (x / link.noise_w).ln()).collect();
    // Energy of a group per unit expm1(w)/w: count * Q N0 ln2 / (B H).
    let weight: Vec<f64> = g
        .gain
        .iter()
        .zip(&g.count)
        .map(|(&x, &n)| n as f64 * c * link.noise_w / x)
        .collect();
    // The previous evaluation's (ln q, w, e^w) per group warm-starts the next (speed).
    let prev = std::cell::RefCell::new(vec![(f64::NAN, 0.0, 1.0); ln_a.len()]);
    let energy = |l: f64| -> (f64, f64) {
        let (mut e, mut de) = (0.0, 0.0);
        let mut prev = prev.borrow_mut();
        for ((&la, &wt), p) in ln_a.iter().zip(&weight).zip(prev.iter_mut()) {
            let ln_q = la - l;
            let q = ln_q.exp();
            let (w, ew) = w_and_exp_near(q, ln_q, p.0, p.1, p.2);
            *p = (ln_q, w, ew);
            // expm1(w)/w; for w >= 1, e^w - 1 loses at most a bit and saves an expm1.
            e += wt
                * if w >= 1.0 {
                    (ew - 1.0) / w
                } else {
                    expm1_over(w)
                };
            // d/dL expm1(w)/w = -q^2 / (w^3 e^w), from dq/dL = -q, dh/dw = w e^w, g'(w) = h/w^2.
            if w > 0.0 {
                let r = q / w;
                de -= wt * r * r / (w * ew);
            }
        }
        (e, de)
    };
    let e_min: f64 = weight.iter().sum();
    let blocks = g.num_blocks() as f64;
    let harmonic_a = blocks
        / g.gain
            .iter()
            .zip(&g.count)
            .map(|(&x, &n)| n as f64 * link.noise_w / x)
            .sum::<f64>();
    let w0 = w_for_ratio(link.energy_j / e_min);
    let l0 = harmonic_a.ln() - h(w0).ln();
    // Newton on ln(energy): nearly linear in L at both ends (w ~ sqrt q and w ~ ln q), so it
    // converges in a few steps; the root and the x-tolerance are those of the energy itself.
    let log_energy = |l: f64| {
        let (e, de) = energy(l);
        (e.ln(), de / e)
    };
    let l = solve_monotone(log_energy, link.energy_j.ln(), l0, false);
    let ws: Vec<f64> = ln_a
        .iter()
        .zip(prev.borrow().iter())
        .map(|(&la, p)| w_and_exp_near((la - l).exp(), la - l, p.0, p.1, p.2).0)
        .collect();
    let group_power_w: Vec<f64> = ws
        .iter()
        .zip(&g.gain)
        .map(|(&w, &x)| w.exp_m1() * link.noise_w / x)
        .collect();
    let group_time_s: Vec<f64> = ws.iter().map(|&w| c / w).collect();
    finish(g, l.exp(), group_power_w, group_time_s)
}

fn finish(
    g: &GainGroups,
    level: f64,
    group_power_w: Vec<f64>,
    group_time_s: Vec<f64>,
) -> PowerPlan {
    let mut latency_s = 0.0;
    let mut energy_j = 0.0;
    for ((&p, &t), &n) in group_power_w.iter().zip(&group_time_s).zip(&g.count) {
        latency_s += n as f64 * t;
        energy_j += n as f64 * t * p;
    }
    PowerPlan {
        latency_s,
        energy_j,
        outage: None,
        level,
        group_power_w,
        group_time_s,
    }
}

/// Constant-power MBA: one power for every block, energy-matched to `E`, or `fixed_w` when given
/// (an outage when that power needs more than `E`).
pub fn constant_power(link: &Link, g: &GainGroups, fixed_w: Option<f64>) -> PowerPlan {
    if let Some(plan) = precheck(link, g) {
        return plan;
    }
    let c = link.time_unit();
    let a: Vec<f64> = g.gain.iter().map(|&x| x / link.noise_w).collect();
    let power = match fixed_w {
        Some(p) => p,
        None => {
            let energy = |lp: f64| -> (f64, f64) {
                let p = lp.exp();
                let (mut e, mut de) = (0.0, 0.0);
                for (&ai, &n) in a.iter().zip(&g.count) {
                    let r = (p * ai).ln_1p();
                    let n = n as f64 * c;
                    e += n * p / r;
                    de += n * (p / r - p * (p * ai / (1.0 + p * ai)) / (r * r));
                }
                (e, de)
            };
            let lp0 = (link.energy_j / (c * g.num_blocks() as f64)).ln();
            // In logs, as for the optimal power: ln energy is nearly linear in ln p.
            let log_energy = |lp: f64| {
                let (e, de) = energy(lp);
                (e.ln(), de / e)
            };
            solve_monotone(log_energy, link.energy_j.ln(), lp0, true).exp()
        }
    };
    let group_time_s: Vec<f64> = a.iter().map(|&ai| c / (power * ai).ln_1p()).collect();
    let plan = finish(g, power, vec![power; a.len()], group_time_s);
    if fixed_w.is_some() && plan.energy_j > link.energy_j {
        return PowerPlan::outage(
            Outage::OverBudget {
                needed_j: plan.energy_j,
            },
            g.gain.len(),
        );
    }
    plan
}
