//! Twins of `shaders/greedy.wgsl`: one device's candidate chain and one trial's union update.

#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]
// `!(x > y)` as in the WGSL keeps NaN on the outage side; indexed loops read like the kernel.

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

/// The chain of a device with task `t`, QoS `qos`, foreign models `allowed[i] != 0` (`i != t`),
/// in the paper's or the min-loss order. One function, as the kernel, so the two read side by side.
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
    let key_of = |n: usize| -> f32 {
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
        let kj = key_of(j);
        let mut p = order.len();
        order.push(j as u32);
        while p > 0 && key_of(order[p - 1] as usize) > kj {
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

/// Devices in `visit` order pick the candidate adding the fewest new physical blocks (ties to the
/// higher score, then the lower j). Returns per device `(assignment, pick j, new blocks)`.
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
