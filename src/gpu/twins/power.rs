//! Twins of `shaders/power.wgsl`: gains, weakest-requester counts and the three latencies of one
//! realization.

#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]
// `!(x > y)` as in the WGSL keeps NaN on the outage side; indexed loops read like the kernel.

use super::common::{
    OUTAGE, chacha8_block, exp1_from_words, h_f, log1p_f, phi_f, psi_f, w_for_excess, w_of_lnq,
    zdpsi_f,
};
use crate::power::Link;

/// The f32 constants of `PowerParams` (`fixed_power: None` is `fixed_mode = 0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerConsts {
    pub c: f32,
    pub n0: f32,
    pub energy: f32,
    pub path_loss: f32,
    pub fixed_power: Option<f32>,
    /// `E / (c N0)` rounded once from f64 (see `shaders/power.wgsl`).
    pub budget: f32,
}

impl PowerConsts {
    pub fn new(link: &Link, path_loss: f64, fixed_power: Option<f64>) -> Self {
        PowerConsts {
            c: link.time_unit() as f32,
            n0: link.noise_w as f32,
            energy: link.energy_j as f32,
            path_loss: path_loss as f32,
            fixed_power: fixed_power.map(|p| p as f32),
            budget: (link.energy_j / (link.time_unit() * link.noise_w)) as f32,
        }
    }
}

/// The gains of `devices` devices on stream `stream`.
pub fn draw_gains(key: &[u32; 8], stream: u64, devices: usize, path_loss: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(devices);
    for b in 0..devices.div_ceil(8) {
        let w = chacha8_block(key, b as u32, stream as u32, (stream >> 32) as u32);
        for j in 0..8 {
            if out.len() < devices {
                out.push(path_loss * exp1_from_words(w[2 * j], w[2 * j + 1]));
            }
        }
    }
    out
}

/// Blocks counted per weakest requester (ties to the first listed).
pub fn weakest_counts(gains: &[f32], req_offsets: &[u32], req_devices: &[u32]) -> Vec<u32> {
    let mut counts = vec![0u32; gains.len()];
    for b in 0..req_offsets.len() - 1 {
        let req = &req_devices[req_offsets[b] as usize..req_offsets[b + 1] as usize];
        let mut best = req[0];
        for &d in &req[1..] {
            if gains[d as usize] < gains[best as usize] {
                best = d;
            }
        }
        counts[best as usize] += 1;
    }
    counts
}

/// One Newton step on `f(x) = ln G(x) - ln T` (increasing; `inv_slope` = G / G'), kept inside the
/// bracket `[lo, hi]` that the evaluated points prove.
pub fn bracketed_newton(x: f32, f: f32, inv_slope: f32, lo: &mut f32, hi: &mut f32) -> f32 {
    if f > 0.0 {
        *hi = x;
    } else {
        *lo = x;
    }
    let next = x - f * inv_slope;
    if next > *lo && next < *hi {
        return next;
    }
    // Outside the bracket (or NaN): step out, or bisect once bracketed. ln G has slope in about
    // [1/2, 1], so the root is within 2|f| + 1.
    if *hi > 1e29 {
        return x + 2.0 * f.abs() + 1.0;
    }
    if *lo < -1e29 {
        return x - 2.0 * f.abs() - 1.0;
    }
    0.5 * (*lo + *hi)
}

/// The Newton loop the kernel writes out twice (in `optimal_latency` and `constant_latency`):
/// `eval(x) = (G, G')`, at most 60 steps, stop on a relative step of 2e-7.
fn newton_ln(mut x: f32, ln_t: f32, eval: impl Fn(f32) -> (f32, f32)) -> f32 {
    let (mut lo, mut hi) = (-1e30f32, 1e30f32);
    for _ in 0..60 {
        let (g, dg) = eval(x);
        let next = bracketed_newton(x, g.ln() - ln_t, g / dg, &mut lo, &mut hi);
        let done = (next - x).abs() <= 2e-7 * x.abs().max(1.0);
        x = next;
        if done {
            break;
        }
    }
    x
}

/// `(sum n/h, blocks)` of the groups, or `None` on a zero gain (the kernel's `x = -1`).
pub fn group_sums(gains: &[f32], counts: &[f32]) -> Option<(f32, f32)> {
    let (mut inv_sum, mut blocks) = (0.0f32, 0.0f32);
    for (&h, &n) in gains.iter().zip(counts) {
        if n > 0.0 {
            if !(h > 0.0) {
                return None;
            }
            inv_sum += n / h;
            blocks += n;
        }
    }
    Some((inv_sum, blocks))
}

/// Block counts per gain (`counts[k]` blocks at `gains[k]`).
pub fn optimal_latency(p: &PowerConsts, gains: &[f32], counts: &[f32]) -> f32 {
    let Some((inv_sum, blocks)) = group_sums(gains, counts) else {
        return OUTAGE;
    };
    if blocks == 0.0 {
        return 0.0;
    }
    if !(p.budget > inv_sum) {
        return OUTAGE;
    }
    let t = (p.budget - inv_sum) / inv_sum;
    let scale = inv_sum / blocks;
    let y0 = h_f(w_for_excess(t)).ln();
    let y = newton_ln(y0, t.ln(), |y| {
        let (mut g, mut dg) = (0.0f32, 0.0f32);
        for (&h, &n) in gains.iter().zip(counts) {
            if n > 0.0 {
                let u = n / h / inv_sum;
                let ln_q = (h * scale).ln() + y;
                let w = w_of_lnq(ln_q);
                g += u * phi_f(w);
                dg += u * (2.0 * ln_q - 3.0 * w.ln() - w).exp();
            }
        }
        (g, dg)
    });
    let mut latency = 0.0f32;
    for (&h, &n) in gains.iter().zip(counts) {
        if n > 0.0 {
            latency += n * p.c / w_of_lnq((h * scale).ln() + y);
        }
    }
    latency
}

/// Constant-power MBA: energy-matched, or a fixed power with outage over the budget.
pub fn constant_latency(p: &PowerConsts, gains: &[f32], counts: &[f32]) -> f32 {
    let Some((inv_sum, blocks)) = group_sums(gains, counts) else {
        return OUTAGE;
    };
    if blocks == 0.0 {
        return 0.0;
    }
    if !(p.budget > inv_sum) {
        return OUTAGE;
    }
    let scale = inv_sum / blocks;
    if let Some(fixed) = p.fixed_power {
        let mut latency = 0.0f32;
        for (&h, &n) in gains.iter().zip(counts) {
            if n > 0.0 {
                latency += n * p.c / log1p_f(fixed * h / p.n0);
            }
        }
        return if fixed * latency > p.energy {
            OUTAGE
        } else {
            latency
        };
    }
    let t = (p.budget - inv_sum) / inv_sum;
    let x0 = if t >= 2.0 {
        (t + 1.0).ln() + ((t + 1.0) * (t + 1.0).ln()).ln().ln()
    } else {
        (2.0 * t).ln()
    };
    let x = newton_ln(x0, t.ln(), |x| {
        let s = x.exp();
        let (mut g, mut dg) = (0.0f32, 0.0f32);
        for (&h, &n) in gains.iter().zip(counts) {
            if n > 0.0 {
                let u = n / h / inv_sum;
                let z = s * h * scale;
                g += u * psi_f(z);
                dg += u * zdpsi_f(z);
            }
        }
        (g, dg)
    });
    let s = x.exp();
    let mut latency = 0.0f32;
    for (&h, &n) in gains.iter().zip(counts) {
        if n > 0.0 {
            latency += n * p.c / log1p_f(s * h * scale);
        }
    }
    latency
}

/// `[mba, constant, unicast]` latencies (`OUTAGE` = -1 on outage).
pub fn power_solve(p: &PowerConsts, gains: &[f32], counts: &[u32], per_model: u32) -> [f32; 3] {
    let c: Vec<f32> = counts.iter().map(|&n| n as f32).collect();
    let uni = vec![per_model as f32; gains.len()];
    [
        optimal_latency(p, gains, &c),
        constant_latency(p, gains, &c),
        optimal_latency(p, gains, &uni),
    ]
}
