// Shared f32 numerics and ChaCha8 for the mba kernels, prepended to power.wgsl (src/gpu/power.rs).
// Each function has a Rust twin of the same name in src/gpu/twins/common.rs with the same
// arithmetic.

// Outage sentinel in outputs (WGSL has no infinity constant); the host maps it to +inf.
const OUTAGE: f32 = -1.0;

// log(1 + x): a 12-term series for |x| < 0.25 (no cancellation), log otherwise.
fn log1p_f(x: f32) -> f32 {
    if (abs(x) < 0.25) {
        var s = 0.0;
        for (var k = 12; k >= 1; k--) {
            s = 1.0 / f32(k) - x * s;
        }
        return x * s;
    }
    return log(1.0 + x);
}

// expm1(w) / w, with its limit 1 at 0.
fn expm1_over_f(w: f32) -> f32 {
    if (abs(w) < 0.1) {
        return 1.0 + w * (0.5 + w * (1.0 / 6.0 + w * (1.0 / 24.0 + w * (1.0 / 120.0 + w / 720.0))));
    }
    return (exp(w) - 1.0) / w;
}

// h(w) = (w - 1) e^w + 1, cancellation-free for small w: w^2 sum_{k=2..10} (k-1)/k! w^(k-2).
fn h_f(w: f32) -> f32 {
    if (w < 0.5) {
        let t = 0.5 + w * (0.33333334 + w * (0.125 + w * (0.033333335 + w * (0.0069444445
            + w * (0.0011904762 + w * (1.7361111e-4 + w * (2.2045855e-5 + w * 2.4801587e-6)))))));
        return w * w * t;
    }
    return (w - 1.0) * exp(w) + 1.0;
}

// w(q) = W0((q - 1)/e) + 1 from ln q, q >= 0: the positive root of h(w) = q.
fn w_of_lnq(ln_q: f32) -> f32 {
    if (ln_q < -150.0) {
        return 0.0;
    }
    let p = 1.41421356 * exp(0.5 * ln_q);
    if (p < 0.6) {
        // Branch-point series in p = sqrt(2q), then Newton on h.
        var w = p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0 + p * (-43.0 / 540.0
            + p * (769.0 / 17280.0 + p * (-221.0 / 8505.0 + p * (680863.0 / 43545600.0)))))));
        let q = 0.5 * p * p;
        for (var i = 0; i < 2; i++) {
            w = w - (h_f(w) - q) / (w * exp(w));
        }
        return w;
    }
    if (ln_q < 3.0) {
        // Pade-like start p / (1 + p/3), then Newton on ln h(w) = ln q.
        var w = p / (1.0 + p / 3.0);
        for (var i = 0; i < 5; i++) {
            let hw = h_f(w);
            w = w - (log(hw) - ln_q) * hw / (w * exp(w));
        }
        return w;
    }
    // Large q: ln(w - 1) + w = ln(q - 1), Newton from the asymptotic start.
    let ln_qm1 = ln_q + log1p_f(-exp(-ln_q));
    var w = ln_q - log(ln_q) + log(ln_q) / ln_q;
    for (var i = 0; i < 4; i++) {
        w = w - (log(w - 1.0) + w - ln_qm1) / (1.0 / (w - 1.0) + 1.0);
    }
    return w;
}

// ---- ChaCha8, the layout of rand_chacha 0.10: constants, 8 key words, 64-bit block counter
// (words 12, 13), 64-bit stream (words 14, 15). Output word i of a block = state after 8 rounds
// plus input. next_u64 = word 2j | word 2j+1 << 32.

struct Key {
    k: array<u32, 8>,
}

fn rotl(x: u32, n: u32) -> u32 {
    return (x << n) | (x >> (32u - n));
}

fn chacha8_block(key: Key, counter: u32, stream_lo: u32, stream_hi: u32) -> array<u32, 16> {
    var x = array<u32, 16>(
        0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u,
        key.k[0], key.k[1], key.k[2], key.k[3], key.k[4], key.k[5], key.k[6], key.k[7],
        counter, 0u, stream_lo, stream_hi);
    let init = x;
    for (var r = 0; r < 4; r++) {
        // Column round.
        x[0] += x[4]; x[12] = rotl(x[12] ^ x[0], 16u); x[8] += x[12]; x[4] = rotl(x[4] ^ x[8], 12u);
        x[0] += x[4]; x[12] = rotl(x[12] ^ x[0], 8u); x[8] += x[12]; x[4] = rotl(x[4] ^ x[8], 7u);
        x[1] += x[5]; x[13] = rotl(x[13] ^ x[1], 16u); x[9] += x[13]; x[5] = rotl(x[5] ^ x[9], 12u);
        x[1] += x[5]; x[13] = rotl(x[13] ^ x[1], 8u); x[9] += x[13]; x[5] = rotl(x[5] ^ x[9], 7u);
        x[2] += x[6]; x[14] = rotl(x[14] ^ x[2], 16u); x[10] += x[14]; x[6] = rotl(x[6] ^ x[10], 12u);
        x[2] += x[6]; x[14] = rotl(x[14] ^ x[2], 8u); x[10] += x[14]; x[6] = rotl(x[6] ^ x[10], 7u);
        x[3] += x[7]; x[15] = rotl(x[15] ^ x[3], 16u); x[11] += x[15]; x[7] = rotl(x[7] ^ x[11], 12u);
        x[3] += x[7]; x[15] = rotl(x[15] ^ x[3], 8u); x[11] += x[15]; x[7] = rotl(x[7] ^ x[11], 7u);
        // Diagonal round.
        x[0] += x[5]; x[15] = rotl(x[15] ^ x[0], 16u); x[10] += x[15]; x[5] = rotl(x[5] ^ x[10], 12u);
        x[0] += x[5]; x[15] = rotl(x[15] ^ x[0], 8u); x[10] += x[15]; x[5] = rotl(x[5] ^ x[10], 7u);
        x[1] += x[6]; x[12] = rotl(x[12] ^ x[1], 16u); x[11] += x[12]; x[6] = rotl(x[6] ^ x[11], 12u);
        x[1] += x[6]; x[12] = rotl(x[12] ^ x[1], 8u); x[11] += x[12]; x[6] = rotl(x[6] ^ x[11], 7u);
        x[2] += x[7]; x[13] = rotl(x[13] ^ x[2], 16u); x[8] += x[13]; x[7] = rotl(x[7] ^ x[8], 12u);
        x[2] += x[7]; x[13] = rotl(x[13] ^ x[2], 8u); x[8] += x[13]; x[7] = rotl(x[7] ^ x[8], 7u);
        x[3] += x[4]; x[14] = rotl(x[14] ^ x[3], 16u); x[9] += x[14]; x[4] = rotl(x[4] ^ x[9], 12u);
        x[3] += x[4]; x[14] = rotl(x[14] ^ x[3], 8u); x[9] += x[14]; x[4] = rotl(x[4] ^ x[9], 7u);
    }
    for (var i = 0; i < 16; i++) {
        x[i] += init[i];
    }
    return x;
}

// Exp(1) from one u64 = (lo, hi): u = (u64 >> 11) 2^-53, g = -ln(1 - u), with 1 - u formed
// exactly in integers so that u near 1 keeps its precision, and a series for small u.
fn exp1_from_words(lo: u32, hi: u32) -> f32 {
    let ml = lo >> 11u;
    if (hi < 0x40000000u) {
        // u < 0.25: u itself is accurate, -log1p(-u) by the series.
        let u = f32(hi) * 0x1p-32 + f32(ml) * 0x1p-53;
        return -log1p_f(-u);
    }
    // 2^53 - m split as (ch, cl) with cl < 2^21.
    var ch = 0xffffffffu - hi;
    var cl = 0x200000u - ml;
    if (ml == 0u) {
        ch = ch + 1u;
        cl = 0u;
    }
    let v = f32(ch) * 0x1p-32 + f32(cl) * 0x1p-53;
    // Vulkan allows log an absolute error of 2^-21 on [0.5, 2]: take log(4v) (outside it, 3 ulp)
    // there instead; 4v is exact.
    if (v >= 0.5) {
        return 1.3862944 - log(4.0 * v);
    }
    return -log(v);
}

// phi(w) = expm1(w)/w - 1 (the energy per unit E_min above the minimum), series for small w.
fn phi_f(w: f32) -> f32 {
    if (abs(w) < 0.1) {
        return w * (0.5 + w * (1.0 / 6.0 + w * (1.0 / 24.0 + w * (1.0 / 120.0 + w / 720.0))));
    }
    return (exp(w) - 1.0) / w - 1.0;
}

// psi(z) = z / ln(1 + z) - 1 (constant power's energy per unit E_min above the minimum).
fn psi_f(z: f32) -> f32 {
    if (z < 0.2) {
        return z * (0.5 + z * (-1.0 / 12.0 + z * (1.0 / 24.0 + z * (-19.0 / 720.0
            + z * (3.0 / 160.0 + z * (-863.0 / 60480.0 + z * (275.0 / 24192.0)))))));
    }
    return z / log1p_f(z) - 1.0;
}

// z psi'(z): only steers Newton, so a short form suffices.
fn zdpsi_f(z: f32) -> f32 {
    if (z < 0.01) {
        return z * (0.5 - z / 6.0);
    }
    let l = log1p_f(z);
    return z * (l - z / (1.0 + z)) / (l * l);
}

// w with phi(w) = t (t > 0): equal-gain solution, the starting point of the beta solve.
fn w_for_excess(t: f32) -> f32 {
    var w = 2.0 * t;
    if (t >= 1.0) {
        let lr = log(t + 1.0);
        w = lr + log(lr + 1.0);
    }
    for (var i = 0; i < 6; i++) {
        let f = phi_f(w);
        w = w - (log(f) - log(t)) * f * w * w / h_f(w);
    }
    return w;
}
