//! Twins of `shaders/common.wgsl`: the f32 numerics and ChaCha8 every kernel module shares.

#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]
// `!(x > y)` as in the WGSL keeps NaN on the outage side; indexed loops read like the kernel.

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
