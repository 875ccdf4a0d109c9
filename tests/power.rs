//! Power control (docs/algorithms/power-control.md): optimal PC against its KKT conditions and random feasible allocations,
//! constant power, unicast, plain multicast and outages.

mod common;
use common::paper_link;
use mba::backend::cpu::{PipelineScratch, TrialPlan, reference_outcome};
use mba::backend::{PowerJob, PowerSettings};
use mba::library::generate::{GeneratorParams, Popularity, draw_tasks};
use mba::power::lambert::{h, w_of_q};
use mba::power::{
    GainGroups, Link, Outage, constant_power, multicast, multicast_groups, optimal_power, unicast,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn u(rng: &mut ChaCha8Rng) -> f64 {
    mba::channel::uniform(rng)
}

/// Log-uniform gains in [lo, hi].
fn random_gains(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|_| (lo.ln() + u(rng) * (hi.ln() - lo.ln())).exp())
        .collect()
}

/// A link whose budget is `ratio` times the blocks' minimum energy.
fn link_with_ratio(groups: &GainGroups, ratio: f64) -> Link {
    let mut link = paper_link();
    link.energy_j = ratio * groups.min_energy(&link);
    link
}

/// Time and energy of one block at power `p` and gain `hh`.
fn block_time(link: &Link, hh: f64, p: f64) -> f64 {
    link.time_unit() / (p * hh / link.noise_w).ln_1p()
}

#[test]
fn w_of_q_solves_its_equation_over_the_whole_range() {
    let mut q = 1e-300;
    while q < 1e300 {
        let w = w_of_q(q, q.ln());
        let rel = (h(w) - q).abs() / q;
        assert!(
            rel < 1e-13,
            "q = {q:e}: h(w) = {:e}, rel error {rel:e}",
            h(w)
        );
        if q > 1e-3 && q < 1e200 {
            let reference = lambert_w::lambert_w0((q - 1.0) / std::f64::consts::E) + 1.0;
            assert!(
                (w - reference).abs() <= 1e-12 * w.max(1.0),
                "q = {q:e}: {w} vs {reference}"
            );
        }
        q *= 3.7;
    }
}

#[test]
fn energy_used_equals_the_budget() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for case in 0..300 {
        let n = 1 + (u(&mut rng) * 40.0) as usize;
        let gains = random_gains(&mut rng, n, 1e-9, 1e3);
        let groups = GainGroups::from_gains(&gains);
        let ratio = [1.0 + 1e-9, 1.0 + 1e-4, 1.3, 10.0, 1e4][case % 5];
        let link = link_with_ratio(&groups, ratio);
        let plan = optimal_power(&link, &groups);
        assert!(plan.outage.is_none(), "case {case}: unexpected outage");
        let rel = (plan.energy_j - link.energy_j).abs() / link.energy_j;
        assert!(
            rel < 1e-9,
            "case {case}: energy {} vs budget {}, rel {rel:e}",
            plan.energy_j,
            link.energy_j
        );
        assert!(plan.latency_s.is_finite() && plan.latency_s > 0.0);
    }
}

/// KKT: at the optimum every block has the same marginal latency per joule, `dT/dE = -beta`
/// (`beta` is the multiplier of the energy constraint in eq. 11).
#[test]
fn kkt_marginal_latency_per_joule_is_equal() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for case in 0..100 {
        let gains = random_gains(&mut rng, 12, 1e-5, 1e-1);
        let groups = GainGroups::from_gains(&gains);
        let link = link_with_ratio(&groups, [1.01, 2.0, 50.0][case % 3]);
        let plan = optimal_power(&link, &groups);
        let beta = plan.level;
        for (g, &hh) in groups.gain.iter().enumerate() {
            let p = plan.group_power_w[g];
            let a = hh / link.noise_w;
            let t = block_time(&link, hh, p);
            let dt_dp = -link.time_unit() * a / ((1.0 + p * a) * (p * a).ln_1p().powi(2));
            let de_dp = t + p * dt_dp;
            let marginal = dt_dp / de_dp;
            let rel = (marginal / beta + 1.0).abs();
            assert!(
                rel < 1e-7,
                "case {case} group {g}: dT/dE = {marginal:e}, -beta = {:e}",
                -beta
            );
            assert!(
                (plan.group_time_s[g] - t).abs() <= 1e-12 * t,
                "time is Q/(B log2(1 + pH/N0))"
            );
        }
    }
}

/// Invert a block's energy `e = p T(p)` (increasing in p) by bisection on log p.
fn time_for_energy(link: &Link, hh: f64, e: f64) -> f64 {
    let (mut lo, mut hi) = (-60.0f64, 60.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        let p = mid.exp();
        if p * block_time(link, hh, p) < e {
            lo = mid
        } else {
            hi = mid
        }
    }
    block_time(link, hh, (0.5 * (lo + hi)).exp())
}

#[test]
fn no_random_feasible_allocation_with_the_same_energy_does_better() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for case in 0..40 {
        let gains = random_gains(&mut rng, 6, 1e-4, 1e-2);
        let groups = GainGroups::from_gains(&gains);
        let link = link_with_ratio(&groups, [1.2, 3.0, 30.0][case % 3]);
        let best = optimal_power(&link, &groups).latency_s;
        let c = link.time_unit();
        let floor: Vec<f64> = gains.iter().map(|&x| c * link.noise_w / x).collect();
        let spare = link.energy_j - floor.iter().sum::<f64>();
        for _ in 0..50 {
            let w: Vec<f64> = (0..gains.len()).map(|_| u(&mut rng) + 1e-3).collect();
            let total: f64 = w.iter().sum();
            let latency: f64 = gains
                .iter()
                .zip(&floor)
                .zip(&w)
                .map(|((&x, &f), &wi)| time_for_energy(&link, x, f + spare * wi / total))
                .sum();
            assert!(
                latency >= best * (1.0 - 1e-9),
                "case {case}: random {latency} beats optimal {best}"
            );
        }
    }
}

#[test]
fn equal_gains_match_constant_power() {
    for &hh in &[1e-7, 3e-4, 1e-3, 2.0] {
        for &ratio in &[1.001, 2.0, 100.0] {
            let groups = GainGroups::from_gains(&[hh; 17]);
            let link = link_with_ratio(&groups, ratio);
            let opt = optimal_power(&link, &groups);
            let con = constant_power(&link, &groups, None);
            let rel = (opt.latency_s - con.latency_s).abs() / opt.latency_s;
            assert!(
                rel < 1e-10,
                "gain {hh}, ratio {ratio}: {} vs {}",
                opt.latency_s,
                con.latency_s
            );
            assert!((con.energy_j - link.energy_j).abs() < 1e-9 * link.energy_j);
        }
    }
}

#[test]
fn optimal_beats_constant_power_with_unequal_gains() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for _ in 0..50 {
        let groups = GainGroups::from_gains(&random_gains(&mut rng, 20, 1e-5, 1e-1));
        let link = link_with_ratio(&groups, 3.0);
        let opt = optimal_power(&link, &groups).latency_s;
        let con = constant_power(&link, &groups, None).latency_s;
        assert!(opt < con, "optimal {opt} should beat constant {con}");
    }
}

#[test]
fn outage_exactly_when_budget_at_or_below_minimum() {
    let groups = GainGroups::from_gains(&[1e-3, 2e-4, 5e-6]);
    let base = paper_link();
    let e_min = groups.min_energy(&base);
    for (ratio, outage) in [
        (1.0 - 1e-12, true),
        (1.0, true),
        (1.0 + 1e-12, false),
        (1.0 + 1e-6, false),
    ] {
        let link = Link {
            energy_j: e_min * ratio,
            ..base
        };
        for plan in [
            optimal_power(&link, &groups),
            constant_power(&link, &groups, None),
        ] {
            assert_eq!(plan.outage.is_some(), outage, "ratio {ratio}");
            if outage {
                assert!(matches!(
                    plan.outage,
                    Some(Outage::BudgetBelowMinimum { .. })
                ));
                assert!(plan.latency_s.is_infinite());
            } else {
                assert!(plan.latency_s.is_finite() && !plan.energy_j.is_nan());
                assert!((plan.energy_j - link.energy_j).abs() <= 1e-9 * link.energy_j);
            }
        }
    }
    let zero = GainGroups::from_gains(&[1e-3, 0.0]);
    assert_eq!(optimal_power(&base, &zero).outage, Some(Outage::ZeroGain));
}

#[test]
fn fixed_constant_power_reports_over_budget() {
    let groups = GainGroups::from_gains(&[1e-3; 10]);
    let link = paper_link();
    let ok = constant_power(&link, &groups, Some(1.0));
    assert!(ok.outage.is_none());
    assert_eq!(ok.level, 1.0);
    let big = constant_power(&link, &groups, Some(1e9));
    assert!(matches!(big.outage, Some(Outage::OverBudget { .. })));
}

#[test]
fn unicast_is_optimal_power_on_k_times_n_blocks() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let device_gains = random_gains(&mut rng, 7, 1e-5, 1e-2);
    let n = 24;
    let expanded: Vec<f64> = device_gains
        .iter()
        .flat_map(|&x| std::iter::repeat_n(x, n))
        .collect();
    let link = paper_link();
    let a = unicast(&link, &device_gains, n);
    let b = optimal_power(&link, &GainGroups::from_gains(&expanded));
    assert_eq!(
        GainGroups::from_gains(&expanded).num_blocks(),
        (7 * n) as u64
    );
    assert!((a.latency_s - b.latency_s).abs() <= 1e-12 * b.latency_s);
    // And against blocks each in its own group (no grouping shortcut).
    let mut rng2 = ChaCha8Rng::seed_from_u64(6);
    let jitter: Vec<f64> = expanded
        .iter()
        .map(|&x| x * (1.0 + 1e-15 * rng2.random::<f64>()))
        .collect();
    let c = optimal_power(&link, &GainGroups::from_gains(&jitter));
    assert!((a.latency_s - c.latency_s).abs() <= 1e-9 * c.latency_s);
}

/// Tasks of `k` devices over `m` models: a permutation's first `k` (distinct), or uniform or
/// Zipf draws with repeats, through the generator's own task draw.
fn random_tasks(rng: &mut ChaCha8Rng, popularity: Popularity, m: usize, k: usize) -> Vec<usize> {
    let p = GeneratorParams {
        models: m,
        devices: k,
        popularity,
        zipf_exponent: 1.2,
        ..Default::default()
    };
    draw_tasks(&p, rng)
}

#[test]
fn multicast_groups_are_the_devices_of_each_task_in_task_order() {
    assert_eq!(
        multicast_groups(&[3, 0, 3, 1, 0]),
        vec![vec![1, 4], vec![3], vec![0, 2]]
    );
    assert_eq!(
        multicast_groups(&[2, 0, 1]),
        vec![vec![1], vec![2], vec![0]]
    );
}

/// Hand-computed: B = Q = N0 = 1, two devices of one task at gains 1 and 3, N = 2, E = 2 J.
/// One group of 2 blocks at the weaker gain 1; equal blocks take equal shares, so each gets 1 J
/// and time T with T (2^(1/T) - 1) = 1, i.e. T = 1 s at 1 W: 2 s in all. Unicast also sends
/// the stronger device's 2 blocks from the same budget, so it is slower.
#[test]
fn multicast_of_two_devices_of_one_task_is_one_block_group_at_the_weaker_gain() {
    let link = Link {
        bandwidth_hz: 1.0,
        noise_w: 1.0,
        block_bits: 1.0,
        energy_j: 2.0,
    };
    let plan = multicast(&link, &[3.0, 1.0], &[0, 0], 2);
    assert!(plan.outage.is_none());
    assert!((plan.latency_s - 2.0).abs() <= 1e-12, "{}", plan.latency_s);
    assert!((plan.energy_j - 2.0).abs() <= 1e-12, "{}", plan.energy_j);
    assert_eq!(plan.group_power_w.len(), 1);
    assert!((plan.group_power_w[0] - 1.0).abs() <= 1e-12);
    assert!((plan.group_time_s[0] - 1.0).abs() <= 1e-12);
    let uni = unicast(&link, &[3.0, 1.0], 2).latency_s;
    assert!(uni > 2.0 + 0.1, "unicast {uni}");
    // A third device with its own task adds its own group of 2 blocks at its own gain.
    let three = multicast(&link, &[3.0, 1.0, 0.5], &[0, 0, 1], 2);
    let by_hand = optimal_power(
        &link,
        &GainGroups {
            gain: vec![0.5, 1.0],
            count: vec![2, 2],
        },
    );
    assert_eq!(three.latency_s.to_bits(), by_hand.latency_s.to_bits());
}

#[test]
fn multicast_equals_unicast_when_every_task_is_distinct() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for case in 0..200 {
        let k = 1 + case % 30;
        let tasks = random_tasks(&mut rng, Popularity::Distinct, 40, k);
        let gains = random_gains(&mut rng, k, 1e-6, 1e-1);
        let n = 1 + (u(&mut rng) * 30.0) as usize;
        let uni = GainGroups::from_gains_repeated(&gains, n as u32);
        let link = link_with_ratio(&uni, 1.0 + 10.0 * u(&mut rng));
        let (m, un) = (
            multicast(&link, &gains, &tasks, n),
            unicast(&link, &gains, n),
        );
        assert_eq!(m.latency_s.to_bits(), un.latency_s.to_bits(), "case {case}");
        assert_eq!(m.energy_j.to_bits(), un.energy_j.to_bits(), "case {case}");
    }
}

/// Multicast sends a subset of unicast's blocks (each task's weakest device's), so from the
/// same budget it is never slower and never in outage when unicast is served.
#[test]
fn multicast_is_never_slower_than_unicast() {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let (mut faster, mut rescued, mut both_out) = (0, 0, 0);
    for case in 0..600 {
        let popularity = [Popularity::Uniform, Popularity::Zipf][case % 2];
        let k = 1 + (u(&mut rng) * 40.0) as usize;
        let tasks = random_tasks(&mut rng, popularity, 12, k);
        let mut gains = random_gains(&mut rng, k, 1e-7, 1e-1);
        if case % 50 == 7 {
            gains[0] = 0.0;
        }
        let n = 1 + (u(&mut rng) * 24.0) as usize;
        // Budgets from below multicast's E_min to far above unicast's.
        let uni_groups = GainGroups::from_gains_repeated(&gains, n as u32);
        let link = link_with_ratio(&uni_groups, 10f64.powf(-1.0 + 3.0 * u(&mut rng)));
        let m = multicast(&link, &gains, &tasks, n);
        let un = unicast(&link, &gains, n);
        match (m.outage, un.outage) {
            (None, None) => {
                assert!(
                    m.latency_s <= un.latency_s * (1.0 + 1e-12),
                    "case {case}: multicast {} unicast {}",
                    m.latency_s,
                    un.latency_s
                );
                faster += usize::from(m.latency_s < un.latency_s);
            }
            (None, Some(_)) => rescued += 1,
            (Some(a), Some(b)) => {
                assert_eq!(
                    matches!(a, Outage::ZeroGain),
                    matches!(b, Outage::ZeroGain),
                    "case {case}"
                );
                assert!(m.latency_s.is_infinite() && un.latency_s.is_infinite());
                both_out += 1;
            }
            (Some(o), None) => panic!("case {case}: multicast in outage {o:?}, unicast served"),
        }
    }
    // Every branch was exercised, and repeated tasks really made multicast faster.
    assert!(
        faster > 200 && rescued > 10 && both_out > 20,
        "{faster} {rescued} {both_out}"
    );
}

/// The study's multicast job (`PowerJob::multicast`) gives `power::multicast` as its `mba`
/// outcome, on the scalar reference and on the CPU backend's fast pipeline.
#[test]
fn the_multicast_job_evaluates_to_power_multicast() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let mut scratch = PipelineScratch::default();
    for case in 0..300 {
        let popularity = [Popularity::Distinct, Popularity::Uniform, Popularity::Zipf][case % 3];
        let k = 1 + (u(&mut rng) * 20.0) as usize;
        let tasks = random_tasks(&mut rng, popularity, 25, k);
        let gains = random_gains(&mut rng, k, 1e-7, 1e-1);
        let n = 1 + (u(&mut rng) * 24.0) as usize;
        let job = PowerJob::multicast(&tasks, n);
        assert_eq!(job.num_blocks(), n * multicast_groups(&tasks).len());
        let link = link_with_ratio(
            &GainGroups::from_gains_repeated(&gains, n as u32),
            0.3 + 3.0 * u(&mut rng),
        );
        let s = PowerSettings {
            link,
            path_loss: 1e-3,
            constant_power_w: None,
        };
        let want = multicast(&link, &gains, &tasks, n).latency_s;
        let reference = reference_outcome(&s, &job, &gains);
        let fast = TrialPlan::new(&job).evaluate(&s, &gains, &mut scratch);
        for (what, got) in [("reference", reference.mba), ("fast", fast.mba)] {
            if want.is_infinite() {
                assert_eq!(got, want, "case {case} {what}");
            } else {
                let rel = (got - want).abs() / want;
                assert!(rel <= 1e-12, "case {case} {what}: {got} vs {want}");
            }
        }
        assert_eq!(reference.unicast, unicast(&link, &gains, n).latency_s);
    }
}

#[test]
fn near_the_branch_point_stays_finite_and_exact() {
    let groups = GainGroups::from_gains(&[1e-9, 1e-6, 1e-3, 1.0, 1e3]);
    for ratio in [1.0 + 1e-14, 1.0 + 1e-12, 1.0 + 1e-9, 1.0 + 1e-6] {
        let link = link_with_ratio(&groups, ratio);
        let plan = optimal_power(&link, &groups);
        assert!(plan.outage.is_none(), "ratio {ratio}");
        assert!(plan.latency_s.is_finite() && plan.latency_s > 0.0);
        assert!(
            (plan.energy_j - link.energy_j).abs() <= 1e-9 * link.energy_j,
            "ratio {ratio}"
        );
        assert!(plan.group_power_w.iter().all(|p| p.is_finite() && *p > 0.0));
    }
}
