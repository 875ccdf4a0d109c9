// Sufficient statistics of the power kernels' latencies, on the device (docs/gpu.md), so a
// chunk reads back 3 Stats per job instead of 3 f32 per realization. Runs after power_solve
// in the same pass, on its `outs`. Twins: src/gpu/twins/reduce.rs, same function names.
//   reduce_tiles    one workgroup per tile of TILE consecutive realizations of one span
//   reduce_spans    one workgroup per span: its tiles' partials in order
// Every combination is pairwise in a fixed order (no atomics), so the same chunk gives the
// same bits on every run. A Stat holds (served, mean, m2), combined by Chan et al.'s update:
// no sum of squares to cancel in f32. Host side: src/gpu/power.rs (`ReduceBindings`).

struct ReduceParams {
    n_tiles: u32,
    n_spans: u32,
    // Workgroups per grid row: group (x, y) is x + y * x_groups.
    x_groups: u32,
    pad: u32,
}

// One job's realizations in this chunk (a Segment of power.wgsl), and its tiles.
struct Span {
    start: u32,
    count: u32,
    first_tile: u32,
    tiles: u32,
}

// Served samples (finite latencies), their mean and sum of squared deviations from it.
struct Stat {
    served: u32,
    mean: f32,
    m2: f32,
}

@group(0) @binding(0) var<uniform> rparams: ReduceParams;
@group(0) @binding(1) var<storage, read> spans: array<Span>;
@group(0) @binding(2) var<storage, read> outs: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<Stat>;
@group(0) @binding(4) var<storage, read_write> stats: array<Stat>;

// Realizations per tile and invocations per workgroup.
const TILE: u32 = 256u;
// Schemes per realization: mba, constant, unicast (the order of `outs`).
const SCHEMES: u32 = 3u;

var<workgroup> tree: array<Stat, 768>;

// One latency as a statistic: served when finite (OUTAGE, inf and NaN are outages).
fn stat_of(x: f32) -> Stat {
    if (x >= 0.0 && x <= 3.40282347e38) {
        return Stat(1u, x, 0.0);
    }
    return Stat(0u, 0.0, 0.0);
}

// a's samples then b's: the mean moves toward b's by b's share, m2 gains the spread of the means.
fn merge_stats(a: Stat, b: Stat) -> Stat {
    if (b.served == 0u) {
        return a;
    }
    if (a.served == 0u) {
        return b;
    }
    let n = a.served + b.served;
    let share = f32(b.served) / f32(n);
    let delta = b.mean - a.mean;
    return Stat(n, a.mean + delta * share, a.m2 + b.m2 + delta * delta * f32(a.served) * share);
}

// Tree over tree[SCHEMES t + s], t < TILE: at each level slot t takes in slot t + half, a fixed
// pairing whatever the schedule. Leaves the workgroup's total of scheme s in tree[s].
fn tree_reduce(t: u32) {
    for (var half = TILE / 2u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if (t < half) {
            for (var s = 0u; s < SCHEMES; s++) {
                let i = SCHEMES * t + s;
                tree[i] = merge_stats(tree[i], tree[i + SCHEMES * half]);
            }
        }
    }
    workgroupBarrier();
}

// The span holding tile w: the last with first_tile <= w.
fn span_of_tile(w: u32) -> u32 {
    var lo = 0u;
    var hi = rparams.n_spans;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (spans[mid].first_tile <= w) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

@compute @workgroup_size(256)
fn reduce_tiles(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let w = wid.x + wid.y * rparams.x_groups;
    if (w >= rparams.n_tiles) {
        return;
    }
    let sp = spans[span_of_tile(w)];
    let at = (w - sp.first_tile) * TILE + t;
    for (var s = 0u; s < SCHEMES; s++) {
        var x = Stat(0u, 0.0, 0.0);
        if (at < sp.count) {
            x = stat_of(outs[SCHEMES * (sp.start + at) + s]);
        }
        tree[SCHEMES * t + s] = x;
    }
    tree_reduce(t);
    if (t < SCHEMES) {
        partials[SCHEMES * w + t] = tree[t];
    }
}

@compute @workgroup_size(256)
fn reduce_spans(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let w = wid.x + wid.y * rparams.x_groups;
    if (w >= rparams.n_spans) {
        return;
    }
    let sp = spans[w];
    // Invocation t folds tiles [t per, (t + 1) per) in order, then the tree combines the runs.
    let per = (sp.tiles + TILE - 1u) / TILE;
    let end = min((t + 1u) * per, sp.tiles);
    for (var s = 0u; s < SCHEMES; s++) {
        var x = Stat(0u, 0.0, 0.0);
        for (var j = t * per; j < end; j++) {
            x = merge_stats(x, partials[SCHEMES * (sp.first_tile + j) + s]);
        }
        tree[SCHEMES * t + s] = x;
    }
    tree_reduce(t);
    if (t < SCHEMES) {
        stats[SCHEMES * w + t] = tree[t];
    }
}
