// Greedy parameter-selection kernels (the paper's Algorithm 1, docs/algorithms/greedy.md), many
// trials at once. Twins: src/gpu/twins/greedy.rs, same function names.
//   candidate_scores  one invocation per (trial, device): seed, best foreign block per position,
//                     replacement order and the scores of the candidate chain
//   greedy_overlap    one invocation per trial: devices in visiting order pick the candidate
//                     adding the fewest new physical blocks to the running union (eq. 9), ties to
//                     the higher score then the lower j
// Host side: src/gpu/greedy.rs (`GreedyParams`, `Dev` and the bindings below, same names).

const NONE: u32 = 0xffffffffu;

struct GreedyParams {
    models: u32,
    blocks: u32,
    total_devices: u32,
    trials: u32,
    min_loss: u32,
    words: u32,
    x_stride: u32,
    // Offsets of the tables inside `tab`.
    phys_off: u32,
    trial_off: u32,
    allowed_off: u32,
    visit_off: u32,
    rows_stride: u32,
}

// Per (trial, device): task, f32 QoS bits, trial index.
struct Dev {
    task: u32,
    qos: f32,
    trial: u32,
    pad: u32,
}

// Bindings: read-only score table and u32 tables (physical ids [i][n], per trial (first device,
// count, -, -), foreign-model mask [trial][model], visiting order per trial), then per-device
// rows [seed | foreign | order | assign] of N each, chain scores [N + 1], info (len, pick, new, -),
// and the per-trial "sent" bitset.
@group(0) @binding(0) var<uniform> params: GreedyParams;
@group(0) @binding(1) var<storage, read> scores_tin: array<f32>;
@group(0) @binding(2) var<storage, read> tab: array<u32>;
@group(0) @binding(3) var<storage, read> devs: array<Dev>;
@group(0) @binding(4) var<storage, read_write> rows: array<u32>;
@group(0) @binding(5) var<storage, read_write> chain: array<f32>;
@group(0) @binding(6) var<storage, read_write> info: array<u32>;
@group(0) @binding(7) var<storage, read_write> sent: array<u32>;

fn SEED(g: u32, n: u32) -> u32 { return g * params.rows_stride + n; }
fn FOREIGN(g: u32, n: u32) -> u32 { return g * params.rows_stride + params.blocks + n; }
fn ORDER(g: u32, j: u32) -> u32 { return g * params.rows_stride + 2u * params.blocks + j; }
fn ASSIGN(g: u32, n: u32) -> u32 { return g * params.rows_stride + 3u * params.blocks + n; }

fn score(t: u32, i: u32, n: u32) -> f32 {
    return scores_tin[(t * params.models + i) * params.blocks + n];
}

// Sort key of position n: the paper's (seed score, descending) or min-loss (ascending).
fn key_of(g: u32, t: u32, n: u32) -> f32 {
    let s = score(t, rows[SEED(g, n)], n);
    if (params.min_loss == 1u) {
        let f = rows[FOREIGN(g, n)];
        if (f == NONE) {
            return 3.0e38;
        }
        return s - score(t, f, n);
    }
    return -s;
}

@compute @workgroup_size(64)
fn candidate_scores(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x + gid.y * params.x_stride;
    if (g >= params.total_devices) {
        return;
    }
    let d = devs[g];
    let t = d.task;
    let nb = params.blocks;
    var own = 0.0;
    for (var n = 0u; n < nb; n++) {
        own += score(t, t, n);
    }
    let amask = d.trial * params.models;
    for (var n = 0u; n < nb; n++) {
        var s = t;
        if (!(own >= d.qos)) {
            // Best block over the whole library, ties to the lowest index.
            var bs = score(t, 0u, n);
            s = 0u;
            for (var i = 1u; i < params.models; i++) {
                let x = score(t, i, n);
                if (x > bs) {
                    bs = x;
                    s = i;
                }
            }
        }
        rows[SEED(g, n)] = s;
        var f = NONE;
        var fs = 0.0;
        for (var i = 0u; i < params.models; i++) {
            if (i != t && tab[params.allowed_off + amask + i] != 0u) {
                let x = score(t, i, n);
                if (f == NONE || x > fs) {
                    f = i;
                    fs = x;
                }
            }
        }
        rows[FOREIGN(g, n)] = f;
    }
    // Insertion sort of positions by key, ties to the lower n (stable).
    for (var j = 0u; j < nb; j++) {
        let kj = key_of(g, t, j);
        var p = j;
        while (p > 0u && key_of(g, t, rows[ORDER(g, p - 1u)]) > kj) {
            rows[ORDER(g, p)] = rows[ORDER(g, p - 1u)];
            p--;
        }
        rows[ORDER(g, p)] = j;
    }
    var total = 0.0;
    for (var n = 0u; n < nb; n++) {
        total += score(t, rows[SEED(g, n)], n);
    }
    let crow = g * (nb + 1u);
    chain[crow] = total;
    var len = 1u;
    for (var j = 0u; j < nb; j++) {
        let n = rows[ORDER(g, j)];
        let f = rows[FOREIGN(g, n)];
        if (f == NONE) {
            break;
        }
        total += score(t, f, n) - score(t, rows[SEED(g, n)], n);
        if (!(total >= d.qos)) {
            break;
        }
        chain[crow + len] = total;
        len++;
    }
    info[4u * g] = len;
}

fn is_new(tr: u32, i: u32, n: u32) -> u32 {
    let p = tab[params.phys_off + i * params.blocks + n];
    return 1u - ((sent[tr * params.words + p / 32u] >> (p % 32u)) & 1u);
}

@compute @workgroup_size(64)
fn greedy_overlap(@builtin(global_invocation_id) gid: vec3<u32>) {
    let tr = gid.x + gid.y * params.x_stride;
    if (tr >= params.trials) {
        return;
    }
    let nb = params.blocks;
    for (var w = 0u; w < params.words; w++) {
        sent[tr * params.words + w] = 0u;
    }
    let first = tab[params.trial_off + 4u * tr];
    let count = tab[params.trial_off + 4u * tr + 1u];
    for (var v = 0u; v < count; v++) {
        let g = first + tab[params.visit_off + first + v];
        let crow = g * (nb + 1u);
        var nw = 0u;
        for (var n = 0u; n < nb; n++) {
            nw += is_new(tr, rows[SEED(g, n)], n);
        }
        var best = 0u;
        var best_new = nw;
        let len = info[4u * g];
        for (var j = 1u; j < len; j++) {
            let n = rows[ORDER(g, j - 1u)];
            nw = nw + is_new(tr, rows[FOREIGN(g, n)], n) - is_new(tr, rows[SEED(g, n)], n);
            if (nw < best_new || (nw == best_new && chain[crow + j] > chain[crow + best])) {
                best = j;
                best_new = nw;
            }
        }
        for (var n = 0u; n < nb; n++) {
            rows[ASSIGN(g, n)] = rows[SEED(g, n)];
        }
        for (var j = 0u; j < best; j++) {
            let n = rows[ORDER(g, j)];
            rows[ASSIGN(g, n)] = rows[FOREIGN(g, n)];
        }
        for (var n = 0u; n < nb; n++) {
            let p = tab[params.phys_off + rows[ASSIGN(g, n)] * nb + n];
            sent[tr * params.words + p / 32u] |= 1u << (p % 32u);
        }
        info[4u * g + 1u] = best;
        info[4u * g + 2u] = best_new;
    }
}
