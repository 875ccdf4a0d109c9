//! Exact parameter selection at the paper's scale (M = 21, N = 24): branch and bound against
//! the plain HiGHS MIP, one instance at a time on one thread.
//!
//! `cargo bench --bench exact`; environment: `MBA_BENCH_WORK` (work budget per solve, default
//! 60 units), `MBA_BENCH_SEEDS` (instance seeds per K, default 4), `MBA_BENCH_K` (comma list,
//! default `4,8,12,17,21`), `MBA_BENCH_MIP=0` (skip the plain MIP). Every result but the times
//! is the same on any machine.

mod common;
use common::{env_list, env_or, median};
use mba::library::generate::{GeneratorParams, generate_instance};
use mba::selection::exact::{ExactOptions, ExactResult, branch_and_bound, highs_mip};
use mba::selection::greedy::{GreedyOptions, greedy};

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let work: f64 = env_or("MBA_BENCH_WORK", 60.0);
    let with_mip = env_or("MBA_BENCH_MIP", 1) != 0;
    let seeds: u64 = env_or("MBA_BENCH_SEEDS", 4);
    let ks = env_list("MBA_BENCH_K", "4,8,12,17,21");
    let opts = ExactOptions {
        work_limit: work,
        ..ExactOptions::default()
    };
    println!("exact PS bench: M = 21, N = 24, work limit {work} units, seeds 0..{seeds}");
    println!("K  seed greedy | bnb: best bound  time_s  nodes | mip: best bound  time_s  nodes");
    let mut table = Vec::new();
    for &k in &ks {
        let p = GeneratorParams {
            models: 21,
            blocks: 24,
            devices: k,
            ..Default::default()
        };
        let mut runs: [Vec<ExactResult>; 2] = [Vec::new(), Vec::new()];
        for seed in 0..seeds {
            let inst = generate_instance(&p, seed);
            let g = greedy(&inst, &GreedyOptions::default())
                .expect("generated instances are feasible")
                .selection;
            let bnb = branch_and_bound(&inst, &opts, g.clone()).expect("bnb");
            let mip = if with_mip {
                highs_mip(&inst, &opts, g.clone()).expect("mip")
            } else {
                ExactResult {
                    seconds: 0.0,
                    ..bnb.clone()
                }
            };
            println!(
                "{k:2} {seed:4} {:6} | {:4} {:5} {:7.2} {:6} {:?} | {:4} {:5} {:7.2} {:6}",
                g.num_blocks(),
                bnb.selection.num_blocks(),
                bnb.lower_bound,
                bnb.seconds,
                bnb.nodes,
                bnb.work,
                mip.selection.num_blocks(),
                mip.lower_bound,
                mip.seconds,
                mip.nodes
            );
            runs[0].push(bnb);
            runs[1].push(mip);
        }
        table.push((k, runs));
    }
    println!();
    println!("| K | method | proven optimal | median time (s) | median gap | max gap |");
    println!("|---|---|---|---|---|---|");
    for (k, runs) in &table {
        for (name, rs) in ["bnb", "mip"].iter().zip(runs) {
            let proven = rs.iter().filter(|r| r.optimal).count();
            let mut times: Vec<f64> = rs.iter().map(|r| r.seconds).collect();
            let mut gaps: Vec<f64> = rs.iter().map(|r| r.gap()).collect();
            let max_gap = gaps.iter().cloned().fold(0.0, f64::max);
            println!(
                "| {k} | {name} | {proven}/{} | {:.2} | {:.2}% | {:.2}% |",
                rs.len(),
                median(&mut times),
                100.0 * median(&mut gaps),
                100.0 * max_gap
            );
        }
    }
}
