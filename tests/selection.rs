//! Parameter selection (docs/algorithms/): the checker, greedy (Algorithm 1) and exhaustive search.

mod common;

use common::{instance, small_instances};
use mba::library::generate::{GeneratorParams, generate_instance};
use mba::selection::exhaustive::exhaustive;
use mba::selection::greedy::{
    ChainOrder, DeviceOrder, ForeignPool, GreedyOptions, build_chain, greedy,
};
use mba::selection::{CheckError, Selection};

/// The example library of docs/formats.md: two tasks, two blocks.
fn spec_example() -> mba::library::Instance {
    instance(
        vec![
            vec![vec![0.50, 0.40], vec![0.45, 0.10]],
            vec![vec![0.30, 0.05], vec![0.35, 0.60]],
        ],
        None,
        &[(0, 0.85), (1, 0.855)],
    )
}

fn all_options() -> Vec<GreedyOptions> {
    let mut v = Vec::new();
    for chain_order in [ChainOrder::Paper, ChainOrder::MinLoss, ChainOrder::Best] {
        for device_order in [
            DeviceOrder::Index,
            DeviceOrder::Reverse,
            DeviceOrder::QosDescending,
        ] {
            for foreign in [ForeignPool::Requested, ForeignPool::Library] {
                v.push(GreedyOptions {
                    chain_order,
                    device_order,
                    foreign,
                });
            }
        }
    }
    v
}

#[test]
fn checker_rejects_each_violated_constraint() {
    let inst = spec_example();
    let ok = Selection::verified(&inst, vec![vec![0, 0], vec![0, 1]])
        .expect("the documented optimum is valid");
    assert_eq!(ok.broadcast, vec![(0, 0), (0, 1), (1, 1)]);
    assert_eq!(ok.num_blocks(), 3);
    assert!((ok.scores[1] - 0.90).abs() < 1e-12);
    assert_eq!(
        Selection::verified(&inst, vec![vec![0], vec![0, 1]]),
        Err(CheckError::Architecture {
            device: 0,
            got: 1,
            want: 2
        })
    );
    assert!(matches!(
        Selection::verified(&inst, vec![vec![0, 0], vec![0, 0]]),
        Err(CheckError::Qos { device: 1, .. })
    ));
    assert!(matches!(
        Selection::verified(&inst, vec![vec![0, 5], vec![0, 1]]),
        Err(CheckError::UnknownModel { .. })
    ));
    assert!(matches!(
        Selection::verified(&inst, vec![vec![0, 0]]),
        Err(CheckError::DeviceCount { .. })
    ));
}

#[test]
fn greedy_on_the_spec_example_by_hand() {
    let inst = spec_example();
    // Paper order: device 1 can only replace its best position (n = 1) and that misses its QoS,
    // so it keeps its own model: 4 blocks.
    let paper = greedy(&inst, &GreedyOptions::default()).unwrap();
    assert_eq!(paper.selection.num_blocks(), 4);
    assert_eq!(paper.selection.assignment, vec![vec![0, 0], vec![1, 1]]);
    // Min-loss order replaces position 0 first and reuses device 0's block: the optimum, 3.
    let opts = GreedyOptions {
        chain_order: ChainOrder::MinLoss,
        ..Default::default()
    };
    let min_loss = greedy(&inst, &opts).unwrap();
    assert_eq!(min_loss.selection.assignment, vec![vec![0, 0], vec![0, 1]]);
    let best = greedy(
        &inst,
        &GreedyOptions {
            chain_order: ChainOrder::Best,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(best.chain_order, ChainOrder::MinLoss);
    assert_eq!(best.selection.num_blocks(), 3);
}

#[test]
fn chain_replaces_in_paper_order_and_stops_at_first_miss() {
    let inst = spec_example();
    let chain = build_chain(&inst.library, 0, 0.85, &[1], ChainOrder::Paper);
    assert_eq!(
        chain.order,
        vec![0, 1],
        "seed positions by own score, highest first"
    );
    assert_eq!(
        chain.len(),
        2,
        "C1 = own model, C2 = position 0 replaced; C3 misses 0.85"
    );
    assert_eq!(chain.candidate(1), vec![1, 0]);
    assert!((chain.scores[1] - 0.85).abs() < 1e-12);
    // No foreign model: the chain is the seed alone.
    assert_eq!(
        build_chain(&inst.library, 0, 0.0, &[], ChainOrder::Paper).len(),
        1
    );
}

#[test]
fn seed_falls_back_to_best_blocks_when_own_model_misses() {
    // Task 0's own model scores 0.5 but model 1's position-1 block is better for it.
    let inst = instance(
        vec![
            vec![vec![0.3, 0.2], vec![0.1, 0.4]],
            vec![vec![0.1, 0.1], vec![0.5, 0.5]],
        ],
        None,
        &[(0, 0.65)],
    );
    let r = greedy(&inst, &GreedyOptions::default()).unwrap();
    assert_eq!(r.selection.assignment, vec![vec![0, 1]]);
    assert!((r.selection.scores[0] - 0.7).abs() < 1e-12);
}

#[test]
fn greedy_always_passes_the_checker_and_never_beats_exhaustive() {
    let instances = small_instances(300, 12);
    let mut strictly_worse = 0;
    for (idx, inst) in instances.iter().enumerate() {
        let opt = exhaustive(inst)
            .expect("small enough")
            .expect("optimum is valid");
        for opts in all_options() {
            let g = greedy(inst, &opts).unwrap_or_else(|e| panic!("instance {idx}, {opts:?}: {e}"));
            // `greedy` returns only checked selections; check again to be explicit.
            let again = Selection::verified(inst, g.selection.assignment.clone()).unwrap();
            assert_eq!(again, g.selection);
            assert!(
                g.selection.num_blocks() >= opt.num_blocks(),
                "instance {idx}: greedy below the optimum"
            );
            strictly_worse += (g.selection.num_blocks() > opt.num_blocks()) as usize;
        }
    }
    // The ground truth must be able to disagree, or this test proves nothing.
    assert!(
        strictly_worse > 0,
        "greedy matched the optimum everywhere: instances too easy"
    );
}

#[test]
fn exhaustive_matches_a_hand_optimum_and_covers_edge_sizes() {
    let inst = spec_example();
    assert_eq!(exhaustive(&inst).unwrap().unwrap().num_blocks(), 3);
    // K = 1, N = 1: one block.
    let one = instance(vec![vec![vec![1.0]]], None, &[(0, 1.0)]);
    assert_eq!(exhaustive(&one).unwrap().unwrap().num_blocks(), 1);
    assert_eq!(
        greedy(&one, &GreedyOptions::default())
            .unwrap()
            .selection
            .num_blocks(),
        1
    );
}

#[test]
fn greedy_scales_to_many_devices_and_models() {
    let p = GeneratorParams {
        models: 120,
        blocks: 24,
        devices: 120,
        ..GeneratorParams::default()
    };
    let inst = generate_instance(&p, 7);
    let r = greedy(&inst, &GreedyOptions::default()).unwrap();
    assert!(r.selection.num_blocks() <= 120 * 24);
    assert!(r.selection.num_blocks() >= 24);
    // Every device meets its QoS.
    for (s, d) in r.selection.scores.iter().zip(&inst.devices) {
        assert!(*s >= d.qos - 1e-12);
    }
}
