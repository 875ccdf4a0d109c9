//! Lagrangian selection (docs/algorithms/lagrangian.md) at the paper's scale against the greedy,
//! a short HiGHS MIP and `bnb`'s answers at 60 work units (recorded below), and at K = M = 100,
//! 200, 500 against its own bound; one instance at a time, one thread.
//!
//! `cargo bench --bench lagrangian`; environment: `MBA_BENCH_MIP_WORK` (HiGHS MIP work units per
//! paper-scale instance, started from the Lagrangian answer; 0 skips it; default 5),
//! `MBA_BENCH_SEEDS` (seeds per K, default 4), `MBA_BENCH_K` (comma list, default
//! `4,8,12,17,21`), `MBA_BENCH_LARGE` (comma list of K = M, default `100,200,500`),
//! `MBA_BENCH_REPEAT` (timing repeats at the paper's scale, median taken, default 3).

use std::time::Instant;

mod common;
use common::{env_list, env_or, median};

use mba::library::Instance;
use mba::library::generate::{GeneratorParams, generate_instance};
use mba::selection::exact::{ExactOptions, highs_mip};
use mba::selection::greedy::{GreedyOptions, greedy};
use mba::selection::lagrangian::{LagrangianOptions, LagrangianResult, lagrangian};

/// The generator settings of `configs/paper.toml` (`[generator]`), with `K` and `M` given.
fn paper_like(models: usize, devices: usize) -> GeneratorParams {
    GeneratorParams {
        models,
        blocks: 24,
        devices,
        clusters: 4,
        intra_similarity: 0.9,
        inter_similarity: 0.6,
        similarity_jitter: 0.05,
        depth_decay: 2.0,
        score_spread: 0.5,
        block_noise: 0.1,
        sharing: 0.2,
        qos_ratio: 0.9,
        ..Default::default()
    }
}

/// The built-in generator defaults (benches/exact.rs), with `K` and `M` given.
fn default_gen(models: usize, devices: usize) -> GeneratorParams {
    GeneratorParams {
        models,
        blocks: 24,
        devices,
        ..Default::default()
    }
}

/// `bnb`'s best at 60 work units, `[K = 4, 8, 12, 17, 21][seed 0..4]`: the reference "best
/// known" (with the greedy, the Lagrangian and the MIP answers of the run). Default library:
/// docs/exact-selection.md (commit fca20d5); paper-like: `mba generate --config
/// configs/paper.toml --devices K --seed S`, then `mba solve --ps bnb --work-limit 60`
/// (commit 8ef35cc; K = 4 from the proven optima of commit 708fd05).
const BNB_60: [(&str, [[usize; 4]; 5]); 2] = [
    (
        "default",
        [
            [65, 66, 75, 58],
            [111, 116, 116, 114],
            [148, 154, 151, 149],
            [201, 205, 199, 205],
            [238, 242, 235, 242],
        ],
    ),
    ("paper-like", PAPER_LIKE_BNB_60),
];

/// The reference for one instance, when the bench's K and seed are in [`BNB_60`].
fn reference(family: &str, k: usize, seed: u64) -> Option<usize> {
    let row = [4, 8, 12, 17, 21].iter().position(|&x| x == k)?;
    let table = BNB_60.iter().find(|(f, _)| *f == family)?.1;
    table[row].get(seed as usize).copied().filter(|&b| b > 0)
}

/// `(result, median seconds over repeats)`.
fn timed(inst: &Instance, opts: &LagrangianOptions, repeat: usize) -> (LagrangianResult, f64) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let r = lagrangian(inst, opts, &GreedyOptions::default())
            .expect("generated instances are feasible");
        times.push(t.elapsed().as_secs_f64());
        if let Some(prev) = &out {
            assert_eq!(prev, &r, "not deterministic");
        }
        out = Some(r);
    }
    (out.expect("ran"), median(&mut times))
}

/// A generator family: `(M, K) -> params`.
type Family = fn(usize, usize) -> GeneratorParams;
/// One paper-scale row: greedy, lagrangian, best known, best bound, seconds, own bound.
type Row = (usize, usize, usize, usize, f64, usize);

fn main() {
    let mip_work: f64 = env_or("MBA_BENCH_MIP_WORK", 5.0);
    let seeds: u64 = env_or("MBA_BENCH_SEEDS", 4);
    let repeat: usize = env_or("MBA_BENCH_REPEAT", 3);
    let ks = env_list("MBA_BENCH_K", "4,8,12,17,21");
    let large = env_list("MBA_BENCH_LARGE", "100,200,500");
    let opts = LagrangianOptions::default();
    let families: [(&str, Family); 2] = [("default", default_gen), ("paper-like", paper_like)];

    println!("lagrangian PS bench: M = 21, N = 24, seeds 0..{seeds}, MIP work {mip_work} units");
    println!(
        "family      K seed greedy  lagr bound  time_ms | mip: best bound | best known  excess"
    );
    let mut summary = Vec::new();
    for (fam, gen_of) in families {
        for &k in &ks {
            let mut rows = Vec::new();
            for seed in 0..seeds {
                let inst = generate_instance(&gen_of(21, k), seed);
                let g = greedy(&inst, &GreedyOptions::default())
                    .expect("feasible")
                    .selection
                    .num_blocks();
                let (r, secs) = timed(&inst, &opts, repeat);
                let (mip_best, mip_bound) = if mip_work > 0.0 {
                    let o = ExactOptions {
                        work_limit: mip_work,
                        ..ExactOptions::default()
                    };
                    let m = highs_mip(&inst, &o, r.selection.clone()).expect("mip");
                    (m.selection.num_blocks(), m.lower_bound)
                } else {
                    (usize::MAX, 0)
                };
                let lb = r.selection.num_blocks();
                let best = g
                    .min(lb)
                    .min(mip_best)
                    .min(reference(fam, k, seed).unwrap_or(usize::MAX));
                let lower = r.lower_bound.max(mip_bound);
                println!(
                    "{fam:10} {k:2} {seed:4} {g:6} {lb:5} {:5} {:8.1} | {:9} {:5} | {best:10} {:6}",
                    r.lower_bound,
                    1e3 * secs,
                    if mip_best == usize::MAX {
                        "-".to_string()
                    } else {
                        mip_best.to_string()
                    },
                    mip_bound,
                    lb - best
                );
                rows.push((g, lb, best, lower, secs, r.lower_bound));
            }
            summary.push((fam, k, rows));
        }
    }
    println!();
    println!(
        "| family | K | greedy (mean) | lagrangian (mean) | best known (mean) | mean excess | max excess | proven best (lb = best) | median time (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // Per family: excesses, most blocks above, times.
    let mut totals: Vec<(&str, Vec<f64>, usize, Vec<f64>)> = Vec::new();
    for (fam, k, rows) in &summary {
        let n = rows.len() as f64;
        let mean = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / n;
        let excess: Vec<f64> = rows
            .iter()
            .map(|r| (r.1 - r.2) as f64 / r.2 as f64)
            .collect();
        let max_blocks = rows.iter().map(|r| r.1 - r.2).max().unwrap_or(0);
        let proven = rows.iter().filter(|r| r.3 >= r.2).count();
        let mut times: Vec<f64> = rows.iter().map(|r| r.4).collect();
        if totals.last().is_none_or(|t| t.0 != *fam) {
            totals.push((fam, Vec::new(), 0, Vec::new()));
        }
        let t = totals.last_mut().expect("pushed");
        t.1.extend(excess.iter().copied());
        t.2 = t.2.max(max_blocks);
        t.3.extend(times.iter().copied());
        println!(
            "| {fam} | {k} | {:.1} | {:.1} | {:.1} | {:.2}% | {max_blocks} | {proven}/{} | {:.1} |",
            mean(&|r| r.0 as f64),
            mean(&|r| r.1 as f64),
            mean(&|r| r.2 as f64),
            100.0 * excess.iter().sum::<f64>() / n,
            rows.len(),
            1e3 * median(&mut times)
        );
    }
    for (fam, excess, max_blocks, mut times) in totals {
        println!(
            "{fam}, all K: mean excess over best known {:.3}%, at most {max_blocks} blocks, median time {:.1} ms",
            100.0 * excess.iter().sum::<f64>() / excess.len() as f64,
            1e3 * median(&mut times)
        );
    }

    println!();
    println!("| family | K = M | greedy | lagrangian | phase 1 | bound | gap | time (s) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (fam, gen_of) in families {
        for &k in &large {
            let inst = generate_instance(&gen_of(k, k), 0);
            let (r, secs) = timed(&inst, &opts, 1);
            println!(
                "| {fam} | {k} | {} | {} | {} | {} | {:.2}% | {secs:.2} |",
                r.greedy_blocks,
                r.selection.num_blocks(),
                r.phase1_blocks,
                r.lower_bound,
                100.0 * r.gap()
            );
        }
    }
}

/// [`BNB_60`] for the paper-like library (0: not measured).
const PAPER_LIKE_BNB_60: [[usize; 4]; 5] = [
    [56, 57, 69, 42],
    [81, 88, 90, 0],
    [92, 101, 95, 93],
    [104, 113, 103, 111],
    [109, 121, 111, 119],
];
