//! f32 CPU twins of the WGSL kernels in `shaders/`: same names, same arithmetic, same branches,
//! so a kernel and its twin differ only by the last bits of `exp`/`log`. The f64 reference is the
//! existing CPU code (`crate::power`, `crate::selection::greedy`).

#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]
// The twins mirror the WGSL: `!(x > y)` keeps NaN on the outage side, and indexed loops read
// like the kernels.

use crate::power::Link;

/// Outage sentinel of the kernels' outputs (WGSL has no infinity constant).
pub const OUTAGE: f32 = -1.0;

/// `log(1 + x)`: 12-term series for `|x| < 0.25`, `ln` otherwise.
pub fn log1p_f(x: f32) -> f32 {
    if x.abs() < 0.25 {
        let mut s = 0.0f32;
        for k in (1..=12).rev() {
            s = 1.0 / k as f32 - x * s;
        }
        return x * s;
    }
    (1.0 + x).ln()
}

/// `expm1(w) / w`.
pub fn expm1_over_f(w: f32) -> f32 {
    if w.abs() < 0.1 {
        return 1.0
            + w * (0.5 + w * (1.0 / 6.0 + w * (1.0 / 24.0 + w * (1.0 / 120.0 + w / 720.0))));
    }
    (w.exp() - 1.0) / w
}

/// `h(w) = (w - 1) e^w + 1`, series `w^2 sum (k-1)/k! w^(k-2)` below 0.5.
pub fn h_f(w: f32) -> f32 {
    if w < 0.5 {
        let t = 0.5
            + w * (0.333_333_34
                + w * (0.125
                    + w * (0.033_333_335
                        + w * (0.006_944_444_5
                            + w * (0.001_190_476_2
                                + w * (1.736_111_1e-4
                                    + w * (2.204_585_5e-5 + w * 2.480_158_7e-6)))))));
        return w * w * t;
    }
    (w - 1.0) * w.exp() + 1.0
}

/// `w(q) = W0((q - 1)/e) + 1` from `ln q`: the positive root of `h(w) = q`.
pub fn w_of_lnq(ln_q: f32) -> f32 {
    if ln_q < -150.0 {
        return 0.0;
    }
    let p = std::f32::consts::SQRT_2 * (0.5 * ln_q).exp();
    if p < 0.6 {
        let mut w = p
            * (1.0
                + p * (-1.0 / 3.0
                    + p * (11.0 / 72.0
                        + p * (-43.0 / 540.0
                            + p * (769.0 / 17280.0
                                + p * (-221.0 / 8505.0 + p * (680_863.0 / 43_545_600.0)))))));
        let q = 0.5 * p * p;
        for _ in 0..2 {
            w -= (h_f(w) - q) / (w * w.exp());
        }
        return w;
    }
    if ln_q < 3.0 {
        let mut w = p / (1.0 + p / 3.0);
        for _ in 0..5 {
            let hw = h_f(w);
            w -= (hw.ln() - ln_q) * hw / (w * w.exp());
        }
        return w;
    }
    let ln_qm1 = ln_q + log1p_f(-(-ln_q).exp());
    let mut w = ln_q - ln_q.ln() + ln_q.ln() / ln_q;
    for _ in 0..4 {
        w -= ((w - 1.0).ln() + w - ln_qm1) / (1.0 / (w - 1.0) + 1.0);
    }
    w
}

fn rotl(x: u32, n: u32) -> u32 {
    x.rotate_left(n)
}

fn quarter(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = rotl(x[d] ^ x[a], 16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = rotl(x[b] ^ x[c], 12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = rotl(x[d] ^ x[a], 8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = rotl(x[b] ^ x[c], 7);
}

/// One ChaCha8 block in rand_chacha's layout (block counter low word `counter`, high word 0).
pub fn chacha8_block(key: &[u32; 8], counter: u32, stream_lo: u32, stream_hi: u32) -> [u32; 16] {
    let mut x = [
        0x6170_7865,
        0x3320_646e,
        0x7962_2d32,
        0x6b20_6574,
        key[0],
        key[1],
        key[2],
        key[3],
        key[4],
        key[5],
        key[6],
        key[7],
        counter,
        0,
        stream_lo,
        stream_hi,
    ];
    let init = x;
    for _ in 0..4 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 1, 5, 9, 13);
        quarter(&mut x, 2, 6, 10, 14);
        quarter(&mut x, 3, 7, 11, 15);
        quarter(&mut x, 0, 5, 10, 15);
        quarter(&mut x, 1, 6, 11, 12);
        quarter(&mut x, 2, 7, 8, 13);
        quarter(&mut x, 3, 4, 9, 14);
    }
    for (o, i) in x.iter_mut().zip(init) {
        *o = o.wrapping_add(i);
    }
    x
}

/// `Exp(1)` from one u64 given as `(lo, hi)` words (see `shaders/common.wgsl`).
pub fn exp1_from_words(lo: u32, hi: u32) -> f32 {
    let ml = lo >> 11;
    if hi < 0x4000_0000 {
        let u = hi as f32 * 2f32.powi(-32) + ml as f32 * 2f32.powi(-53);
        return -log1p_f(-u);
    }
    let (ch, cl) = if ml == 0 {
        (0xffff_ffff - hi + 1, 0)
    } else {
        (0xffff_ffff - hi, 0x20_0000 - ml)
    };
    let v = ch as f32 * 2f32.powi(-32) + cl as f32 * 2f32.powi(-53);
    if v >= 0.5 {
        return 1.386_294_4 - (4.0 * v).ln();
    }
    -v.ln()
}

/// `expm1(w)/w - 1`.
pub fn phi_f(w: f32) -> f32 {
    if w.abs() < 0.1 {
        return w * (0.5 + w * (1.0 / 6.0 + w * (1.0 / 24.0 + w * (1.0 / 120.0 + w / 720.0))));
    }
    (w.exp() - 1.0) / w - 1.0
}

/// `z / ln(1 + z) - 1`.
pub fn psi_f(z: f32) -> f32 {
    if z < 0.2 {
        return z
            * (0.5
                + z * (-1.0 / 12.0
                    + z * (1.0 / 24.0
                        + z * (-19.0 / 720.0
                            + z * (3.0 / 160.0
                                + z * (-863.0 / 60480.0 + z * (275.0 / 24192.0)))))));
    }
    z / log1p_f(z) - 1.0
}

/// `z psi'(z)`.
pub fn zdpsi_f(z: f32) -> f32 {
    if z < 0.01 {
        return z * (0.5 - z / 6.0);
    }
    let l = log1p_f(z);
    z * (l - z / (1.0 + z)) / (l * l)
}

/// `w` with `phi(w) = t`.
pub fn w_for_excess(t: f32) -> f32 {
    let mut w = 2.0 * t;
    if t >= 1.0 {
        let lr = (t + 1.0).ln();
        w = lr + (lr + 1.0).ln();
    }
    for _ in 0..6 {
        let f = phi_f(w);
        w -= (f.ln() - t.ln()) * f * w * w / h_f(w);
    }
    w
}

/// The f32 constants a power kernel uses.
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

/// The ChaCha key words of `crate::channel::stream_key` (little-endian u32s).
pub fn key_words(key: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().expect("4 bytes")))
}

/// Twin of `draw_gains`: the gains of `devices` devices on stream `stream`.
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

/// Twin of `weakest_counts`: blocks counted per weakest requester (ties to the first listed).
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

/// Safeguarded Newton on `ln G(x) = ln t` (slope of `ln G` about in `[1/2, 1]`), as the kernels.
fn newton_ln(mut x: f32, ln_t: f32, eval: impl Fn(f32) -> (f32, f32)) -> f32 {
    let (mut lo, mut hi) = (-1e30f32, 1e30f32);
    for _ in 0..60 {
        let (g, dg) = eval(x);
        let f = g.ln() - ln_t;
        if f > 0.0 {
            hi = x
        } else {
            lo = x
        }
        let mut next = x - f * (g / dg); // as the kernel's bracketed_newton
        if !(next > lo && next < hi) {
            next = if hi > 1e29 {
                x + 2.0 * f.abs() + 1.0
            } else if lo < -1e29 {
                x - 2.0 * f.abs() - 1.0
            } else {
                0.5 * (lo + hi)
            };
        }
        let done = (next - x).abs() <= 2e-7 * x.abs().max(1.0);
        x = next;
        if done {
            break;
        }
    }
    x
}

/// `(sum n/h, blocks)` of the groups, or `None` on a zero gain.
fn group_sums(gains: &[f32], counts: &[f32]) -> Option<(f32, f32)> {
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

/// Twin of the kernel's `optimal_latency`: block counts per gain (`counts[k]` blocks at `gains[k]`).
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

/// Twin of the kernel's `constant_latency`.
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

/// Twin of `power_solve`: `[mba, constant, unicast]` latencies (`OUTAGE` = -1 on outage).
pub fn power_solve(p: &PowerConsts, gains: &[f32], counts: &[u32], per_model: u32) -> [f32; 3] {
    let c: Vec<f32> = counts.iter().map(|&n| n as f32).collect();
    let uni = vec![per_model as f32; gains.len()];
    [
        optimal_latency(p, gains, &c),
        constant_latency(p, gains, &c),
        optimal_latency(p, gains, &uni),
    ]
}

/// A kernel latency as the f64 convention: `OUTAGE` becomes infinity.
pub fn latency_f64(x: f32) -> f64 {
    if x < 0.0 { f64::INFINITY } else { x as f64 }
}

/// "No foreign model" in the greedy kernels.
pub const NONE: u32 = u32::MAX;

/// One device's candidate chain as the kernel computes it (f32 scores).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainF32 {
    pub seed: Vec<u32>,
    pub foreign: Vec<u32>,
    pub order: Vec<u32>,
    /// Candidate scores; `scores.len()` is the chain length.
    pub scores: Vec<f32>,
}

/// The f32 score table `[t][i][n]` the kernels read.
pub fn score_table(lib: &crate::library::Library) -> Vec<f32> {
    let (m, nb) = (lib.models(), lib.blocks());
    let mut out = Vec::with_capacity(m * m * nb);
    for t in 0..m {
        for i in 0..m {
            for n in 0..nb {
                out.push(lib.score(t, i, n) as f32);
            }
        }
    }
    out
}

/// Twin of `candidate_scores`: the chain of a device with task `t`, QoS `qos`, foreign models
/// `allowed[i] != 0` (`i != t`), in the paper's or the min-loss order.
pub fn candidate_scores(
    table: &[f32],
    models: usize,
    blocks: usize,
    t: usize,
    qos: f32,
    allowed: &[u32],
    min_loss: bool,
) -> ChainF32 {
    let score = |i: usize, n: usize| table[(t * models + i) * blocks + n];
    let mut own = 0.0f32;
    for n in 0..blocks {
        own += score(t, n);
    }
    let mut seed = vec![0u32; blocks];
    let mut foreign = vec![NONE; blocks];
    for n in 0..blocks {
        let mut s = t;
        if !(own >= qos) {
            let mut bs = score(0, n);
            s = 0;
            for i in 1..models {
                if score(i, n) > bs {
                    bs = score(i, n);
                    s = i;
                }
            }
        }
        seed[n] = s as u32;
        let mut fs = 0.0f32;
        for i in 0..models {
            if i != t && allowed[i] != 0 {
                let x = score(i, n);
                if foreign[n] == NONE || x > fs {
                    foreign[n] = i as u32;
                    fs = x;
                }
            }
        }
    }
    let key = |n: usize| -> f32 {
        let s = score(seed[n] as usize, n);
        if min_loss {
            if foreign[n] == NONE {
                return 3.0e38;
            }
            return s - score(foreign[n] as usize, n);
        }
        -s
    };
    let mut order: Vec<u32> = Vec::with_capacity(blocks);
    for j in 0..blocks {
        let kj = key(j);
        let mut p = order.len();
        order.push(j as u32);
        while p > 0 && key(order[p - 1] as usize) > kj {
            order[p] = order[p - 1];
            p -= 1;
        }
        order[p] = j as u32;
    }
    let mut total = 0.0f32;
    for n in 0..blocks {
        total += score(seed[n] as usize, n);
    }
    let mut scores = vec![total];
    for &n in &order {
        let n = n as usize;
        if foreign[n] == NONE {
            break;
        }
        total += score(foreign[n] as usize, n) - score(seed[n] as usize, n);
        if !(total >= qos) {
            break;
        }
        scores.push(total);
    }
    ChainF32 {
        seed,
        foreign,
        order,
        scores,
    }
}

/// Twin of `greedy_overlap`: devices in `visit` order pick the candidate adding the fewest new
/// physical blocks. Returns per device `(assignment, pick j, new blocks)`.
pub fn greedy_overlap(
    physical: &[u32],
    blocks: usize,
    chains: &[ChainF32],
    visit: &[u32],
) -> Vec<(Vec<u32>, u32, u32)> {
    let mut sent = vec![false; physical.len()];
    let phys = |i: u32, n: usize| physical[i as usize * blocks + n] as usize;
    let mut out = vec![(Vec::new(), 0, 0); chains.len()];
    for &k in visit {
        let c = &chains[k as usize];
        let is_new = |sent: &[bool], i: u32, n: usize| (!sent[phys(i, n)]) as u32;
        let mut nw: u32 = (0..blocks).map(|n| is_new(&sent, c.seed[n], n)).sum();
        let (mut best, mut best_new) = (0usize, nw);
        for j in 1..c.scores.len() {
            let n = c.order[j - 1] as usize;
            nw = nw + is_new(&sent, c.foreign[n], n) - is_new(&sent, c.seed[n], n);
            if nw < best_new || (nw == best_new && c.scores[j] > c.scores[best]) {
                best = j;
                best_new = nw;
            }
        }
        let mut assign = c.seed.clone();
        for &n in &c.order[..best] {
            assign[n as usize] = c.foreign[n as usize];
        }
        for (n, &i) in assign.iter().enumerate() {
            sent[phys(i, n)] = true;
        }
        out[k as usize] = (assign, best as u32, best_new);
    }
    out
}
