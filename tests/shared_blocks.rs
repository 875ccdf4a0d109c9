//! Libraries with shared physical blocks (`block_ids`, docs/formats.md).

mod common;

use common::{instance, mba, scratch, small_instances};
use mba::library::generate::{GeneratorParams, generate_instance};
use mba::power::SystemParams;
use mba::power::{GainGroups, Link, optimal_power};
use mba::selection::exhaustive::exhaustive;
use mba::selection::greedy::{ChainOrder, GreedyOptions, greedy};
use mba::solve::{PsMethod, SelectOptions, select, solve_with_gains};

fn scores_3x2() -> Vec<Vec<Vec<f64>>> {
    vec![
        vec![vec![0.5, 0.4], vec![0.45, 0.1], vec![0.2, 0.3]],
        vec![vec![0.3, 0.05], vec![0.35, 0.6], vec![0.1, 0.2]],
        vec![vec![0.2, 0.1], vec![0.1, 0.2], vec![0.4, 0.5]],
    ]
}

#[test]
fn absent_or_distinct_block_ids_change_nothing() {
    for seed in 1..40 {
        let p = GeneratorParams {
            models: 6,
            blocks: 5,
            devices: 5,
            ..GeneratorParams::default()
        };
        let plain = generate_instance(&p, seed);
        let ids: Vec<Vec<i64>> = (0..6)
            .map(|i| (0..5).map(|n| (i * 100 + n) as i64).collect())
            .collect();
        let scores = plain.library.nested_scores();
        let with_ids = mba::library::Library::new(None, scores.clone(), Some(ids)).unwrap();
        let without = mba::library::Library::new(None, scores, None).unwrap();
        assert_eq!(with_ids.canonical_map_raw(), without.canonical_map_raw());
        let a = mba::library::Instance {
            library: with_ids.into(),
            devices: plain.devices.clone(),
        };
        let b = mba::library::Instance {
            library: without.into(),
            devices: plain.devices.clone(),
        };
        for order in [ChainOrder::Paper, ChainOrder::MinLoss] {
            let opts = GreedyOptions {
                chain_order: order,
                ..Default::default()
            };
            assert_eq!(greedy(&a, &opts).unwrap(), greedy(&b, &opts).unwrap());
        }
    }
}

#[test]
fn one_shared_model_needs_exactly_n_blocks_at_the_weakest_rate() {
    // Every model holds the same physical blocks: scores equal across models for each task.
    let n = 4;
    let m = 5;
    let scores: Vec<Vec<Vec<f64>>> = (0..m)
        .map(|t| vec![(0..n).map(|p| 0.1 + 0.01 * (t + p) as f64).collect(); m])
        .collect();
    let ids = vec![vec![7i64; n]; m];
    for k in 1..=6 {
        let devices: Vec<(usize, f64)> = (0..k).map(|d| (d % m, 0.0)).collect();
        let mut inst = instance(scores.clone(), Some(ids.clone()), &devices);
        let sel = greedy(&inst, &GreedyOptions::default()).unwrap().selection;
        assert_eq!(sel.num_blocks(), n, "K = {k}");
        assert!(
            sel.broadcast.iter().all(|&(i, _)| i == 0),
            "the lowest model index names the block"
        );
        // Power: each block at the weakest device's gain.
        let gains: Vec<f64> = (0..k).map(|d| 1e-3 / (1.0 + d as f64)).collect();
        inst.devices
            .iter_mut()
            .zip(&gains)
            .for_each(|(d, &g)| d.gain = Some(g));
        let weakest = gains.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(sel.block_gains(&gains).iter().all(|&g| g == weakest));
        let system = SystemParams::default();
        let link = Link::from(&system);
        let expect = optimal_power(&link, &GainGroups::from_gains(&vec![weakest; n]));
        let report = solve_with_gains(
            &inst,
            &system,
            select(&inst, PsMethod::Greedy, &SelectOptions::default()).unwrap(),
            gains.clone(),
        );
        let got = report.schemes.mba.latency_s.unwrap();
        assert!((got - expect.latency_s).abs() <= 1e-12 * got);
        // Plain multicast knows no cross-task sharing: every requested task's model goes out
        // in full, at its own devices' weakest gain (devices d and d + m share task d).
        let tasks = k.min(m);
        let weakest: Vec<f64> = (0..tasks)
            .map(|t| {
                (t..k)
                    .step_by(m)
                    .map(|d| gains[d])
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let by_hand = optimal_power(&link, &GainGroups::from_gains_repeated(&weakest, n as u32));
        let multi = report.schemes.multicast.latency_s.unwrap();
        assert!(
            (multi - by_hand.latency_s).abs() <= 1e-12 * multi,
            "K = {k}"
        );
        assert_eq!(
            multi > got,
            tasks > 1,
            "K = {k}: multicast {multi}, mba {got}"
        );
    }
}

#[test]
fn shared_tiny_libraries_exhaustive_is_optimal_and_greedy_never_below() {
    let mut shared_seen = 0;
    for inst in small_instances(300, 16) {
        shared_seen += inst.library.has_shared_blocks() as usize;
        let opt = exhaustive(&inst).unwrap().unwrap();
        for order in [ChainOrder::Paper, ChainOrder::MinLoss] {
            let g = greedy(
                &inst,
                &GreedyOptions {
                    chain_order: order,
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(g.selection.num_blocks() >= opt.num_blocks());
        }
    }
    assert!(
        shared_seen > 30,
        "too few libraries with shared blocks: {shared_seen}"
    );
}

#[test]
fn shared_block_counts_once_and_serves_both_models() {
    // Models 0 and 1 share their position-0 block (id 9): equal scores for every task there.
    let mut scores = scores_3x2();
    for task in scores.iter_mut() {
        task[1][0] = task[0][0];
    }
    let ids = vec![vec![9, 1], vec![9, 2], vec![3, 4]];
    let inst = instance(scores, Some(ids), &[(0, 0.0), (1, 0.0)]);
    let sel = mba::selection::Selection::verified(&inst, vec![vec![0, 0], vec![1, 1]]).unwrap();
    assert_eq!(
        sel.broadcast,
        vec![(0, 0), (0, 1), (1, 1)],
        "(1, 0) is (0, 0)'s copy"
    );
    assert_eq!(
        sel.assignment,
        vec![vec![0, 0], vec![0, 1]],
        "assignments name the lowest copy"
    );
    assert_eq!(sel.requesters(), vec![vec![0, 1], vec![0], vec![1]]);
}

#[test]
fn solution_json_matches_a_hand_computed_shared_block() {
    let dir = scratch("shared-json");
    let path = dir.join("inst.json");
    // Models 0 and 1 share position 0 (id 5). Device 0 (task 0, gain 2e-3) and device 1 (task 1,
    // gain 5e-4) both need their own model; block (0, 0) serves both at the weaker gain 5e-4.
    let text = r#"{
      "library": {"blocks": 2,
        "scores": [[[0.5, 0.5], [0.5, 0.1]], [[0.4, 0.1], [0.4, 0.6]]],
        "block_ids": [[5, 6], [5, 7]]},
      "devices": [{"task": 0, "qos": 1.0, "gain": 2e-3}, {"task": 1, "qos": 1.0, "gain": 5e-4}]
    }"#;
    std::fs::write(&path, text).unwrap();
    let out = mba(&["solve", path.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ps"]["blocks"], 3);
    assert_eq!(
        v["ps"]["broadcast"],
        serde_json::json!([[0, 0], [0, 1], [1, 1]])
    );
    let blocks = v["schemes"]["mba"]["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["requesters"], serde_json::json!([0, 1]));
    assert_eq!(blocks[0]["gain"], 5e-4);
    assert_eq!(blocks[1]["requesters"], serde_json::json!([0]));
    assert_eq!(blocks[1]["gain"], 2e-3);
    assert_eq!(blocks[2]["requesters"], serde_json::json!([1]));
    assert_eq!(blocks[2]["gain"], 5e-4);
    // The shared block and device 1's own block share a gain, hence a power.
    assert_eq!(blocks[0]["power_w"], blocks[2]["power_w"]);
}

#[test]
fn copies_with_different_scores_are_rejected_naming_both() {
    let dir = scratch("shared-bad");
    let path = dir.join("inst.json");
    let text = r#"{"library": {"blocks": 1, "scores": [[[0.5], [0.4]], [[0.3], [0.3]]],
                   "block_ids": [[1], [1]]},
                   "devices": [{"task": 0, "qos": 0.1}]}"#;
    std::fs::write(&path, text).unwrap();
    let out = mba(&["solve", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("block_ids[1][0]") && err.contains("models 0 and 1") && err.contains("task 0"),
        "{err}"
    );
}

#[test]
fn generator_shares_blocks_at_the_requested_level() {
    let p = GeneratorParams {
        models: 20,
        blocks: 24,
        devices: 20,
        clusters: 2,
        sharing: 0.3,
        ..GeneratorParams::default()
    };
    let inst = generate_instance(&p, 3);
    let lib = &inst.library;
    assert!(lib.has_shared_blocks());
    // Non-root models share about 30% of their blocks with their cluster root.
    let shared = (0..20)
        .flat_map(|i| (0..24).map(move |n| (i, n)))
        .filter(|&(i, n)| lib.canonical(i, n) != i)
        .count();
    let frac = shared as f64 / (18.0 * 24.0);
    assert!((0.2..0.4).contains(&frac), "overlap {frac}");
    // Early positions are shared more than deep ones.
    let early = (0..20).filter(|&i| lib.canonical(i, 0) != i).count();
    let deep = (0..20).filter(|&i| lib.canonical(i, 23) != i).count();
    assert!(early > deep);
    // Own block is best at every position.
    for t in 0..20 {
        for n in 0..24 {
            for i in 0..20 {
                assert!(lib.score(t, t, n) >= lib.score(t, i, n));
            }
        }
    }
}
