//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use mba::library::generate::{GeneratorParams, Popularity, generate_instance};
use mba::library::{Device, Instance, Library};
use mba::power::Link;

/// Run the built `mba` binary.
pub fn mba(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mba"))
        .args(args)
        .output()
        .expect("mba runs")
}

/// A scratch directory unique to one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mba-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Small random instances covering K = 1, N = 1, M > K, shared tasks and shared blocks.
pub fn small_instances(count: u64, max_physical: usize) -> Vec<Instance> {
    let mut out = Vec::new();
    let mut seed = 0;
    while (out.len() as u64) < count {
        seed += 1;
        let m = 1 + (seed % 4) as usize;
        let n = 1 + (seed / 4 % 4) as usize;
        if m * n > max_physical {
            continue;
        }
        let popularity =
            [Popularity::Distinct, Popularity::Uniform, Popularity::Zipf][(seed % 3) as usize];
        let k = match popularity {
            Popularity::Distinct => 1 + (seed / 16 % m as u64) as usize,
            _ => 1 + (seed / 16 % 5) as usize,
        };
        let p = GeneratorParams {
            models: m,
            blocks: n,
            devices: k,
            clusters: 1 + (seed % 2) as usize,
            intra_similarity: 0.9,
            inter_similarity: 0.6,
            depth_decay: 1.0,
            sharing: [0.0, 0.0, 0.5][(seed % 3) as usize],
            qos_ratio: [0.7, 0.8, 0.9, 0.95, 1.0][(seed % 5) as usize],
            popularity,
            ..GeneratorParams::default()
        };
        out.push(generate_instance(&p, seed));
    }
    out
}

/// An instance from raw scores, block ids and `(task, qos)` devices, bypassing file validation.
pub fn instance(
    scores: Vec<Vec<Vec<f64>>>,
    block_ids: Option<Vec<Vec<i64>>>,
    devices: &[(usize, f64)],
) -> Instance {
    let library = Library::new(None, scores, block_ids).expect("valid library");
    Instance {
        library: Arc::new(library),
        devices: devices
            .iter()
            .map(|&(task, qos)| Device {
                task,
                qos,
                gain: None,
                backup: None,
            })
            .collect(),
    }
}

/// The exact test family: small generated instances over a grid of parameters, at most 20
/// physical blocks each, so exhaustive search proves their optima (320 of them).
pub fn exact_small_instances() -> Vec<(String, Instance)> {
    let mut out = Vec::new();
    let shapes = [
        (2, 2),
        (2, 4),
        (3, 3),
        (3, 5),
        (4, 4),
        (4, 5),
        (5, 4),
        (2, 8),
    ];
    for (s, &(m, n)) in shapes.iter().enumerate() {
        for seed in 0..40u64 {
            let pop =
                [Popularity::Distinct, Popularity::Uniform, Popularity::Zipf][seed as usize % 3];
            let devices = match pop {
                Popularity::Distinct => 1 + seed as usize % m,
                _ => 1 + seed as usize % 6,
            };
            let p = GeneratorParams {
                models: m,
                blocks: n,
                devices,
                clusters: 1 + seed as usize % 2,
                qos_ratio: [0.5, 0.7, 0.8, 0.9, 0.95, 1.0][seed as usize % 6],
                sharing: [0.0, 0.0, 0.5, 0.9][(seed / 3) as usize % 4],
                inter_similarity: [0.5, 0.8][(seed / 2) as usize % 2],
                depth_decay: [3.0, 0.5][(seed / 5) as usize % 2],
                popularity: pop,
                ..Default::default()
            };
            let seed = seed + 1000 * s as u64;
            out.push((format!("{p:?} seed {seed}"), generate_instance(&p, seed)));
        }
    }
    out
}

/// Small libraries with clustered tasks (120 of them, up to 40 physical blocks), where `bnb`'s
/// group stage runs and the HiGHS MIP proves the optima; with `shared`, a third of them have
/// shared physical blocks.
pub fn clustered_instances(shared: bool) -> Vec<(String, Instance)> {
    let mut out = Vec::new();
    for seed in 0..120u64 {
        let p = GeneratorParams {
            models: 6 + seed as usize % 3,
            blocks: 3 + seed as usize % 3,
            devices: 4 + seed as usize % 5,
            clusters: 2 + seed as usize % 2,
            qos_ratio: [0.7, 0.8, 0.9][seed as usize % 3],
            sharing: if shared {
                [0.0, 0.0, 0.3][(seed / 3) as usize % 3]
            } else {
                0.0
            },
            popularity: Popularity::Uniform,
            ..Default::default()
        };
        out.push((format!("{p:?} seed {seed}"), generate_instance(&p, seed)));
    }
    out
}

/// The paper's link: B = 100 MHz, N0 = 0.5 nW, 5 Mbit blocks, E = 250 J.
pub fn paper_link() -> Link {
    Link {
        bandwidth_hz: 100e6,
        noise_w: 0.5e-9,
        block_bits: 5e6,
        energy_j: 250.0,
    }
}
