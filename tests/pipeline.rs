//! The fast CPU pipeline (`backend::cpu::TrialPlan`, `power::fast`) against the scalar reference
//! (`backend::cpu::reference_outcome`, `power::optimal_power`, `power::constant_power`): on random
//! jobs with gains from 1e-9 to 1e3, zero gains, budgets just above `E_min`, `K = 1`, `N = 1`,
//! outages must be identical, latencies equal to 1e-12 relative and the energy equal to the
//! budget to 1e-12 relative.

mod common;
use common::paper_link;
use mba::backend::cpu::{PipelineScratch, TrialPlan, reference_outcome, weakest_counts};
use mba::backend::{Outcome, PowerJob, PowerSettings};
use mba::channel::rayleigh_gains;
use mba::library::generate::{GeneratorParams, generate_instance};
use mba::power::fast::{Groups, Scratch, constant_latency, optimal_latency};
use mba::power::{GainGroups, Link, constant_power, optimal_power};
use mba::selection::greedy::{GreedyOptions, greedy};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOL: f64 = 1e-12;

fn settings(link: Link, constant_power_w: Option<f64>) -> PowerSettings {
    PowerSettings {
        link,
        path_loss: 1e-3,
        constant_power_w,
    }
}

/// A random job: `k` devices, `n` blocks per model, blocks with random non-empty requester sets
/// (each sorted, as `PowerJob::from_selection` builds them), some repeated.
fn random_job(rng: &mut ChaCha8Rng, k: usize, n: usize) -> PowerJob {
    let mut req_offsets = vec![0u32];
    let mut req_devices = Vec::new();
    let blocks = rng.random_range(0..4 * k * n + 2);
    for _ in 0..blocks {
        let mut set: Vec<u32> = (0..k as u32).filter(|_| rng.random_bool(0.3)).collect();
        if set.is_empty() {
            set.push(rng.random_range(0..k as u32));
        }
        req_devices.extend(set);
        req_offsets.push(req_devices.len() as u32);
    }
    PowerJob {
        req_offsets,
        req_devices,
        devices: k as u32,
        blocks_per_model: n as u32,
        seed: 0,
        point: 0,
        trial: 0,
        first_realization: 0,
        realizations: 1,
    }
}

/// Log-uniform gains in [1e-9, 1e3], sometimes with repeats and zeros.
fn random_gains(rng: &mut ChaCha8Rng, k: usize) -> Vec<f64> {
    let mut g: Vec<f64> = (0..k)
        .map(|_| 10f64.powf(rng.random_range(-9.0..3.0)))
        .collect();
    if k > 1 && rng.random_bool(0.2) {
        g[1] = g[0];
    }
    if rng.random_bool(0.05) {
        let i = rng.random_range(0..k);
        g[i] = 0.0;
    }
    g
}

/// `E_min` of the MBA groups of `gains` (unicast's when `unicast`), through the reference.
fn e_min(link: &Link, job: &PowerJob, gains: &[f64], unicast: bool) -> f64 {
    let g = if unicast {
        GainGroups::from_gains_repeated(gains, job.blocks_per_model)
    } else {
        GainGroups::from_counts(gains, &weakest_counts(job, gains))
    };
    g.min_energy(link)
}

fn assert_same(what: &str, fast: f64, reference: f64) {
    if reference.is_infinite() || fast.is_infinite() {
        assert_eq!(fast, reference, "{what}: outage differs");
        return;
    }
    let rel = (fast - reference).abs() / reference.abs().max(f64::MIN_POSITIVE);
    assert!(
        rel <= TOL,
        "{what}: fast {fast:e} vs reference {reference:e}, rel {rel:e}"
    );
}

fn assert_outcomes(what: &str, fast: Outcome, reference: Outcome) {
    assert_same(&format!("{what} mba"), fast.mba, reference.mba);
    assert_same(
        &format!("{what} constant"),
        fast.constant,
        reference.constant,
    );
    assert_same(&format!("{what} unicast"), fast.unicast, reference.unicast);
}

/// Budget factors over `E_min`: just above it (within and beyond the reference's own
/// conditioning region), moderate, and far above.
const RATIOS: [f64; 9] = [
    1.0 + 1e-6,
    1.0 + 2e-3,
    1.0 + 9e-3,
    1.011,
    1.03,
    1.3,
    30.0,
    1e4,
    1e9,
];

#[test]
fn fast_pipeline_equals_reference_on_random_jobs() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut scratch = PipelineScratch::default();
    for case in 0..1500 {
        let k = match case % 5 {
            0 => 1,
            1 => rng.random_range(2..6),
            _ => rng.random_range(1..40),
        };
        let n = if case % 7 == 0 {
            1
        } else {
            rng.random_range(1..30)
        };
        let job = random_job(&mut rng, k, n);
        let gains = random_gains(&mut rng, k);
        let plan = TrialPlan::new(&job);
        let mut link = paper_link();
        if rng.random_bool(0.8) {
            let base = e_min(&link, &job, &gains, case % 2 == 0);
            let ratio = RATIOS[rng.random_range(0..RATIOS.len())];
            if base.is_finite() && base > 0.0 {
                link.energy_j = base * ratio;
            }
        }
        let fixed = rng
            .random_bool(0.2)
            .then(|| 10f64.powf(rng.random_range(-3.0..3.0)));
        let s = settings(link, fixed);
        let fast = plan.evaluate(&s, &gains, &mut scratch);
        let reference = reference_outcome(&s, &job, &gains);
        assert_outcomes(&format!("case {case} (K = {k}, N = {n})"), fast, reference);
    }
}

#[test]
fn fast_pipeline_equals_reference_on_drawn_gains() {
    for (k, seed) in [(21, 1u64), (60, 2)] {
        let p = GeneratorParams {
            models: k,
            blocks: 24,
            devices: k,
            ..Default::default()
        };
        let inst = generate_instance(&p, seed);
        let sel = greedy(&inst, &GreedyOptions::default()).unwrap().selection;
        let job = PowerJob::from_selection(&sel, p.blocks);
        let plan = TrialPlan::new(&job);
        let mut scratch = PipelineScratch::default();
        let mut gains = vec![0.0; k];
        for energy_j in [250.0, 20.0, 2000.0] {
            let s = settings(
                Link {
                    energy_j,
                    ..paper_link()
                },
                None,
            );
            for r in 0..300 {
                rayleigh_gains(job.seed, job.point, job.trial, r, s.path_loss, &mut gains);
                let fast = plan.realization(&s, &job, r, &mut scratch);
                let reference = reference_outcome(&s, &job, &gains);
                assert_outcomes(
                    &format!("K = {k}, E = {energy_j}, r = {r}"),
                    fast,
                    reference,
                );
            }
        }
    }
}

fn groups_of(link: &Link, gains: &[f64], counts: &[u32]) -> Groups {
    let mut g = Groups::default();
    for (&x, &n) in gains.iter().zip(counts) {
        let a = x / link.noise_w;
        g.push(x, a, a.ln(), n);
    }
    g
}

#[test]
fn fast_solvers_use_the_whole_budget_and_match_the_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut scratch = Scratch::default();
    for case in 0..3000 {
        let k = if case % 4 == 0 {
            1
        } else {
            rng.random_range(1..60)
        };
        let gains: Vec<f64> = (0..k)
            .map(|_| 10f64.powf(rng.random_range(-9.0..3.0)))
            .collect();
        let counts: Vec<u32> = (0..k).map(|_| rng.random_range(1..40)).collect();
        let reference_groups = GainGroups::from_counts(&gains, &counts);
        let mut link = paper_link();
        let ratio = RATIOS[case % RATIOS.len()];
        link.energy_j = reference_groups.min_energy(&link) * ratio;
        let groups = groups_of(&link, &gains, &counts);
        let reference = optimal_power(&link, &reference_groups);
        match optimal_latency(&link, &groups, &mut scratch) {
            Some(t) => {
                assert_same(&format!("case {case} optimal"), t, reference.latency_s);
                let rel = (scratch.energy() - link.energy_j).abs() / link.energy_j;
                assert!(rel <= TOL, "case {case}: energy off the budget by {rel:e}");
                let c = constant_latency(&link, &groups, None, t)
                    .expect("energy-matched constant power is solved wherever optimal PC is");
                let c_ref = constant_power(&link, &reference_groups, None).latency_s;
                assert_same(&format!("case {case} constant"), c, c_ref);
            }
            // Only budgets within 1% of E_min are left to the reference.
            None => assert!(ratio < 1.01, "case {case}: deferred at E / E_min = {ratio}"),
        }
    }
}

#[test]
fn outages_and_empty_rounds() {
    let link = paper_link();
    let mut scratch = Scratch::default();
    let zero = groups_of(&link, &[1e-3, 0.0], &[2, 1]);
    assert_eq!(
        optimal_latency(&link, &zero, &mut scratch),
        Some(f64::INFINITY)
    );
    assert_eq!(
        constant_latency(&link, &zero, None, 1.0),
        Some(f64::INFINITY)
    );
    let weak = groups_of(&link, &[1e-12], &[1000]);
    assert_eq!(
        optimal_latency(&link, &weak, &mut scratch),
        Some(f64::INFINITY)
    );
    let empty = Groups::default();
    assert_eq!(optimal_latency(&link, &empty, &mut scratch), Some(0.0));
    assert_eq!(constant_latency(&link, &empty, Some(1.0), 0.0), Some(0.0));
    let near = groups_of(&link, &[1e-9], &[1]);
    let at_min = Link {
        energy_j: GainGroups::from_gains(&[1e-9]).min_energy(&link),
        ..link
    };
    assert_eq!(optimal_latency(&at_min, &near, &mut scratch), None);
}
