//! GPU kernels against their f32 CPU twins and the f64 reference (`docs/performance.md`), on
//! whatever adapter wgpu finds (lavapipe in CI). No adapter is a failure unless `MBA_SKIP_GPU=1`
//! is set.

use std::sync::OnceLock;

use mba::backend::{Backend, CpuBackend, PowerJob, PowerSettings};
use mba::channel::{Purpose, stream_key, stream_rng};
use mba::gpu::GpuBackend;
use mba::gpu::pack::{key_words, score_table};
use mba::gpu::power::latency_f64;
use mba::gpu::twins;
use mba::gpu::twins::power::PowerConsts;
use mba::library::generate::{GeneratorParams, Popularity, generate_instance};
use mba::library::{Device, Instance};
use mba::power::Link;
use mba::power::SystemParams;
use mba::selection::greedy::{
    ChainOrder, DeviceOrder, ForeignPool, GreedyOptions, build_chain, device_order, foreign_models,
};
use rand::{Rng, RngExt};

fn gpu() -> Option<&'static GpuBackend> {
    static GPU: OnceLock<Option<GpuBackend>> = OnceLock::new();
    if std::env::var("MBA_SKIP_GPU").as_deref() == Ok("1") {
        eprintln!("MBA_SKIP_GPU=1: skipping this GPU test");
        return None;
    }
    GPU.get_or_init(|| match GpuBackend::new(true) {
        Ok(b) => {
            eprintln!("GPU tests on {}", b.adapter_name());
            Some(b)
        }
        Err(e) => panic!(
            "no usable wgpu adapter ({e}); install a Vulkan driver (mesa-vulkan-drivers \
                 gives lavapipe) or set MBA_SKIP_GPU=1 to skip the GPU tests explicitly"
        ),
    })
    .as_ref()
}

#[test]
fn chacha_words_match_rand_chacha() {
    for (seed, point, trial, stream) in [
        (0u64, 0u64, 0u64, 0u64),
        (7, 3, 11, 5),
        (u64::MAX, 1, 2, 1 << 40),
    ] {
        let mut rng = stream_rng(seed, point, trial, Purpose::Channel, stream);
        let key = key_words(&stream_key(seed, point, trial, Purpose::Channel));
        for b in 0..3u32 {
            let w = twins::common::chacha8_block(&key, b, stream as u32, (stream >> 32) as u32);
            for j in 0..8 {
                let want = rng.next_u64();
                assert_eq!(
                    w[2 * j] as u64 | (w[2 * j + 1] as u64) << 32,
                    want,
                    "block {b} word {j}"
                );
            }
        }
    }
}

/// The WGSL ChaCha8 produces rand_chacha's stream word for word (several keys and streams,
/// including a stream number whose low word wraps within a batch).
#[test]
fn gpu_chacha_words_match_rand_chacha() {
    let Some(gpu) = gpu() else { return };
    let mut jobs = Vec::new();
    for (seed, point, trial, first) in [
        (0u64, 0u64, 0u64, 0u64),
        (7, 3, 11, 5),
        (u64::MAX, 1, 2, (1 << 32) - 2),
    ] {
        jobs.push(PowerJob {
            req_offsets: vec![0],
            req_devices: vec![],
            devices: 1,
            blocks_per_model: 1,
            seed,
            point,
            trial,
            first_realization: first,
            realizations: 4,
        });
    }
    let words = gpu.chacha_words(&jobs, 48).unwrap();
    let mut i = 0;
    for job in &jobs {
        for r in 0..job.realizations {
            let mut rng = stream_rng(
                job.seed,
                job.point,
                job.trial,
                Purpose::Channel,
                job.first_realization + r,
            );
            for j in 0..24 {
                let want = rng.next_u64();
                let got = words[i][2 * j] as u64 | (words[i][2 * j + 1] as u64) << 32;
                assert_eq!(
                    got,
                    want,
                    "job seed {}, stream {}, u64 {j}",
                    job.seed,
                    job.first_realization + r
                );
            }
            i += 1;
        }
    }
}

/// The f64 reference of one realization from given gains: weakest-requester counts, then the
/// CPU's optimal PC, constant power and unicast.
fn reference(s: &PowerSettings, job: &PowerJob, gains: &[f64]) -> (Vec<u32>, [f64; 3]) {
    use mba::power::{GainGroups, constant_power, optimal_power};
    let mut counts = vec![0u32; gains.len()];
    for b in 0..job.num_blocks() {
        let req = &job.req_devices[job.req_offsets[b] as usize..job.req_offsets[b + 1] as usize];
        let w = req
            .iter()
            .copied()
            .min_by(|&a, &c| gains[a as usize].total_cmp(&gains[c as usize]))
            .unwrap();
        counts[w as usize] += 1;
    }
    let groups = GainGroups::from_counts(gains, &counts);
    let uni = GainGroups::from_gains_repeated(gains, job.blocks_per_model);
    let out = [
        optimal_power(&s.link, &groups).latency_s,
        constant_power(&s.link, &groups, s.constant_power_w).latency_s,
        optimal_power(&s.link, &uni).latency_s,
    ];
    (counts, out)
}

/// `E/E_min - 1` of each scheme (mba, constant, unicast); `-1` when a gain is zero.
fn budget_excess(s: &PowerSettings, job: &PowerJob, gains: &[f64], counts: &[u32]) -> [f64; 3] {
    use mba::power::GainGroups;
    let t = |g: &GainGroups| {
        if g.gain.iter().any(|&x| x <= 0.0) {
            return -1.0;
        }
        if g.gain.is_empty() {
            return f64::INFINITY;
        }
        s.link.energy_j / g.min_energy(&s.link) - 1.0
    };
    let groups = GainGroups::from_counts(gains, counts);
    let uni = GainGroups::from_gains_repeated(gains, job.blocks_per_model);
    [t(&groups), t(&groups), t(&uni)]
}

/// Relative error of an f32 latency (OUTAGE = -1) against the f64 one; outage flags must agree.
fn check_latency(got: f32, want: f64, tol: f64, what: &str) -> f64 {
    let got = latency_f64(got);
    assert_eq!(
        got.is_infinite(),
        want.is_infinite(),
        "{what}: outage flag: got {got}, want {want}"
    );
    if want.is_infinite() || want == 0.0 {
        assert_eq!(got, want, "{what}");
        return 0.0;
    }
    let rel = (got - want).abs() / want;
    assert!(rel <= tol, "{what}: got {got}, want {want}, rel {rel:e}");
    rel
}

/// A random job: K devices, N blocks per model, `blocks` sent blocks with 1..=K requesters.
fn random_job(rng: &mut impl Rng, k: u32, n: u32, blocks: u32, trial: u64, reals: u64) -> PowerJob {
    let mut req_offsets = vec![0u32];
    let mut req_devices = Vec::new();
    for _ in 0..blocks {
        let m = rng.random_range(1..=k);
        let mut devs: Vec<u32> = (0..k).collect();
        for i in 0..m as usize {
            let j = rng.random_range(i..k as usize);
            devs.swap(i, j);
        }
        req_devices.extend(&devs[..m as usize]);
        req_offsets.push(req_devices.len() as u32);
    }
    PowerJob {
        req_offsets,
        req_devices,
        devices: k,
        blocks_per_model: n,
        seed: 42,
        point: 1,
        trial,
        first_realization: 1000 * trial,
        realizations: reals,
    }
}

fn settings(energy_j: f64, constant_power_w: Option<f64>) -> PowerSettings {
    let sys = SystemParams::default();
    PowerSettings {
        link: Link {
            energy_j,
            ..Link::from(&sys)
        },
        path_loss: sys.path_loss,
        constant_power_w,
    }
}

#[test]
fn gpu_gains_counts_and_latencies_match_twin_and_reference() {
    let Some(gpu) = gpu() else { return };
    let mut rng = stream_rng(5, 0, 0, Purpose::Tasks, 9);
    let mut jobs = vec![random_job(&mut rng, 21, 24, 60, 0, 300)];
    jobs.push(random_job(&mut rng, 1, 1, 1, 1, 50));
    jobs.push(random_job(&mut rng, 3, 2, 5, 2, 50));
    jobs.push(random_job(&mut rng, 40, 8, 100, 3, 100));
    // Small budgets put some realizations near or below E_min; 250 J is the paper's.
    for energy in [250.0, 1e-3, 3e-5] {
        let s = settings(energy, None);
        let run = gpu.power_run(&s, &jobs, None, true).unwrap();
        let consts = PowerConsts::new(&s.link, s.path_loss, None);
        let (mut i, mut worst, mut outages, mut boundary, mut conditioned) = (0, 0f64, 0, 0, 0);
        for job in &jobs {
            let key = key_words(&stream_key(
                job.seed,
                job.point,
                job.trial,
                Purpose::Channel,
            ));
            for r in 0..job.realizations {
                let stream = job.first_realization + r;
                let mut g64 = vec![0.0; job.devices as usize];
                mba::channel::rayleigh_gains(
                    job.seed,
                    job.point,
                    job.trial,
                    stream,
                    s.path_loss,
                    &mut g64,
                );
                let twin_g =
                    twins::power::draw_gains(&key, stream, job.devices as usize, consts.path_loss);
                for k in 0..g64.len() {
                    let (gg, tg) = (run.gains[i][k] as f64, twin_g[k] as f64);
                    assert!(
                        (gg - g64[k]).abs() <= 2e-6 * g64[k],
                        "gain {k}: gpu {gg} cpu {}",
                        g64[k]
                    );
                    assert!((gg - tg).abs() <= 2e-6 * tg, "gain {k}: gpu {gg} twin {tg}");
                }
                let (counts, want) = reference(&s, job, &g64);
                assert_eq!(run.counts[i], counts, "block counts, realization {i}");
                assert_eq!(
                    twins::power::weakest_counts(&run.gains[i], &job.req_offsets, &job.req_devices),
                    counts
                );
                let twin = twins::power::power_solve(
                    &consts,
                    &run.gains[i],
                    &run.counts[i],
                    job.blocks_per_model,
                );
                let excess = budget_excess(&s, job, &g64, &counts);
                for m in 0..3 {
                    outages += want[m].is_infinite() as usize;
                    // f32 gains carry ~1e-7 relative error, which E - E_min amplifies by
                    // (1 + t)/t, t = E/E_min - 1: the tolerance is 1e-4 or that condition term if larger.
                    let t = excess[m];
                    if t.abs() < 1e-5 {
                        boundary += 1;
                        continue;
                    }
                    let tol = f64::max(1e-4, 4e-6 * (1.0 + t) / t.abs());
                    let err = check_latency(run.latencies[i][m], want[m], tol, "gpu vs f64");
                    if tol > 1e-4 {
                        conditioned += 1;
                    } else {
                        worst = worst.max(err);
                    }
                    check_latency(twin[m], want[m], tol, "twin vs f64");
                    let tw = latency_f64(twin[m]);
                    // Kernel and twin share the f32 algorithm but not the device's exp/log rounding,
                    // which the same condition term amplifies.
                    check_latency(run.latencies[i][m], tw, f64::max(2e-5, tol), "gpu vs twin");
                }
                i += 1;
            }
        }
        eprintln!(
            "E = {energy} J: {i} realizations, worst rel err {worst:.2e} (well-conditioned), \
             {outages} outages, {conditioned} ill-conditioned (E/E_min - 1 < 0.04, wider tol), \
             {boundary} at the outage boundary"
        );
        assert!(
            boundary <= i / 50,
            "too many boundary cases: the test lost its power"
        );
    }
}

/// Run given gains (one vector per realization) through the GPU kernels and compare counts and
/// latencies with the twin and the f64 reference of the same (f32-exact) gains.
fn edge_case(name: &str, job: &PowerJob, gains: &[Vec<f32>], s: &PowerSettings, tol: f64) -> f64 {
    let gpu = gpu().expect("checked by the caller");
    let job = PowerJob {
        realizations: gains.len() as u64,
        ..job.clone()
    };
    let run = gpu
        .power_run(s, std::slice::from_ref(&job), Some(gains), true)
        .unwrap();
    let consts = PowerConsts::new(&s.link, s.path_loss, s.constant_power_w);
    let mut worst = 0f64;
    for (i, g) in gains.iter().enumerate() {
        let g64: Vec<f64> = g.iter().map(|&x| x as f64).collect();
        let (counts, want) = reference(s, &job, &g64);
        assert_eq!(run.counts[i], counts, "{name}: block counts");
        let twin = twins::power::power_solve(&consts, g, &counts, job.blocks_per_model);
        for m in 0..3 {
            let what = format!("{name}, realization {i}, scheme {m}");
            worst = worst.max(check_latency(run.latencies[i][m], want[m], tol, &what));
            check_latency(twin[m], want[m], tol, &format!("{what} (twin)"));
        }
    }
    eprintln!("{name}: worst rel err {worst:.2e}");
    worst
}

fn single_block_job(k: u32, requesters: &[u32]) -> PowerJob {
    PowerJob {
        req_offsets: vec![0, requesters.len() as u32],
        req_devices: requesters.to_vec(),
        devices: k,
        blocks_per_model: 1,
        seed: 0,
        point: 0,
        trial: 0,
        first_realization: 0,
        realizations: 1,
    }
}

/// E_min of a set of (gain, blocks) groups under `s`.
fn e_min(s: &PowerSettings, gains: &[f32], counts: &[u32]) -> f64 {
    let g64: Vec<f64> = gains.iter().map(|&x| x as f64).collect();
    mba::power::GainGroups::from_counts(&g64, counts).min_energy(&s.link)
}

#[test]
fn gpu_power_edge_cases() {
    if gpu().is_none() {
        return;
    }
    let mut rng = stream_rng(9, 0, 0, Purpose::Tasks, 1);
    // Gains from 1e-9 to 1e3 in one realization, and shuffled over realizations.
    let wide: Vec<f32> = (0..13).map(|e| 10f32.powi(e - 9)).collect();
    let job = random_job(&mut rng, 13, 4, 30, 0, 1);
    let mut sets = vec![wide.clone()];
    for _ in 0..20 {
        sets.push(
            (0..13)
                .map(|_| 10f32.powf(rng.random_range(-9.0..3.0)))
                .collect(),
        );
    }
    edge_case("gains 1e-9..1e3", &job, &sets, &settings(250.0, None), 1e-4);
    edge_case(
        "gains 1e-9..1e3, E = 1e-9 J",
        &job,
        &sets,
        &settings(1e-9, None),
        1e-4,
    );

    // K = 1, N = 1 and ties (equal gains: the first requester is the weakest, as min_by).
    let one = single_block_job(1, &[0]);
    edge_case(
        "K=1, N=1",
        &one,
        &[vec![1e-3], vec![2.5e-7]],
        &settings(250.0, None),
        1e-4,
    );
    let tie = random_job(&mut rng, 5, 3, 12, 0, 1);
    let ties = vec![vec![1e-3f32; 5], vec![1e-3, 2e-3, 1e-3, 2e-3, 1e-3]];
    edge_case(
        "ties (equal gains)",
        &tie,
        &ties,
        &settings(250.0, None),
        1e-4,
    );

    // Just above E_min (near the Lambert-W branch point) and at/below it (outage).
    let g: Vec<f32> = vec![3e-4, 1e-3, 2e-2, 7e-5];
    let job = random_job(&mut rng, 4, 2, 9, 0, 1);
    let counts = twins::power::weakest_counts(&g, &job.req_offsets, &job.req_devices);
    let em = e_min(&settings(1.0, None), &g, &counts);
    for (excess, tol) in [(1e-1, 1e-4), (1e-2, 1e-4), (1e-3, 1e-4), (1e-4, 1e-3)] {
        let s = settings(em * (1.0 + excess), None);
        edge_case(
            &format!("E = E_min (1 + {excess:e})"),
            &job,
            std::slice::from_ref(&g),
            &s,
            tol,
        );
    }
    edge_case(
        "E = 0.99 E_min (MBA outage)",
        &job,
        std::slice::from_ref(&g),
        &settings(0.99 * em, None),
        1e-4,
    );
    // A zero gain: unicast is an outage; MBA too only if that device is some block's weakest.
    let mut z = g.clone();
    z[1] = 0.0;
    edge_case(
        "zero gain",
        &job,
        &[z.clone(), g.clone()],
        &settings(250.0, None),
        1e-4,
    );
    let no_blocks = PowerJob {
        req_offsets: vec![0],
        req_devices: vec![],
        ..single_block_job(2, &[])
    };
    edge_case(
        "no sent blocks",
        &no_blocks,
        &[vec![1e-3, 0.0]],
        &settings(250.0, None),
        1e-4,
    );
    // A fixed constant power within and over the budget.
    edge_case(
        "fixed P = 1 W",
        &job,
        std::slice::from_ref(&g),
        &settings(250.0, Some(1.0)),
        1e-4,
    );
    edge_case(
        "fixed P = 1e6 W",
        &job,
        std::slice::from_ref(&g),
        &settings(250.0, Some(1e6)),
        1e-4,
    );
}

fn instance(p: &GeneratorParams, seed: u64) -> Instance {
    generate_instance(p, seed)
}

/// Greedy kernels: chains equal to the twin's (integers exactly, scores to f32 rounding), picks
/// and union sizes equal, and the checked selections' block counts equal to the f64 CPU greedy.
#[test]
fn gpu_greedy_matches_twin_and_cpu() {
    let Some(gpu) = gpu() else { return };
    let base = GeneratorParams::default();
    let cases = [
        ("paper scale", base, GreedyOptions::default()),
        (
            "min-loss, reverse, library pool",
            base,
            GreedyOptions {
                chain_order: ChainOrder::MinLoss,
                device_order: DeviceOrder::Reverse,
                foreign: ForeignPool::Library,
            },
        ),
        (
            "best, qos-descending, zipf",
            GeneratorParams {
                popularity: Popularity::Zipf,
                models: 12,
                devices: 30,
                ..base
            },
            GreedyOptions {
                chain_order: ChainOrder::Best,
                device_order: DeviceOrder::QosDescending,
                foreign: ForeignPool::Requested,
            },
        ),
        (
            "shared blocks",
            GeneratorParams {
                sharing: 0.3,
                ..base
            },
            GreedyOptions::default(),
        ),
        (
            "K=1",
            GeneratorParams { devices: 1, ..base },
            GreedyOptions::default(),
        ),
        (
            "N=1",
            GeneratorParams { blocks: 1, ..base },
            GreedyOptions::default(),
        ),
    ];
    for (name, params, opts) in cases {
        let insts: Vec<Instance> = (0..12).map(|s| instance(&params, s)).collect();
        // One library per batch: trials share the first instance's library.
        let lib = insts[0].library.clone();
        let trials: Vec<Vec<Device>> = insts.iter().map(|i| i.devices.clone()).collect();
        let orders = match opts.chain_order {
            ChainOrder::Best => vec![ChainOrder::Paper, ChainOrder::MinLoss],
            o => vec![o],
        };
        let table = score_table(&lib);
        let (m, nb) = (lib.models(), lib.blocks());
        let phys: Vec<u32> = (0..m)
            .flat_map(|i| (0..nb).map(move |n| (i, n)))
            .map(|(i, n)| lib.physical(i, n) as u32)
            .collect();
        for order in orders {
            let o = GreedyOptions {
                chain_order: order,
                ..opts
            };
            let run = gpu.greedy_run(&lib, &trials, &o).unwrap();
            for (t, devices) in trials.iter().enumerate() {
                let inst = Instance {
                    library: lib.clone(),
                    devices: devices.clone(),
                };
                let mut mask = vec![0u32; m];
                match o.foreign {
                    ForeignPool::Library => mask.iter_mut().for_each(|x| *x = 1),
                    ForeignPool::Requested => devices.iter().for_each(|d| mask[d.task] = 1),
                }
                let chains: Vec<twins::greedy::ChainF32> = devices
                    .iter()
                    .map(|d| {
                        let min_loss = order == ChainOrder::MinLoss;
                        twins::greedy::candidate_scores(
                            &table,
                            m,
                            nb,
                            d.task,
                            d.qos as f32,
                            &mask,
                            min_loss,
                        )
                    })
                    .collect();
                for (k, (g, c)) in run.trials[t].iter().zip(&chains).enumerate() {
                    let what = format!("{name}, trial {t}, device {k}");
                    assert_eq!(
                        (&g.chain.seed, &g.chain.foreign),
                        (&c.seed, &c.foreign),
                        "{what}"
                    );
                    assert_eq!(g.chain.order, c.order, "{what}: order");
                    assert_eq!(g.chain.scores.len(), c.scores.len(), "{what}: chain length");
                    for (a, b) in g.chain.scores.iter().zip(&c.scores) {
                        assert!(
                            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                            "{what}: {a} vs {b}"
                        );
                    }
                    // The f64 chain: same length and order (no near-ties in these libraries).
                    let pool = foreign_models(&inst, devices[k].task, o.foreign);
                    let c64 = build_chain(&lib, devices[k].task, devices[k].qos, &pool, order);
                    assert_eq!(c64.len(), c.scores.len(), "{what}: f64 chain length");
                    let ord: Vec<u32> = c64.order.iter().map(|&n| n as u32).collect();
                    assert_eq!(ord, c.order, "{what}: f64 order");
                }
                let visit: Vec<u32> = device_order(&inst, o.device_order)
                    .into_iter()
                    .map(|k| k as u32)
                    .collect();
                let twin = twins::greedy::greedy_overlap(&phys, nb, &chains, &visit);
                for (g, (assign, pick, new)) in run.trials[t].iter().zip(&twin) {
                    assert_eq!(
                        (&g.assign, g.pick, g.new_blocks),
                        (assign, *pick, *new),
                        "{name}"
                    );
                }
            }
        }
        // Through the backend: checked selections with the CPU's block counts.
        let got = gpu.greedy_batch(&lib, &trials, &opts).unwrap();
        let want = CpuBackend.greedy_batch(&lib, &trials, &opts).unwrap();
        for (t, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.num_blocks(),
                w.num_blocks(),
                "{name}, trial {t}: block count"
            );
            assert_eq!(g.assignment, w.assignment, "{name}, trial {t}: assignment");
        }
        assert_eq!(
            gpu.fallbacks(),
            0,
            "{name}: a GPU result failed the checker"
        );
        eprintln!("{name}: {} trials agree", trials.len());
    }
}

/// Accuracy of the f32 Lambert W (`w = W0((q-1)/e) + 1`) over the `q = a/beta` that arise
/// (1e-12 near the branch point to 1e16), against the `lambert_w` crate in f64 and the project's
/// f64 `w_of_q`; the reference is taken at the f32-rounded `ln q` so only W's error is measured.
#[test]
fn lambert_w_f32_accuracy_table() {
    let mut worst_all = 0f64;
    eprintln!("| q range | max rel err vs lambert_w (f64) | max rel err vs w_of_q (f64) |");
    eprintln!("|---|---|---|");
    for d in -12..16 {
        let (mut e_crate, mut e_ref) = (0f64, 0f64);
        for s in 0..400 {
            let ln_q = ((d as f64 + s as f64 / 400.0) * std::f64::consts::LN_10) as f32;
            let q = (ln_q as f64).exp();
            let w = twins::common::w_of_lnq(ln_q) as f64;
            let crate_w = lambert_w::lambert_w0((q - 1.0) / std::f64::consts::E) + 1.0;
            let ref_w = mba::power::lambert::w_of_q(q, ln_q as f64);
            e_crate = e_crate.max((w - crate_w).abs() / crate_w);
            e_ref = e_ref.max((w - ref_w).abs() / ref_w);
        }
        eprintln!("| 1e{d} .. 1e{} | {e_crate:.2e} | {e_ref:.2e} |", d + 1);
        worst_all = worst_all.max(e_ref);
    }
    assert!(
        worst_all < 1e-6,
        "f32 Lambert W: worst rel err {worst_all:e}"
    );
}

/// The CPU speed-ups (warm-started Lambert W, shared exponentials, Newton on ln energy) keep f64
/// precision: the optimal and energy-matched constant-power plans spend exactly E; the optimal and matches a slow bisection on `ln beta` with cold-start W.
#[test]
fn cpu_optimal_power_keeps_f64_precision() {
    use mba::power::lambert::w_of_q;
    use mba::power::{GainGroups, optimal_power};
    let mut rng = stream_rng(3, 0, 0, Purpose::Tasks, 4);
    let sys = SystemParams::default();
    let mut worst = [0f64; 3];
    for case in 0..300 {
        let k = rng.random_range(1..30);
        let gain: Vec<f64> = (0..k)
            .map(|_| 10f64.powf(rng.random_range(-9.0..3.0)))
            .collect();
        let count: Vec<u32> = (0..k).map(|_| rng.random_range(1..30)).collect();
        let g = GainGroups { gain, count };
        let em = g.min_energy(&Link::from(&sys));
        let energy = em * (1.0 + 10f64.powf(rng.random_range(-4.0..8.0)));
        let link = Link {
            energy_j: energy,
            ..Link::from(&sys)
        };
        let plan = optimal_power(&link, &g);
        assert!(
            (plan.energy_j - energy).abs() <= 1e-12 * energy,
            "case {case}: energy"
        );
        let cp = mba::power::constant_power(&link, &g, None);
        let rel = (cp.energy_j - energy).abs() / energy;
        assert!(
            rel <= 1e-12,
            "case {case}: constant-power energy rel err {rel:e}"
        );
        worst[0] = worst[0].max((plan.energy_j - energy).abs() / energy);
        worst[1] = worst[1].max(rel);
        // Bisection on L = ln beta: energy(L) is decreasing.
        let c = link.time_unit();
        let eval = |l: f64| -> (f64, f64) {
            let (mut e, mut t) = (0.0, 0.0);
            for (&h, &n) in g.gain.iter().zip(&g.count) {
                let ln_q = (h / link.noise_w).ln() - l;
                let w = w_of_q(ln_q.exp(), ln_q);
                e += n as f64 * c * link.noise_w / h * w.exp_m1() / w;
                t += n as f64 * c / w;
            }
            (e, t)
        };
        let (mut lo, mut hi) = (-200.0, 200.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if eval(mid).0 > energy {
                lo = mid
            } else {
                hi = mid
            }
        }
        let want = eval(0.5 * (lo + hi)).1;
        let rel = (plan.latency_s - want).abs() / want;
        assert!(
            rel <= 1e-11,
            "case {case}: latency {} vs {want}, rel {rel:e}",
            plan.latency_s
        );
        worst[2] = worst[2].max(rel);
    }
    eprintln!(
        "f64 power: worst rel err energy {:.1e}, constant-power energy {:.1e}, latency vs \
         bisection {:.1e}",
        worst[0], worst[1], worst[2]
    );
}

// ---- The device reduction (`shaders/reduce.wgsl`, `Backend::power_stats`).

/// The reduction's jobs: one realization, a tile and a tile plus one (TILE = 256), several
/// tiles, a job without sent blocks, and many small jobs (many spans per chunk).
fn stats_jobs() -> Vec<PowerJob> {
    let mut rng = stream_rng(21, 0, 0, Purpose::Tasks, 3);
    let mut jobs = vec![
        random_job(&mut rng, 21, 24, 60, 0, 1),
        random_job(&mut rng, 5, 4, 8, 1, 256),
        random_job(&mut rng, 5, 4, 8, 2, 257),
        random_job(&mut rng, 21, 24, 60, 3, 2000),
        random_job(&mut rng, 40, 8, 100, 4, 700),
        PowerJob {
            req_offsets: vec![0],
            req_devices: vec![],
            ..random_job(&mut rng, 3, 2, 0, 5, 40)
        },
    ];
    jobs.extend((0..150).map(|t| random_job(&mut rng, 3, 2, 4, 6 + t, 1 + t % 3)));
    jobs
}

/// The statistics of one job, scheme by scheme and metric by metric, with names.
fn cells(s: &mba::backend::JobStats) -> [(&'static str, mba::backend::Acc); 6] {
    [
        ("mba latency", s.mba.latency_s),
        ("mba per device", s.mba.latency_per_device_s),
        ("constant latency", s.constant.latency_s),
        ("constant per device", s.constant.latency_per_device_s),
        ("unicast latency", s.unicast.latency_s),
        ("unicast per device", s.unicast.latency_per_device_s),
    ]
}

/// Counts and outages equal, means to `mean_tol` and standard deviations to `std_tol` relative
/// (or 1e-5 of the mean, for a spread too small to resolve in f32); returns the worst mean and
/// std errors.
fn compare_stats(
    got: &[mba::backend::JobStats],
    want: &[mba::backend::JobStats],
    mean_tol: f64,
    std_tol: f64,
    what: &str,
) -> (f64, f64) {
    assert_eq!(got.len(), want.len(), "{what}: jobs");
    let rel = |a: Option<f64>, b: Option<f64>, name: &str| match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => (a - b).abs() / b.abs(),
        (a, b) => {
            assert_eq!(a, b, "{name}");
            0.0
        }
    };
    let (mut mean_err, mut std_err) = (0f64, 0f64);
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        for ((name, g), (_, w)) in cells(g).into_iter().zip(cells(w)) {
            let name = format!("{what}, job {j}, {name}");
            assert_eq!((g.count, g.outages), (w.count, w.outages), "{name}");
            let (gs, ws) = (g.summary(), w.summary());
            let m = rel(gs.mean, ws.mean, &name);
            assert!(m <= mean_tol, "{name}: mean {:?} vs {:?}", gs.mean, ws.mean);
            // Per-sample f32 errors (~1e-6 of the mean) bound how close a small spread can be.
            let floor = 1e-5 * ws.mean.unwrap_or(0.0) / ws.std.unwrap_or(1.0).max(1e-300);
            let s = rel(gs.std, ws.std, &name);
            assert!(
                s <= std_tol.max(floor),
                "{name}: std {:?} vs {:?}, mean {:?}",
                gs.std,
                ws.std,
                ws.mean
            );
            let s = s.min(std_tol);
            (mean_err, std_err) = (mean_err.max(m), std_err.max(s));
        }
    }
    (mean_err, std_err)
}

/// `Backend::power_stats` on the GPU against the CPU's fold of f64 outcomes: counts and outages
/// exactly, means to 1e-4 and standard deviations to 1e-3 relative (the f32 latencies' own
/// error over a small spread), at the paper's budget and with a fixed constant power that some
/// realizations cannot afford (outages of that scheme).
#[test]
fn gpu_stats_match_the_cpu_reduction() {
    let Some(gpu) = gpu() else { return };
    let jobs = stats_jobs();
    for (name, s) in [
        ("E = 250 J", settings(250.0, None)),
        ("E = 1 J, fixed P = 3 W", settings(1.0, Some(3.0))),
    ] {
        let want = CpuBackend.power_stats(&s, &jobs).unwrap();
        let got = gpu.power_stats(&s, &jobs).unwrap();
        let (m, sd) = compare_stats(&got, &want, 1e-4, 1e-3, name);
        let outages: u64 = want.iter().map(|j| j.constant.latency_s.outages).sum();
        let total: u64 = jobs.iter().map(|j| j.realizations).sum();
        eprintln!(
            "{name}: {} jobs, {total} realizations, {outages} constant-power outages, worst rel \
             mean {m:.1e}, std {sd:.1e}",
            jobs.len()
        );
        if s.constant_power_w.is_some() {
            assert!(outages > 0 && outages < total, "{outages} of {total}");
        }
    }
}

/// Outages from the gains themselves (a zero gain: unicast always, MBA when that device is some
/// block's weakest), a job whose every realization is an outage, and one with no sent blocks:
/// given gains through the kernels and the reduction, against the f64 reference folded in order.
#[test]
fn gpu_stats_count_outages_exactly() {
    let Some(gpu) = gpu() else { return };
    let s = settings(250.0, None);
    let mut rng = stream_rng(4, 0, 0, Purpose::Tasks, 8);
    let base = random_job(&mut rng, 4, 3, 9, 0, 0);
    let none = PowerJob {
        req_offsets: vec![0],
        req_devices: vec![],
        ..base.clone()
    };
    let mut jobs = Vec::new();
    let mut gains: Vec<Vec<f32>> = Vec::new();
    for (job, reals, zero_every) in [(&base, 600u64, 7u64), (&base, 300, 1), (&none, 50, 5)] {
        jobs.push(PowerJob {
            realizations: reals,
            ..job.clone()
        });
        for r in 0..reals {
            let mut g: Vec<f32> = (0..4)
                .map(|_| 10f32.powf(rng.random_range(-4.0..-2.0)))
                .collect();
            if r % zero_every == 0 {
                g[(r % 4) as usize] = 0.0;
            }
            gains.push(g);
        }
    }
    let mut want = vec![mba::backend::JobStats::default(); jobs.len()];
    let mut rows = gains.iter();
    for (job, w) in jobs.iter().zip(&mut want) {
        for g in rows.by_ref().take(job.realizations as usize) {
            let g64: Vec<f64> = g.iter().map(|&x| x as f64).collect();
            w.push(
                &mba::backend::cpu::reference_outcome(&s, job, &g64),
                job.devices,
            );
        }
    }
    let run = gpu.power_stats_run(&s, &jobs, Some(&gains)).unwrap();
    let got = mba::gpu::reduce::job_stats(&jobs, &run.stats).unwrap();
    compare_stats(&got, &want, 1e-4, 1e-3, "given gains");
    let (mba0, uni0) = (want[0].mba.latency_s, want[0].unicast.latency_s);
    assert_eq!(uni0.outages, 600 / 7 + 1);
    assert!(mba0.outages > 0 && mba0.outages <= uni0.outages, "{mba0:?}");
    assert_eq!(want[1].unicast.latency_s.outages, 300);
    assert_eq!(got[1].unicast.latency_s.summary().mean, None);
    assert_eq!(
        want[2].mba.latency_s.outages, 0,
        "no blocks: latency 0, served"
    );
}

/// The kernels reduce as their twins do: the twins' tiles, pairing and order applied to the
/// GPU's own latencies give the GPU's statistics (served exactly, mean and m2 to f32 rounding).
#[test]
fn gpu_reduction_matches_its_twin() {
    use twins::reduce::{reduce_spans, reduce_tiles};
    let Some(gpu) = gpu() else { return };
    let s = settings(1.0, Some(3.0));
    let jobs = stats_jobs();
    let lat = gpu.power_run(&s, &jobs, None, false).unwrap().latencies;
    let run = gpu.power_stats_run(&s, &jobs, None).unwrap();
    assert_eq!(run.stats.len(), jobs.len(), "one chunk: one piece per job");
    let mut at = 0;
    for (j, (job, piece)) in jobs.iter().zip(&run.stats).enumerate() {
        let mine = &lat[at..at + job.realizations as usize];
        at += mine.len();
        let twin = reduce_spans(&reduce_tiles(mine));
        for (m, (g, t)) in piece.stats.iter().zip(&twin).enumerate() {
            let what = format!("job {j}, scheme {m}: gpu {g:?}, twin {t:?}");
            assert_eq!(g.served, t.served, "{what}");
            assert!((g.mean - t.mean).abs() <= 1e-6 * t.mean.abs(), "{what}");
            assert!((g.m2 - t.m2).abs() <= 1e-5 * t.m2.abs() + 1e-30, "{what}");
        }
    }
}

/// Chunks of 1000 realizations (jobs and tiles cut at chunk boundaries, both buffer sets in
/// turn) and of 1 realization: the same counts, means to 1e-4 of the CPU, and within f32
/// rounding of the one-chunk run.
#[test]
fn gpu_stats_across_chunk_boundaries() {
    if gpu().is_none() {
        return;
    }
    let s = settings(1.0, Some(3.0));
    let jobs = stats_jobs();
    let want = CpuBackend.power_stats(&s, &jobs).unwrap();
    let whole = gpu().unwrap().power_stats(&s, &jobs).unwrap();
    let chunked = GpuBackend::new(true).unwrap().with_max_chunk(1000);
    let run = chunked.power_stats_run(&s, &jobs, None).unwrap();
    assert!(run.stats.len() > jobs.len(), "jobs cut by chunks");
    let got = mba::gpu::reduce::job_stats(&jobs, &run.stats).unwrap();
    compare_stats(&got, &want, 1e-4, 1e-3, "chunks of 1000");
    compare_stats(&got, &whole, 2e-6, 1e-4, "chunks of 1000 vs one chunk");
    let small = &jobs[..3];
    let single = GpuBackend::new(true).unwrap().with_max_chunk(1);
    let got = single.power_stats(&s, small).unwrap();
    compare_stats(&got, &want[..3], 1e-4, 1e-3, "chunks of 1");
}

/// The same inputs give the same bits: twice on one backend, and on a fresh one, chunked or not.
#[test]
fn gpu_stats_are_deterministic() {
    let Some(gpu) = gpu() else { return };
    let s = settings(1.0, Some(3.0));
    let jobs = stats_jobs();
    let bits = |stats: &[mba::backend::JobStats]| -> Vec<[u64; 4]> {
        stats
            .iter()
            .flat_map(cells)
            .map(|(_, a)| [a.count, a.outages, a.sum.to_bits(), a.sumsq.to_bits()])
            .collect()
    };
    let first = bits(&gpu.power_stats(&s, &jobs).unwrap());
    assert_eq!(first, bits(&gpu.power_stats(&s, &jobs).unwrap()));
    let fresh = GpuBackend::new(true).unwrap();
    assert_eq!(first, bits(&fresh.power_stats(&s, &jobs).unwrap()));
    let chunked = GpuBackend::new(true).unwrap().with_max_chunk(333);
    let once = bits(&chunked.power_stats(&s, &jobs).unwrap());
    assert_eq!(once, bits(&chunked.power_stats(&s, &jobs).unwrap()));
}

/// The twins' reduction against f64 moments of the same samples (outages skipped): the tree
/// and Chan's update keep the mean and the variance to f32 precision, with no cancellation
/// even when the spread is small next to the mean.
#[test]
fn reduce_twins_keep_mean_and_variance() {
    use twins::reduce::{reduce_spans, reduce_tiles};
    let mut rng = stream_rng(3, 0, 0, Purpose::Tasks, 0);
    for (n, spread) in [
        (1usize, 1.0f32),
        (255, 0.5),
        (257, 1e-3),
        (70_000, 1e-3),
        (3000, 2.0),
    ] {
        let samples: Vec<[f32; 3]> = (0..n)
            .map(|i| {
                let x = 1.0 + spread * rng.random_range(-1.0f32..1.0);
                [x, if i % 5 == 0 { -1.0 } else { 10.0 * x }, f32::NAN]
            })
            .collect();
        let got = reduce_spans(&reduce_tiles(&samples));
        for m in 0..2 {
            let xs: Vec<f64> = samples
                .iter()
                .map(|s| s[m] as f64)
                .filter(|&x| x >= 0.0)
                .collect();
            assert_eq!(got[m].served as usize, xs.len(), "n {n}, scheme {m}");
            if xs.is_empty() {
                continue;
            }
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let m2: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
            assert!(
                ((got[m].mean as f64) - mean).abs() <= 1e-6 * mean,
                "n {n}: {got:?}"
            );
            assert!(
                ((got[m].m2 as f64) - m2).abs() <= 1e-4 * m2 + 1e-30,
                "n {n}: {got:?}, m2 {m2}"
            );
        }
        assert_eq!(got[2].served, 0, "NaN is an outage");
    }
}
