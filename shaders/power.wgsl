// Power-control kernels (docs/algorithms/power-control.md; batching in docs/performance.md), one
// invocation per realization, no atomics. Twins: src/gpu/twins/power.rs, same function names.
//   draw_gains      ChaCha8 stream -> Rayleigh gains
//   weakest_counts  per-block gain = weakest requester; blocks counted per weakest device
//   power_solve     optimal-PC beta solve over <= K gain groups, constant-power MBA, unicast
// Outputs per realization: [mba, constant, unicast] total latency, OUTAGE (-1) on outage.
// Host side: src/gpu/power.rs (`PowerParams`, `Segment` and the bindings below, same names).

struct PowerParams {
    total: u32,
    n_segments: u32,
    kstride: u32,
    fixed_mode: u32,
    c: f32,
    n0: f32,
    energy: f32,
    path_loss: f32,
    fixed_power: f32,
    x_stride: u32,
    // E / (c N0), rounded once from f64: E_min / (c N0) = sum n/H, so t = E/E_min - 1 loses
    // no precision to the constants.
    budget: f32,
    // To 48 bytes, a multiple of 16 as uniforms want.
    pad: u32,
}

// One job's realizations inside this chunk.
struct Segment {
    key: Key,
    stream_lo: u32,
    stream_hi: u32,
    devices: u32,
    block_start: u32,
    n_blocks: u32,
    per_model: u32,
    start: u32,
    count: u32,
}

@group(0) @binding(0) var<uniform> params: PowerParams;
@group(0) @binding(1) var<storage, read> segs: array<Segment>;
@group(0) @binding(2) var<storage, read> req_offsets: array<u32>;
@group(0) @binding(3) var<storage, read> req_devices: array<u32>;
@group(0) @binding(4) var<storage, read_write> gains: array<f32>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;
@group(0) @binding(6) var<storage, read_write> outs: array<f32>;

fn index_of(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * params.x_stride;
}

// The segment holding realization i: the last with start <= i.
fn segment_of(i: u32) -> u32 {
    var lo = 0u;
    var hi = params.n_segments;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (segs[mid].start <= i) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

@compute @workgroup_size(64)
fn draw_gains(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index_of(gid);
    if (i >= params.total) {
        return;
    }
    let s = segs[segment_of(i)];
    let lr = i - s.start;
    let lo = s.stream_lo + lr;
    let hi = s.stream_hi + select(0u, 1u, lo < lr);
    let base = i * params.kstride;
    let nb = (s.devices + 7u) / 8u;
    for (var b = 0u; b < nb; b++) {
        let w = chacha8_block(s.key, b, lo, hi);
        for (var j = 0u; j < 8u; j++) {
            let k = 8u * b + j;
            if (k < s.devices) {
                gains[base + k] = params.path_loss * exp1_from_words(w[2u * j], w[2u * j + 1u]);
            }
        }
    }
}

@compute @workgroup_size(64)
fn weakest_counts(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index_of(gid);
    if (i >= params.total) {
        return;
    }
    let s = segs[segment_of(i)];
    let base = i * params.kstride;
    for (var k = 0u; k < s.devices; k++) {
        counts[base + k] = 0u;
    }
    for (var b = 0u; b < s.n_blocks; b++) {
        let b0 = req_offsets[s.block_start + b];
        let b1 = req_offsets[s.block_start + b + 1u];
        var best = req_devices[b0];
        var g = gains[base + best];
        for (var r = b0 + 1u; r < b1; r++) {
            let d = req_devices[r];
            let x = gains[base + d];
            // Strict: ties go to the first requester, as the CPU's min_by.
            if (x < g) {
                best = d;
                g = x;
            }
        }
        counts[base + best] += 1u;
    }
}

fn count_of(base: u32, k: u32, unicast: bool, per_model: u32) -> f32 {
    if (unicast) {
        return f32(per_model);
    }
    return f32(counts[base + k]);
}

// (sum n/h, blocks) over the gain groups; x = -1 marks a zero gain.
fn group_sums(base: u32, devices: u32, unicast: bool, per_model: u32) -> vec2<f32> {
    var inv_sum = 0.0;
    var blocks = 0.0;
    for (var k = 0u; k < devices; k++) {
        let n = count_of(base, k, unicast, per_model);
        if (n > 0.0) {
            let h = gains[base + k];
            if (!(h > 0.0)) {
                return vec2<f32>(-1.0, 0.0);
            }
            inv_sum += n / h;
            blocks += n;
        }
    }
    return vec2<f32>(inv_sum, blocks);
}

// One Newton step on f(x) = ln G(x) - ln T (increasing; `inv_slope` = G / G'), kept inside the
// bracket [lo, hi] that the evaluated points prove.
fn bracketed_newton(x: f32, f: f32, inv_slope: f32, lo: ptr<function, f32>, hi: ptr<function, f32>) -> f32 {
    if (f > 0.0) {
        *hi = x;
    } else {
        *lo = x;
    }
    let next = x - f * inv_slope;
    if (next > *lo && next < *hi) {
        return next;
    }
    // Outside the bracket (or NaN): step out, or bisect once bracketed.
    // ln G has slope in about [1/2, 1], so the root is within 2|f| + 1.
    if (*hi > 1e29) {
        return x + 2.0 * abs(f) + 1.0;
    }
    if (*lo < -1e29) {
        return x - 2.0 * abs(f) - 1.0;
    }
    return 0.5 * (*lo + *hi);
}

// Optimal PC over the gain groups of one realization (Proposition 2). In units where
// a_ref = blocks / sum(n/a): ln q_k = d_k + y with d_k = ln(a_k / a_ref); the energy above E_min,
// over E_min, is G(y) = sum u_k phi(w_k), u_k = (n_k/a_k) / sum(n/a); Newton on ln G = ln t.
fn optimal_latency(base: u32, devices: u32, unicast: bool, per_model: u32) -> f32 {
    let sums = group_sums(base, devices, unicast, per_model);
    if (sums.x < 0.0) {
        return OUTAGE;
    }
    let inv_sum = sums.x;
    let blocks = sums.y;
    if (blocks == 0.0) {
        return 0.0;
    }
    if (!(params.budget > inv_sum)) {
        return OUTAGE;
    }
    let t = (params.budget - inv_sum) / inv_sum;
    let ln_t = log(t);
    let scale = inv_sum / blocks;
    var y = log(h_f(w_for_excess(t)));
    var lo = -1e30;
    var hi = 1e30;
    for (var it = 0; it < 60; it++) {
        var g = 0.0;
        var dg = 0.0;
        for (var k = 0u; k < devices; k++) {
            let n = count_of(base, k, unicast, per_model);
            if (n > 0.0) {
                let h = gains[base + k];
                let u = n / h / inv_sum;
                let ln_q = log(h * scale) + y;
                let w = w_of_lnq(ln_q);
                g += u * phi_f(w);
                // d phi / dy = q^2 / (w^3 e^w), in logs so huge q cannot overflow.
                dg += u * exp(2.0 * ln_q - 3.0 * log(w) - w);
            }
        }
        let next = bracketed_newton(y, log(g) - ln_t, g / dg, &lo, &hi);
        let done = abs(next - y) <= 2e-7 * max(1.0, abs(y));
        y = next;
        if (done) {
            break;
        }
    }
    var latency = 0.0;
    for (var k = 0u; k < devices; k++) {
        let n = count_of(base, k, unicast, per_model);
        if (n > 0.0) {
            let h = gains[base + k];
            latency += n * params.c / w_of_lnq(log(h * scale) + y);
        }
    }
    return latency;
}

// Constant-power MBA: one power p for all blocks, energy-matched (Newton on ln G = ln t in
// ln s, s = p a_ref, G = sum u_k psi(s b_k)) or fixed (outage when it needs more than E).
fn constant_latency(base: u32, devices: u32) -> f32 {
    let sums = group_sums(base, devices, false, 0u);
    if (sums.x < 0.0) {
        return OUTAGE;
    }
    let inv_sum = sums.x;
    let blocks = sums.y;
    if (blocks == 0.0) {
        return 0.0;
    }
    if (!(params.budget > inv_sum)) {
        return OUTAGE;
    }
    let scale = inv_sum / blocks;
    if (params.fixed_mode == 1u) {
        var latency = 0.0;
        for (var k = 0u; k < devices; k++) {
            let n = f32(counts[base + k]);
            if (n > 0.0) {
                latency += n * params.c / log1p_f(params.fixed_power * gains[base + k] / params.n0);
            }
        }
        if (params.fixed_power * latency > params.energy) {
            return OUTAGE;
        }
        return latency;
    }
    let t = (params.budget - inv_sum) / inv_sum;
    let ln_t = log(t);
    var x = log(2.0 * t);
    if (t >= 2.0) {
        x = log(t + 1.0) + log(log((t + 1.0) * log(t + 1.0)));
    }
    var lo = -1e30;
    var hi = 1e30;
    for (var it = 0; it < 60; it++) {
        var g = 0.0;
        var dg = 0.0;
        let s = exp(x);
        for (var k = 0u; k < devices; k++) {
            let n = f32(counts[base + k]);
            if (n > 0.0) {
                let h = gains[base + k];
                let u = n / h / inv_sum;
                let z = s * h * scale;
                g += u * psi_f(z);
                dg += u * zdpsi_f(z);
            }
        }
        let next = bracketed_newton(x, log(g) - ln_t, g / dg, &lo, &hi);
        let done = abs(next - x) <= 2e-7 * max(1.0, abs(x));
        x = next;
        if (done) {
            break;
        }
    }
    let s = exp(x);
    var latency = 0.0;
    for (var k = 0u; k < devices; k++) {
        let n = f32(counts[base + k]);
        if (n > 0.0) {
            latency += n * params.c / log1p_f(s * gains[base + k] * scale);
        }
    }
    return latency;
}

@compute @workgroup_size(64)
fn power_solve(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index_of(gid);
    if (i >= params.total) {
        return;
    }
    let s = segs[segment_of(i)];
    let base = i * params.kstride;
    outs[3u * i] = optimal_latency(base, s.devices, false, 0u);
    outs[3u * i + 1u] = constant_latency(base, s.devices);
    outs[3u * i + 2u] = optimal_latency(base, s.devices, true, s.per_model);
}

// Test kernel: the raw ChaCha8 words of each realization's stream, bit-cast into the gains rows
// (word j of the stream at column j), to compare with rand_chacha word for word.
@compute @workgroup_size(64)
fn chacha_words(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index_of(gid);
    if (i >= params.total) {
        return;
    }
    let s = segs[segment_of(i)];
    let lr = i - s.start;
    let lo = s.stream_lo + lr;
    let hi = s.stream_hi + select(0u, 1u, lo < lr);
    let base = i * params.kstride;
    for (var j = 0u; j < params.kstride; j += 16u) {
        let w = chacha8_block(s.key, j / 16u, lo, hi);
        for (var t = 0u; t < 16u && j + t < params.kstride; t++) {
            gains[base + j + t] = bitcast<f32>(w[t]);
        }
    }
}
