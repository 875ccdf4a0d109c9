//! `mba bench`: realizations per second of the power-control pipeline (gains, per-block gains,
//! optimal PC, constant power, unicast, and the latency statistics a study keeps) on the CPU and
//! GPU backends side by side, at the paper's scale (K = 21, N = 24, M = 21) and at K = M = 200,
//! on the greedy selection of a generated instance; on the GPU also the kernel-only rate and the
//! per-realization readback path; plus greedy-selection trials per second over random task
//! draws.

use std::time::Instant;

use serde::Serialize;

use mba::backend::{Acc, Backend, CpuBackend, PowerJob, PowerSettings};
use mba::channel::{Purpose, stream_rng};
use mba::error::{MbaError, Result};
use mba::gpu::GpuBackend;
use mba::library::generate::{GeneratorParams, draw_tasks, generate_instance};
use mba::library::{Device, Library};
use mba::power::{Link, SystemParams};
use mba::selection::greedy::{GreedyOptions, greedy};

use crate::peer::{Peer, PeerReport, PeerScale, check_python, peer_scale, run_peer};

/// Which backends `mba bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BenchBackend {
    /// The GPU when a hardware adapter exists, else the CPU.
    #[default]
    Auto,
    Cpu,
    Gpu,
    /// CPU and GPU (any adapter, software included) in one run.
    Both,
}

/// One measured configuration.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub scale: String,
    pub models: usize,
    pub blocks_per_model: usize,
    pub devices: usize,
    /// Sent blocks of the greedy selection.
    pub sent_blocks: usize,
    pub backend: String,
    pub realizations: u64,
    pub repeats: u32,
    pub seconds: f64,
    /// End to end through `Backend::power_stats`, what a study calls (on the GPU: the device
    /// reduction, a few numbers read back per call).
    pub realizations_per_s: f64,
    /// Kernel time per repeat from timestamp queries (power kernels and reduction), when the
    /// adapter supports them.
    pub kernel_ms: Option<f64>,
    pub kernel_realizations_per_s: Option<f64>,
    /// `realizations_per_s / kernel_realizations_per_s`: how much of the kernels' rate the
    /// host keeps.
    pub end_to_end_over_kernel: Option<f64>,
    /// GPU: the per-realization readback path (12 bytes per realization, as `power_batch`
    /// reads them).
    pub readback_realizations_per_s: Option<f64>,
    /// Outages among the measured realizations (MBA), a sanity check that work was done.
    pub mba_outages: u64,
    pub mean_mba_latency_s: f64,
    /// Greedy selection (`Backend::greedy_batch`, checked results) over random task draws.
    pub greedy_trials: usize,
    pub greedy_trials_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub cpu_threads: usize,
    pub gpu_adapter: Option<String>,
    pub rows: Vec<BenchRow>,
    /// The Python peer's rows, with `--compare`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerReport>,
}

/// The two benchmark scales.
pub fn scales() -> Vec<(&'static str, GeneratorParams)> {
    vec![
        (
            "paper (K=21, N=24, M=21)",
            GeneratorParams {
                models: 21,
                blocks: 24,
                devices: 21,
                ..Default::default()
            },
        ),
        (
            "large (K=200, N=24, M=200)",
            GeneratorParams {
                models: 200,
                blocks: 24,
                devices: 200,
                ..Default::default()
            },
        ),
    ]
}

/// Calls of `f` until 0.5 s have passed (at least one): `(calls, seconds)`.
fn repeat(mut f: impl FnMut() -> Result<()>) -> Result<(u32, f64)> {
    let mut reps = 0u32;
    let start = Instant::now();
    while reps == 0 || start.elapsed().as_secs_f64() < 0.5 {
        f()?;
        reps += 1;
    }
    Ok((reps, start.elapsed().as_secs_f64()))
}

/// One backend's measurement of one job.
struct Measured {
    reps: u32,
    secs: f64,
    /// Mean kernel time per call (GPU, timestamp queries).
    kernel_ns: Option<f64>,
    /// The per-realization readback path (GPU): calls and seconds.
    readback: Option<(u32, f64)>,
    mba: Acc,
}

/// Time `power_stats` on `job` (what a study calls: on the GPU reduced on the device), and on
/// the GPU also the per-realization readback of `power_batch`.
fn measure(
    backend: &dyn Backend,
    gpu: Option<&GpuBackend>,
    s: &PowerSettings,
    job: &PowerJob,
) -> Result<Measured> {
    let jobs = std::slice::from_ref(job);
    // Warm-up: pipelines, both GPU buffer sets at full size, rayon threads.
    let warm = PowerJob {
        realizations: match gpu {
            Some(_) => job.realizations,
            None => job.realizations.min(1024),
        },
        ..job.clone()
    };
    backend.power_stats(s, std::slice::from_ref(&warm))?;
    let (mut kernel_ns, mut mba) = (None::<f64>, Acc::default());
    let (reps, secs) = repeat(|| {
        let stats = match gpu {
            Some(g) => {
                let run = g.power_stats_run(s, jobs, None)?;
                if let Some(ns) = run.kernel_ns {
                    kernel_ns = Some(kernel_ns.unwrap_or(0.0) + ns);
                }
                mba::gpu::reduce::job_stats(jobs, &run.stats)?
            }
            None => backend.power_stats(s, jobs)?,
        };
        if let Some(job) = stats.first() {
            mba = job.mba.latency_s;
        }
        Ok(())
    })?;
    let readback = match gpu {
        Some(g) => Some(repeat(|| g.power_run(s, jobs, None, false).map(|_| ()))?),
        None => None,
    };
    Ok(Measured {
        reps,
        secs,
        kernel_ns: kernel_ns.map(|ns| ns / reps as f64),
        readback,
        mba,
    })
}

/// Greedy trials over one library: task draws of trial `t` from stream `(0, 0, t, Tasks)`.
fn greedy_trials(params: &GeneratorParams, lib: &Library, trials: usize) -> Vec<Vec<Device>> {
    (0..trials as u64)
        .map(|t| {
            let mut rng = stream_rng(0, 0, t, Purpose::Tasks, 0);
            draw_tasks(params, &mut rng)
                .into_iter()
                .map(|task| Device {
                    task,
                    qos: params.qos_ratio * lib.own_score(task),
                    gain: None,
                    backup: None,
                })
                .collect()
        })
        .collect()
}

/// Greedy trials per second of one backend (one warm-up call, then one timed call).
fn measure_greedy(
    backend: &dyn Backend,
    lib: &std::sync::Arc<Library>,
    trials: &[Vec<Device>],
) -> Result<f64> {
    let opts = GreedyOptions::default();
    backend.greedy_batch(lib, &trials[..trials.len().min(8)], &opts)?;
    let start = Instant::now();
    backend.greedy_batch(lib, trials, &opts)?;
    Ok(trials.len() as f64 / start.elapsed().as_secs_f64())
}

/// Realizations of mba's gains and latencies the peer re-solves, per scale.
const PEER_CHECK: [u64; 2] = [2000, 200];

/// Run the benchmark. `realizations`: per measurement (defaults: 50 000 on the CPU; 2^22 on a
/// hardware GPU, 20 000 on a software adapter); the K = 200 scale uses a tenth. `compare`: also
/// run that peer on the CPU's jobs, after mba's measurements.
pub fn run_bench(
    choice: BenchBackend,
    realizations: Option<u64>,
    compare: Option<Peer>,
) -> Result<BenchReport> {
    if realizations == Some(0) {
        return Err(MbaError::flag("--realizations", "must be at least 1"));
    }
    if let Some(p) = compare {
        check_python(p)?;
    }
    let want_cpu = matches!(choice, BenchBackend::Cpu | BenchBackend::Both)
        || (choice == BenchBackend::Auto && mba::gpu::hardware_adapter().is_none());
    let gpu = match choice {
        BenchBackend::Gpu | BenchBackend::Both => Some(GpuBackend::new(true)?),
        BenchBackend::Auto if !want_cpu => Some(GpuBackend::new(false)?),
        _ => None,
    };
    let sys = SystemParams::default();
    let settings = PowerSettings {
        link: Link::from(&sys),
        path_loss: sys.path_loss,
        constant_power_w: sys.constant_power_w,
    };
    let mut rows = Vec::new();
    let mut peer_scales: Vec<PeerScale> = Vec::new();
    for (si, (name, params)) in scales().into_iter().enumerate() {
        let inst = generate_instance(&params, 0);
        let sel = greedy(&inst, &GreedyOptions::default())
            .map_err(|source| MbaError::Check {
                method: "greedy",
                source,
            })?
            .selection;
        let mut backends: Vec<(&dyn Backend, Option<&GpuBackend>, u64)> = Vec::new();
        if want_cpu {
            backends.push((&CpuBackend, None, realizations.unwrap_or(50_000)));
        }
        if let Some(g) = &gpu {
            let default = if mba::gpu::is_software(&g.ctx.info) {
                20_000
            } else {
                1 << 22
            };
            backends.push((g, Some(g), realizations.unwrap_or(default)));
        }
        if compare.is_some() {
            let r = realizations.unwrap_or(50_000);
            let job = PowerJob {
                realizations: if si == 0 { r } else { (r / 10).max(1) },
                seed: 1,
                ..PowerJob::from_selection(&sel, params.blocks)
            };
            peer_scales.push(peer_scale(name, &settings, &job, PEER_CHECK[si])?);
        }
        for (backend, g, r) in backends {
            let r = if si == 0 { r } else { (r / 10).max(1) };
            let job = PowerJob {
                realizations: r,
                seed: 1,
                ..PowerJob::from_selection(&sel, params.blocks)
            };
            let m = measure(backend, g, &settings, &job)?;
            let kernel_ms = m.kernel_ns.map(|ns| ns * 1e-6);
            let rate = r as f64 * m.reps as f64 / m.secs;
            let kernel_rate = kernel_ms.map(|ms| r as f64 / (ms * 1e-3));
            let n_trials = if si == 0 { 2048 } else { 128 };
            let trials = greedy_trials(&params, &inst.library, n_trials);
            let greedy_rate = measure_greedy(backend, &inst.library, &trials)?;
            rows.push(BenchRow {
                scale: name.to_string(),
                models: params.models,
                blocks_per_model: params.blocks,
                devices: params.devices,
                sent_blocks: sel.num_blocks(),
                backend: backend.name(),
                realizations: r,
                repeats: m.reps,
                seconds: m.secs,
                realizations_per_s: rate,
                kernel_ms,
                kernel_realizations_per_s: kernel_rate,
                end_to_end_over_kernel: kernel_rate.map(|k| rate / k),
                readback_realizations_per_s: m.readback.map(|(n, t)| r as f64 * n as f64 / t),
                mba_outages: m.mba.outages,
                mean_mba_latency_s: m.mba.summary().mean.unwrap_or(0.0),
                greedy_trials: n_trials,
                greedy_trials_per_s: greedy_rate,
            });
        }
    }
    let peer = match compare {
        Some(p) => Some(run_peer(p, &peer_scales, rayon::current_num_threads())?),
        None => None,
    };
    Ok(BenchReport {
        cpu_threads: rayon::current_num_threads(),
        gpu_adapter: gpu.as_ref().map(|g| g.adapter_name()),
        rows,
        peer,
    })
}
