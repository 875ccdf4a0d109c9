//! Core speed: greedy selection at M = K = 500, N = 24, and optimal power control for the paper's
//! 504 blocks (21 devices x 24 blocks), from per-block gains (grouping included).
//! `cargo bench --bench core`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mba::channel::rayleigh_gains;
use mba::library::generate::{GeneratorParams, generate_instance};
use mba::power::{GainGroups, Link, optimal_power};
use mba::selection::greedy::{GreedyOptions, greedy};

fn bench_greedy(c: &mut Criterion) {
    let p = GeneratorParams { models: 500, blocks: 24, devices: 500, ..GeneratorParams::default() };
    let inst = generate_instance(&p, 1);
    let opts = GreedyOptions::default();
    c.bench_function("greedy M=K=500 N=24", |b| b.iter(|| greedy(black_box(&inst), &opts).unwrap()));
}

fn bench_power(c: &mut Criterion) {
    let link = Link { bandwidth_hz: 100e6, noise_w: 0.5e-9, block_bits: 5e6, energy_j: 250.0 };
    let mut device_gains = vec![0.0; 21];
    rayleigh_gains(1, 0, 0, 0, 1e-3, &mut device_gains);
    // Unicast-like worst case for grouping: 21 distinct gains, 24 blocks each.
    let block_gains: Vec<f64> = device_gains.iter().flat_map(|&g| [g; 24]).collect();
    c.bench_function("optimal PC 504 blocks", |b| {
        b.iter(|| optimal_power(&link, &GainGroups::from_gains(black_box(&block_gains))).latency_s)
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = bench_greedy, bench_power
}
criterion_main!(benches);
