//! Exact parameter selection at the paper's scale (M = 21, N = 24): branch and bound and the
//! plain HiGHS MIP, each started from greedy's selection and from the better of greedy and
//! Lagrangian selection (what `mba solve` and `mba_bnb` do), one instance at a time on one
//! thread.
//!
//! `cargo bench --bench exact`; environment: `MBA_BENCH_WORK` (work budget per solve, default
//! 60 units), `MBA_BENCH_SEEDS` (instance seeds per K, default 4), `MBA_BENCH_K` (comma list,
//! default `4,8,12,17,21`), `MBA_BENCH_MIP=0` (skip the plain MIP), `MBA_BENCH_START`
//! (`greedy`, `lagrangian` or `both`, default `both`). Every result but the times is the same
//! on any machine.

mod common;
use std::time::Instant;

use common::{env_list, env_or, median};
use mba::library::Instance;
use mba::library::generate::{GeneratorParams, generate_instance};
use mba::selection::Selection;
use mba::selection::exact::{ExactOptions, ExactResult, branch_and_bound, highs_mip};
use mba::selection::greedy::{GreedyOptions, greedy};
use mba::selection::lagrangian::{LagrangianOptions, LagrangianResult, lagrangian};
use mba::solve::{ExactMethod, exact_from_best_start};

/// One solve's outcome: blocks, proven bound, proven, seconds (the Lagrangian run included
/// for the Lagrangian start).
type Outcome = (usize, usize, bool, f64);

fn outcome(r: &ExactResult, seconds: f64) -> Outcome {
    (r.selection.num_blocks(), r.lower_bound, r.optimal, seconds)
}

/// `method` from greedy's selection, as before the Lagrangian start.
fn from_greedy(inst: &Instance, m: ExactMethod, opts: &ExactOptions, g: &Selection) -> Outcome {
    let t = Instant::now();
    let r = match m {
        ExactMethod::Bnb => branch_and_bound(inst, opts, g.clone()),
        ExactMethod::Mip => highs_mip(inst, opts, g.clone()),
    }
    .expect("exact solve");
    outcome(&r, t.elapsed().as_secs_f64())
}

/// `method` from the better of greedy and Lagrangian, with the better bound.
fn from_best(inst: &Instance, m: ExactMethod, opts: &ExactOptions, g: &Selection) -> Outcome {
    let t = Instant::now();
    let l = lagrangian_of(inst);
    let (r, _) = exact_from_best_start(inst, m, opts, g.clone(), &l, &|_| {}).expect("exact");
    outcome(&r, t.elapsed().as_secs_f64())
}

fn lagrangian_of(inst: &Instance) -> LagrangianResult {
    lagrangian(
        inst,
        &LagrangianOptions::default(),
        &GreedyOptions::default(),
    )
    .expect("generated instances are feasible")
}

/// The runs compared: `(label, method, from Lagrangian)`.
fn runs(with_mip: bool, start: &str) -> Vec<(&'static str, ExactMethod, bool)> {
    let all = [
        ("bnb from greedy", ExactMethod::Bnb, false),
        ("bnb from lagrangian", ExactMethod::Bnb, true),
        ("mip from greedy", ExactMethod::Mip, false),
        ("mip from lagrangian", ExactMethod::Mip, true),
    ];
    all.into_iter()
        .filter(|r| with_mip || r.1 == ExactMethod::Bnb)
        .filter(|r| start == "both" || (start == "lagrangian") == r.2)
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let work: f64 = env_or("MBA_BENCH_WORK", 60.0);
    let with_mip = env_or("MBA_BENCH_MIP", 1) != 0;
    let seeds: u64 = env_or("MBA_BENCH_SEEDS", 4);
    let ks = env_list("MBA_BENCH_K", "4,8,12,17,21");
    let start: String = env_or("MBA_BENCH_START", "both".to_string());
    let opts = ExactOptions {
        work_limit: work,
        ..ExactOptions::default()
    };
    let runs = runs(with_mip, &start);
    println!("exact PS bench: M = 21, N = 24, work limit {work} units, seeds 0..{seeds}");
    println!("K  seed greedy lagr (bound) | per run: best bound proven time_s");
    let mut table = Vec::new();
    for &k in &ks {
        let p = GeneratorParams {
            models: 21,
            blocks: 24,
            devices: k,
            ..Default::default()
        };
        let mut per_run: Vec<Vec<Outcome>> = vec![Vec::new(); runs.len()];
        for seed in 0..seeds {
            let inst = generate_instance(&p, seed);
            let g = greedy(&inst, &GreedyOptions::default())
                .expect("generated instances are feasible")
                .selection;
            let l = lagrangian_of(&inst);
            let mut line = format!(
                "{k:2} {seed:4} {:6} {:4} ({:3})",
                g.num_blocks(),
                l.selection.num_blocks(),
                l.lower_bound
            );
            for (i, &(_, m, lag)) in runs.iter().enumerate() {
                let o = if lag {
                    from_best(&inst, m, &opts, &g)
                } else {
                    from_greedy(&inst, m, &opts, &g)
                };
                line += &format!(" | {:4} {:4} {:5} {:6.2}", o.0, o.1, o.2, o.3);
                per_run[i].push(o);
            }
            println!("{line}");
        }
        table.push((k, per_run));
    }
    summary(&runs, &table);
}

/// One markdown row per `(K, run)`: proven count, mean best and bound, median time and gap.
fn summary(runs: &[(&str, ExactMethod, bool)], table: &[(usize, Vec<Vec<Outcome>>)]) {
    println!();
    println!("| K | run | proven | mean best | mean bound | median gap | median time (s) |");
    println!("|---|---|---|---|---|---|---|");
    for (k, per_run) in table {
        for ((name, _, _), os) in runs.iter().zip(per_run) {
            let n = os.len() as f64;
            let proven = os.iter().filter(|o| o.2).count();
            let best = os.iter().map(|o| o.0 as f64).sum::<f64>() / n;
            let bound = os.iter().map(|o| o.1 as f64).sum::<f64>() / n;
            let mut gaps: Vec<f64> = os.iter().map(|o| mba::selection::gap(o.0, o.1)).collect();
            let mut times: Vec<f64> = os.iter().map(|o| o.3).collect();
            println!(
                "| {k} | {name} | {proven}/{} | {best:.2} | {bound:.2} | {:.2}% | {:.2} |",
                os.len(),
                100.0 * median(&mut gaps),
                median(&mut times)
            );
        }
    }
}
