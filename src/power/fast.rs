//! Optimal and constant power for one realization at the least cost, for the CPU pipeline of
//! `backend::cpu` (docs/algorithms/power-control.md#the-fast-path). Same equations as
//! `solve.rs`, cheaper:
//!
//! * no allocation once the buffers of [`Groups`] and [`Scratch`] have grown;
//! * the `beta` solve is one Newton iteration on all unknowns `(w_1..w_G, ln beta)` at once
//!   (its Jacobian is an arrowhead, so a step costs `O(G)`), so an iteration costs one `exp` and
//!   one `ln` per gain group instead of an inner Lambert-W solve per group;
//! * it starts from the equal-gain solution with each group's `w` moved to first order in its
//!   gain, and the constant power starts from `E / T_mba`, which is within 0.1% at these SNRs.
//!
//! Each function returns `None` where it would not match the reference to 1e-12: a budget
//! within 1% of `E_min` (ill-conditioned: two correct solvers differ by more than 1e-13 there,
//! see `NEAR_MIN`), a fixed power within 1e-9 of the budget,
//! `w` beyond `exp`'s range, or no convergence. The caller then runs the reference, so
//! outages and latencies agree with it everywhere.

use super::Link;

/// `(k - 1) / k!` for `k = 2..=15`: the series of `h(w) = (w - 1) e^w + 1`, used for `w < 0.25`
/// where the closed form cancels (truncation below 1e-17 relative there).
const H_SERIES: [f64; 14] = {
    let mut c = [0.0; 14];
    let mut fact = 2.0;
    let mut i = 0;
    while i < 14 {
        let k = (i + 2) as f64;
        c[i] = (k - 1.0) / fact;
        fact *= k + 1.0;
        i += 1;
    }
    c
};

/// A budget closer than this (relative) to `E_min` is left to the reference: the latency's
/// condition number grows as `1 / (E / E_min - 1)` there, and the reference's rounding (it
/// subtracts logarithms of energies) reaches 1e-12 relative within about 0.5% of `E_min`.
const NEAR_MIN: f64 = 1e-2;
/// Newton stops after a step below this (relative): quadratic convergence leaves ~1e-16.
const STEP_TOL: f64 = 1e-8;
const MAX_ITER: usize = 30;
/// `w` above this would overflow `exp` in the energy.
const W_MAX: f64 = 700.0;

/// Gain groups as structure of arrays: `count[g]` blocks at gain `gain[g]`, with `a = H / N0`
/// and `ln a` computed once per realization (shared by MBA and unicast).
#[derive(Debug, Clone, Default)]
pub struct Groups {
    pub gain: Vec<f64>,
    pub count: Vec<u32>,
    a: Vec<f64>,
    ln_a: Vec<f64>,
}

impl Groups {
    pub fn clear(&mut self) {
        self.gain.clear();
        self.count.clear();
        self.a.clear();
        self.ln_a.clear();
    }

    /// Add `count` blocks at `gain`, given `a = gain / N0` and `ln a`.
    pub fn push(&mut self, gain: f64, a: f64, ln_a: f64, count: u32) {
        self.gain.push(gain);
        self.count.push(count);
        self.a.push(a);
        self.ln_a.push(ln_a);
    }

    pub fn len(&self) -> usize {
        self.gain.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gain.is_empty()
    }

    fn has_zero_gain(&self) -> bool {
        self.gain.iter().any(|&x| !(x > 0.0 && x.is_finite()))
    }

    /// `sum_b 1 / a_b`, so that `E_min = (Q ln2 / B) * this`.
    fn inv_a_sum(&self) -> f64 {
        self.a
            .iter()
            .zip(&self.count)
            .map(|(&a, &n)| n as f64 / a)
            .sum()
    }
}

/// Per-thread buffers of the joint Newton iteration (structure of arrays over groups).
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    /// `w_g`, after a solve the solution.
    w: Vec<f64>,
    /// `ln h(w_g) + ln beta - ln a_g`: the residual of group `g`'s equation.
    residual: Vec<f64>,
    /// `dw / d ln h` at `w_g`.
    inv_slope: Vec<f64>,
    /// Energy of a group per unit `expm1(w)/w`: `count * Q ln2 / (B a)`.
    weight: Vec<f64>,
}

impl Scratch {
    /// `sum_g weight_g expm1(w_g) / w_g` at the last solution: the energy used, J (for tests).
    pub fn energy(&self) -> f64 {
        self.w
            .iter()
            .zip(&self.weight)
            .map(|(&w, &wt)| wt * w.exp_m1() / w)
            .sum()
    }
}

/// `h(w) = (w - 1) e^w + 1` given `e = e^w`, cancellation-free for small `w`.
#[inline]
fn h_of(w: f64, e: f64) -> f64 {
    if w < 0.25 {
        w * w * H_SERIES.iter().rev().fold(0.0, |acc, &c| acc * w + c)
    } else {
        (w - 1.0) * e + 1.0
    }
}

/// `(e^w, expm1(w))` with one libm call: `expm1` below 1 where `e^w - 1` would cancel.
#[inline]
fn exp_pair(w: f64) -> (f64, f64) {
    if w < 1.0 {
        let m = w.exp_m1();
        (1.0 + m, m)
    } else {
        let e = w.exp();
        (e, e - 1.0)
    }
}

/// Where a round stands before any solve.
enum Feasibility {
    /// A zero gain, or a budget clearly below `E_min`.
    Outage,
    /// A budget within `NEAR_MIN` of `E_min`: the reference decides.
    NearMinimum,
    Feasible {
        e_min: f64,
    },
}

/// The outage test shared by both schemes.
fn feasibility(link: &Link, g: &Groups) -> Feasibility {
    if g.has_zero_gain() {
        return Feasibility::Outage;
    }
    let e_min = link.time_unit() * g.inv_a_sum();
    if link.energy_j < e_min * (1.0 - NEAR_MIN) {
        Feasibility::Outage
    } else if link.energy_j <= e_min * (1.0 + NEAR_MIN) {
        Feasibility::NearMinimum
    } else {
        Feasibility::Feasible { e_min }
    }
}

/// Optimal MBA power control (Proposition 2): the total latency `sum_b T_b`, `INFINITY` on
/// outage, `None` where the reference [`super::optimal_power`] must decide.
pub fn optimal_latency(link: &Link, g: &Groups, s: &mut Scratch) -> Option<f64> {
    if g.is_empty() {
        return Some(0.0);
    }
    let e_min = match feasibility(link, g) {
        Feasibility::Outage => return Some(f64::INFINITY),
        Feasibility::NearMinimum => return None,
        Feasibility::Feasible { e_min } => e_min,
    };
    let c = link.time_unit();
    s.weight.clear();
    s.weight
        .extend(g.a.iter().zip(&g.count).map(|(&a, &n)| n as f64 * c / a));
    let l = start(link, g, s, e_min);
    joint_newton(link, g, s, l)?;
    let latency = g
        .count
        .iter()
        .zip(&s.w)
        .map(|(&n, &w)| n as f64 / w)
        .sum::<f64>()
        * c;
    latency.is_finite().then_some(latency)
}

/// The equal-gain start: every block at the harmonic mean `a_h` has the same `w0`, with
/// `expm1(w0)/w0 = E / E_min` and `ln beta = ln a_h - ln h(w0)`; each group's `w` is then moved
/// by `d w / d ln a = 1 / slope` to first order. Returns `ln beta`; fills `s.w`.
fn start(link: &Link, g: &Groups, s: &mut Scratch, e_min: f64) -> f64 {
    let blocks: f64 = g.count.iter().map(|&n| n as f64).sum();
    let ln_ah = (blocks * link.time_unit() / e_min).ln();
    let w0 = equal_gain_w(link.energy_j / e_min);
    let (e0, _) = exp_pair(w0);
    let h0 = h_of(w0, e0);
    let inv_slope0 = h0 / (w0 * e0);
    s.w.clear();
    s.w.extend(g.ln_a.iter().map(|&la| {
        let linear = w0 + (la - ln_ah) * inv_slope0;
        // Far below the mean the linear guess undershoots (or turns negative); w ~ sqrt(q) there.
        if linear > 0.5 * w0 {
            linear
        } else {
            w0 * (0.5 * (la - ln_ah)).exp().min(0.5)
        }
    }));
    ln_ah - h0.ln()
}

/// `w` with `expm1(w)/w = r > 1`, to ~1e-10: only a start, the joint Newton does the rest.
fn equal_gain_w(r: f64) -> f64 {
    let ln_r = r.ln();
    let mut w = if r < 2.0 {
        2.0 * (r - 1.0)
    } else {
        ln_r + (ln_r + 1.0).ln()
    };
    for _ in 0..40 {
        // Newton on ln(expm1(w)/w) = ln r, whose slope is e^w / expm1(w) - 1 / w.
        let (e, m) = exp_pair(w);
        let next = w - ((m / w).ln() - ln_r) / (e / m - 1.0 / w);
        if !(next.is_finite() && next > 0.0) {
            return w;
        }
        let done = (next - w).abs() <= 1e-10 * w;
        w = next;
        if done {
            break;
        }
    }
    w
}

/// Newton on `ln h(w_g) = ln a_g - ln beta` for every group and `ln(sum weight phi(w)) = ln E`,
/// `phi(w) = expm1(w)/w`. With `F_g` the residuals, `s_g = d ln h / dw` and
/// `u_g = weight_g phi'(w_g) / s_g` (`phi' = h / w^2`), the step is
/// `d ln beta = (G S - sum u_g F_g) / sum u_g` (`S` the energy, `G = ln S - ln E`) and
/// `dw_g = -(F_g + d ln beta) / s_g`. `None` when it fails to converge.
fn joint_newton(link: &Link, g: &Groups, s: &mut Scratch, mut l: f64) -> Option<()> {
    let n = g.len();
    s.residual.resize(n, 0.0);
    s.inv_slope.resize(n, 0.0);
    for _ in 0..MAX_ITER {
        let (mut energy, mut sum_u, mut sum_uf) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let w = s.w[i];
            let (e, em1) = exp_pair(w);
            let h = h_of(w, e);
            let inv_w = 1.0 / w;
            let inv_slope = h * inv_w / e;
            let f = h.ln() + l - g.ln_a[i];
            let wt = s.weight[i];
            energy += wt * em1 * inv_w;
            let u = wt * h * inv_w * inv_w * inv_slope;
            sum_u += u;
            sum_uf += u * f;
            s.residual[i] = f;
            s.inv_slope[i] = inv_slope;
        }
        // ln(S / E), not ln S - ln E: the difference of two logs would cancel to |ln E| * 1e-16.
        let dl = ((energy / link.energy_j).ln() * energy - sum_uf) / sum_u;
        let mut largest = dl.abs();
        for i in 0..n {
            let w = s.w[i];
            let dw = -(s.residual[i] + dl) * s.inv_slope[i];
            // A step to w <= 0 (far from the root) is damped; Newton from below is monotone.
            let next = if w + dw > 0.0 { w + dw } else { 0.25 * w };
            largest = largest.max((next - w).abs() / w);
            s.w[i] = next;
        }
        l += dl;
        if !(largest.is_finite() && s.w.iter().all(|&w| w < W_MAX)) {
            return None;
        }
        if largest <= STEP_TOL {
            return Some(());
        }
    }
    None
}

/// Constant-power MBA: one power for every block, energy-matched to `E`, or `fixed_w` (an
/// outage when that needs more than `E`). `t_mba`, the optimal latency, gives the start
/// `p0 = E / t_mba`. The total latency, `INFINITY` on outage, `None` where the reference
/// [`super::constant_power`] must decide.
pub fn constant_latency(link: &Link, g: &Groups, fixed_w: Option<f64>, t_mba: f64) -> Option<f64> {
    if g.is_empty() {
        return Some(0.0);
    }
    match feasibility(link, g) {
        Feasibility::Outage => return Some(f64::INFINITY),
        Feasibility::NearMinimum => return None,
        Feasibility::Feasible { .. } => {}
    }
    let c = link.time_unit();
    if let Some(p) = fixed_w {
        let t = c * times_sum(g, p).0;
        let used = p * t;
        if (used - link.energy_j).abs() <= 1e-9 * link.energy_j {
            return None;
        }
        return Some(if used > link.energy_j {
            f64::INFINITY
        } else {
            t
        });
    }
    let mut lp = (link.energy_j / t_mba).ln();
    for _ in 0..MAX_ITER {
        // ln energy = ln p + ln(c * sum n / ln1p(p a)); its slope in ln p is 1 - D / T. The
        // residual is one log of a ratio: ln E - ln p - ln(c T) would cancel.
        let p = lp.exp();
        let (t, d) = times_sum(g, p);
        let slope = 1.0 - d / t;
        let step = (link.energy_j / (p * c * t)).ln() / slope;
        if !step.is_finite() {
            return None;
        }
        lp += step;
        if step.abs() <= STEP_TOL {
            // T at the new power to first order: d ln T / d ln p = -D / T (error ~ step^2).
            return Some(c * (t - d * step));
        }
    }
    None
}

/// At power `p`: `T = sum n / ln1p(p a)` and `D = sum n (p a / (1 + p a)) / ln1p(p a)^2`, so
/// the latency is `c T` and `d T / d ln p = -D`.
fn times_sum(g: &Groups, p: f64) -> (f64, f64) {
    let (mut t, mut d) = (0.0, 0.0);
    for (&a, &n) in g.a.iter().zip(&g.count) {
        let x = p * a;
        let inv_r = 1.0 / x.ln_1p();
        let n = n as f64;
        t += n * inv_r;
        d += n * x / (1.0 + x) * inv_r * inv_r;
    }
    (t, d)
}
