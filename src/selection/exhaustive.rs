//! Exhaustive search of (P2.1) over subsets of physical blocks: the ground truth for tests on
//! tiny instances (at most ~20 physical blocks).

use super::{CheckError, Selection};
use crate::library::Instance;

/// Largest number of physical blocks the exhaustive search accepts.
pub const MAX_PHYSICAL_BLOCKS: usize = 22;

/// The optimum of (P2.1), or `None` when the instance is too large to enumerate.
pub fn exhaustive(inst: &Instance) -> Option<Result<Selection, CheckError>> {
    let lib = &inst.library;
    let nb = lib.blocks();
    let mut physical: Vec<(usize, usize)> = Vec::new();
    for n in 0..nb {
        for i in 0..lib.models() {
            if lib.canonical(i, n) == i {
                physical.push((i, n));
            }
        }
    }
    if physical.len() > MAX_PHYSICAL_BLOCKS {
        return None;
    }
    let mut best: Option<(u32, u64)> = None;
    for mask in 0u64..(1u64 << physical.len()) {
        let size = mask.count_ones();
        if best.is_some_and(|(b, _)| size >= b) {
            continue;
        }
        if inst
            .devices
            .iter()
            .all(|d| super::meets_qos(best_assembly(inst, d.task, &physical, mask).1, d.qos))
        {
            best = Some((size, mask));
        }
    }
    let (_, mask) = best?;
    let assignment = inst
        .devices
        .iter()
        .map(|d| best_assembly(inst, d.task, &physical, mask).0)
        .collect();
    Some(Selection::verified(inst, assignment))
}

/// Best assembly for task `t` from the blocks in `mask`; score `-inf` when a position is empty.
fn best_assembly(
    inst: &Instance,
    t: usize,
    physical: &[(usize, usize)],
    mask: u64,
) -> (Vec<usize>, f64) {
    let lib = &inst.library;
    let mut pick: Vec<Option<(usize, f64)>> = vec![None; lib.blocks()];
    for (b, &(i, n)) in physical.iter().enumerate() {
        if mask >> b & 1 == 1 {
            let s = lib.score(t, i, n);
            if pick[n].is_none_or(|(_, best)| s > best) {
                pick[n] = Some((i, s));
            }
        }
    }
    if pick.iter().any(Option::is_none) {
        return (Vec::new(), f64::NEG_INFINITY);
    }
    let assembly = pick.iter().map(|p| p.expect("checked").0).collect();
    (assembly, pick.iter().map(|p| p.expect("checked").1).sum())
}
