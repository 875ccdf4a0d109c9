//! Twins of `shaders/reduce.wgsl`: the device reduction of a span's latencies, with the
//! kernel's tiles, pairing and order.

#![allow(clippy::needless_range_loop, clippy::manual_range_contains)]
// Indexed loops and the two comparisons read like the kernel.

use bytemuck::{Pod, Zeroable};

/// Realizations per tile and invocations per workgroup (`TILE`).
pub const TILE: usize = 256;
/// Schemes per realization: mba, constant, unicast.
pub const SCHEMES: usize = 3;

/// `Stat` of `shaders/reduce.wgsl`: served samples, their mean and sum of squared deviations.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default, PartialEq)]
pub struct Stat {
    pub served: u32,
    pub mean: f32,
    pub m2: f32,
}

/// `Span` of `shaders/reduce.wgsl`: one job's realizations in a chunk, and its tiles.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub count: u32,
    pub first_tile: u32,
    pub tiles: u32,
}

/// One latency as a statistic: served when finite (`OUTAGE`, inf and NaN are outages).
pub fn stat_of(x: f32) -> Stat {
    if x >= 0.0 && x <= f32::MAX {
        Stat {
            served: 1,
            mean: x,
            m2: 0.0,
        }
    } else {
        Stat::default()
    }
}

/// `a`'s samples then `b`'s (Chan et al.'s pairwise update).
pub fn merge_stats(a: Stat, b: Stat) -> Stat {
    if b.served == 0 {
        return a;
    }
    if a.served == 0 {
        return b;
    }
    let n = a.served + b.served;
    let share = b.served as f32 / n as f32;
    let delta = b.mean - a.mean;
    Stat {
        served: n,
        mean: a.mean + delta * share,
        m2: a.m2 + b.m2 + delta * delta * a.served as f32 * share,
    }
}

/// The workgroup tree over `TILE` slots of `SCHEMES` stats: at each level slot `t` takes in
/// slot `t + half`. Leaves the totals in `tree[0]`.
pub fn tree_reduce(tree: &mut [[Stat; SCHEMES]; TILE]) {
    let mut half = TILE / 2;
    while half > 0 {
        for t in 0..half {
            for s in 0..SCHEMES {
                tree[t][s] = merge_stats(tree[t][s], tree[t + half][s]);
            }
        }
        half /= 2;
    }
}

/// The span whose tiles hold tile `w`: the last with `first_tile <= w`.
pub fn span_of_tile(spans: &[Span], w: u32) -> usize {
    spans
        .partition_point(|s| s.first_tile <= w)
        .saturating_sub(1)
}

/// One span's latencies (`[mba, constant, unicast]` per realization) reduced per tile.
pub fn reduce_tiles(latencies: &[[f32; SCHEMES]]) -> Vec<[Stat; SCHEMES]> {
    latencies
        .chunks(TILE)
        .map(|tile| {
            let mut tree = [[Stat::default(); SCHEMES]; TILE];
            for (slot, l) in tree.iter_mut().zip(tile) {
                *slot = l.map(stat_of);
            }
            tree_reduce(&mut tree);
            tree[0]
        })
        .collect()
}

/// One span's tile partials reduced: slot `t` folds tiles `[t per, (t + 1) per)` in order, then
/// the tree.
pub fn reduce_spans(partials: &[[Stat; SCHEMES]]) -> [Stat; SCHEMES] {
    let per = partials.len().div_ceil(TILE).max(1);
    let mut tree = [[Stat::default(); SCHEMES]; TILE];
    for (slot, run) in tree.iter_mut().zip(partials.chunks(per)) {
        for p in run {
            for s in 0..SCHEMES {
                slot[s] = merge_stats(slot[s], p[s]);
            }
        }
    }
    tree_reduce(&mut tree);
    tree[0]
}
