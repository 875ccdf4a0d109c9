//! Host side of `shaders/greedy.wgsl`: chains for every (trial, device) in one dispatch, then one
//! invocation per trial for the sequential union update; the CPU checks every result with
//! [`Selection::verified`]. The score table is uploaded once per library and reused.

use std::sync::{Arc, Mutex};

use bytemuck::{Pod, Zeroable};

use super::GpuBackend;
use super::context::{GpuContext, greedy_fallback_failed, poisoned};
use super::layout::binding_set;
use super::pack::{GreedyTables, score_table};
use super::twins::greedy::ChainF32;
use crate::error::Result;
use crate::library::{Device, Instance, Library};
use crate::selection::Selection;
use crate::selection::greedy::{ChainOrder, GreedyOptions, greedy};

pub const GREEDY_WGSL: &str = include_str!("../../shaders/greedy.wgsl");

/// `GreedyParams` of `shaders/greedy.wgsl`, the uniform of both greedy kernels.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct GreedyParams {
    pub models: u32,
    pub blocks: u32,
    pub total_devices: u32,
    pub trials: u32,
    pub min_loss: u32,
    pub words: u32,
    pub x_stride: u32,
    pub phys_off: u32,
    pub trial_off: u32,
    pub allowed_off: u32,
    pub visit_off: u32,
    pub rows_stride: u32,
}

binding_set! {
    /// Group 0 of `shaders/greedy.wgsl`.
    #[derive(Clone, Copy)]
    pub(crate) struct GreedyBindings<T>, table GREEDY_BINDINGS {
        0 => params: Uniform,
        1 => scores_tin: Read,
        2 => tab: Read,
        3 => devs: Read,
        4 => rows: ReadWrite,
        5 => chain: ReadWrite,
        6 => info: ReadWrite,
        7 => sent: ReadWrite,
    }
}

/// The `@compute` functions of `shaders/greedy.wgsl`.
pub(crate) const GREEDY_ENTRY_POINTS: [&str; 2] = ["candidate_scores", "greedy_overlap"];

/// One device's kernel output.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceResult {
    pub chain: ChainF32,
    pub assign: Vec<u32>,
    pub pick: u32,
    pub new_blocks: u32,
}

/// Per trial, per device (index order) results of one chain order.
#[derive(Debug, Clone, Default)]
pub struct GreedyRun {
    pub trials: Vec<Vec<DeviceResult>>,
}

pub struct GreedyKernels {
    layout: wgpu::BindGroupLayout,
    candidate_scores: wgpu::ComputePipeline,
    greedy_overlap: wgpu::ComputePipeline,
    /// The score table of the last library, reused across calls; holding the `Arc` keeps the
    /// pointer comparison sound (the address cannot be reused while we hold it).
    table: Mutex<Option<(Arc<Library>, wgpu::Buffer)>>,
}

impl GreedyKernels {
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader("greedy", GREEDY_WGSL);
        let layout = ctx.layout(GREEDY_BINDINGS);
        let [candidate_scores, greedy_overlap] =
            GREEDY_ENTRY_POINTS.map(|entry| ctx.pipeline(&layout, &module, entry));
        GreedyKernels {
            candidate_scores,
            greedy_overlap,
            layout,
            table: Mutex::new(None),
        }
    }

    /// Run one chain order (`Paper` or `MinLoss`) for every trial.
    pub fn run(
        &self,
        ctx: &GpuContext,
        library: &Arc<Library>,
        trials: &[Vec<Device>],
        opts: &GreedyOptions,
    ) -> Result<GreedyRun> {
        let nb = library.blocks();
        // Bytes per device over rows, chain and info: the chunks stay under the binding limit.
        let per_dev = (4 * nb + nb + 1 + 4) as u64 * 4;
        let max_devs = (ctx.max_binding() / per_dev).clamp(1, 1 << 20) as usize;
        let mut run = GreedyRun::default();
        let mut start = 0;
        while start < trials.len() {
            let mut end = start;
            let mut devs = 0;
            while end < trials.len() && (end == start || devs + trials[end].len() <= max_devs) {
                devs += trials[end].len();
                end += 1;
            }
            run.trials
                .extend(self.chunk(ctx, library, &trials[start..end], opts)?);
            start = end;
        }
        Ok(run)
    }

    /// The score table of `library` on the device, uploaded when the library changes.
    fn scores(&self, ctx: &GpuContext, library: &Arc<Library>) -> Result<wgpu::Buffer> {
        let mut table = self.table.lock().map_err(|_| poisoned())?;
        if table.as_ref().is_none_or(|(l, _)| !Arc::ptr_eq(l, library)) {
            let buf = ctx.storage_init(bytemuck::cast_slice(&score_table(library)));
            *table = Some((library.clone(), buf));
        }
        Ok(table.as_ref().expect("just set").1.clone())
    }

    /// Both kernels on one chunk of trials: `candidate_scores` over the devices, then
    /// `greedy_overlap` over the trials, each with its own `x_stride`.
    fn chunk(
        &self,
        ctx: &GpuContext,
        library: &Arc<Library>,
        trials: &[Vec<Device>],
        opts: &GreedyOptions,
    ) -> Result<Vec<Vec<DeviceResult>>> {
        let tables = GreedyTables::new(library, trials, opts);
        let (d, t) = (tables.devs.len() as u32, trials.len() as u32);
        let (dx, dy, d_stride) = ctx.grid(d);
        let (tx, ty, t_stride) = ctx.grid(t);
        let params = params(library, &tables, t, opts.chain_order, d_stride);
        let per_device_params = uniform(ctx, &params);
        let per_trial_params = uniform(
            ctx,
            &GreedyParams {
                x_stride: t_stride,
                ..params
            },
        );
        let scores = self.scores(ctx, library)?;
        let out = Outputs::of(d as u64, library.blocks() as u64);
        let buffers = GreedyBindings {
            params: &per_device_params,
            scores_tin: &scores,
            tab: &ctx.storage_init(bytemuck::cast_slice(&tables.tab)),
            devs: &ctx.storage_init(bytemuck::cast_slice(&tables.devs)),
            rows: &ctx.storage(out.rows),
            chain: &ctx.storage(out.chain),
            info: &ctx.storage(out.info),
            sent: &ctx.storage(t as u64 * params.words as u64 * 4),
        };
        let per_trial = GreedyBindings {
            params: &per_trial_params,
            ..buffers
        };
        let per_device = ctx.bind_group(&self.layout, buffers.iter());
        let per_trial = ctx.bind_group(&self.layout, per_trial.iter());
        let staging = ctx.readback(out.total());
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.candidate_scores);
            pass.set_bind_group(0, &per_device, &[]);
            pass.dispatch_workgroups(dx, dy, 1);
            pass.set_pipeline(&self.greedy_overlap);
            pass.set_bind_group(0, &per_trial, &[]);
            pass.dispatch_workgroups(tx, ty, 1);
        }
        enc.copy_buffer_to_buffer(buffers.rows, 0, &staging, 0, out.rows);
        enc.copy_buffer_to_buffer(buffers.chain, 0, &staging, out.rows, out.chain);
        enc.copy_buffer_to_buffer(buffers.info, 0, &staging, out.rows + out.chain, out.info);
        let submitted = ctx.queue.submit([enc.finish()]);
        let bytes = ctx.read(&staging, out.total(), &submitted)?;
        Ok(out.unpack(&bytes, trials, library.blocks()))
    }
}

fn params(
    library: &Library,
    tables: &GreedyTables,
    trials: u32,
    order: ChainOrder,
    x_stride: u32,
) -> GreedyParams {
    let (m, nb) = (library.models(), library.blocks());
    GreedyParams {
        models: m as u32,
        blocks: nb as u32,
        total_devices: tables.devs.len() as u32,
        trials,
        min_loss: (order == ChainOrder::MinLoss) as u32,
        // u32 words of one trial's bitset of sent physical blocks.
        words: (m * nb).div_ceil(32) as u32,
        x_stride,
        phys_off: 0,
        trial_off: tables.trial_off,
        allowed_off: tables.allowed_off,
        visit_off: tables.visit_off,
        rows_stride: 4 * nb as u32,
    }
}

fn uniform(ctx: &GpuContext, params: &GreedyParams) -> wgpu::Buffer {
    let b = ctx.uniform(std::mem::size_of::<GreedyParams>() as u64);
    ctx.queue.write_buffer(&b, 0, bytemuck::bytes_of(params));
    b
}

/// Byte sizes of the outputs, copied one after another into one staging buffer.
struct Outputs {
    /// Per device `[seed | foreign | order | assign]`, `N` u32 each.
    rows: u64,
    /// Per device the `N + 1` chain scores.
    chain: u64,
    /// Per device `(chain length, pick, new blocks, -)`.
    info: u64,
}

impl Outputs {
    fn of(devices: u64, nb: u64) -> Self {
        Outputs {
            rows: devices * 4 * nb * 4,
            chain: devices * (nb + 1) * 4,
            info: devices * 16,
        }
    }

    fn total(&self) -> u64 {
        self.rows + self.chain + self.info
    }

    /// The staging bytes as results per trial, per device.
    fn unpack(&self, bytes: &[u8], trials: &[Vec<Device>], nb: usize) -> Vec<Vec<DeviceResult>> {
        let (r, c) = (self.rows as usize, self.chain as usize);
        let rows: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[..r]);
        let chain: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes[r..r + c]);
        let info: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[r + c..]);
        let mut out = Vec::with_capacity(trials.len());
        let mut g = 0usize;
        for devices in trials {
            let mut res = Vec::with_capacity(devices.len());
            for _ in devices {
                let row = &rows[g * 4 * nb..(g + 1) * 4 * nb];
                let len = info[4 * g] as usize;
                res.push(DeviceResult {
                    chain: ChainF32 {
                        seed: row[..nb].to_vec(),
                        foreign: row[nb..2 * nb].to_vec(),
                        order: row[2 * nb..3 * nb].to_vec(),
                        scores: chain[g * (nb + 1)..][..len.min(nb + 1)].to_vec(),
                    },
                    assign: row[3 * nb..].to_vec(),
                    pick: info[4 * g + 1],
                    new_blocks: info[4 * g + 2],
                });
                g += 1;
            }
            out.push(res);
        }
        out
    }
}

/// Checked selections of one chain order; a trial whose f32 result fails the checker (a QoS at
/// the f32 rounding edge) is redone by the f64 CPU greedy.
fn selections(
    backend: &GpuBackend,
    library: &Arc<Library>,
    trials: &[Vec<Device>],
    opts: &GreedyOptions,
) -> Result<Vec<Selection>> {
    let run = backend.greedy_run(library, trials, opts)?;
    run.trials
        .iter()
        .zip(trials)
        .map(|(res, devices)| {
            let inst = Instance {
                library: library.clone(),
                devices: devices.clone(),
            };
            let assignment = res
                .iter()
                .map(|r| r.assign.iter().map(|&i| i as usize).collect())
                .collect();
            Selection::verified(&inst, assignment).or_else(|_| {
                backend.note_fallback();
                greedy(&inst, opts)
                    .map(|r| r.selection)
                    .map_err(greedy_fallback_failed)
            })
        })
        .collect()
}

/// `Backend::greedy_batch` on the GPU; `Best` runs both orders and keeps the smaller broadcast.
pub fn greedy_batch(
    backend: &GpuBackend,
    library: &Arc<Library>,
    trials: &[Vec<Device>],
    opts: &GreedyOptions,
) -> Result<Vec<Selection>> {
    if opts.chain_order != ChainOrder::Best {
        return selections(backend, library, trials, opts);
    }
    let with = |o| GreedyOptions {
        chain_order: o,
        ..*opts
    };
    let paper = selections(backend, library, trials, &with(ChainOrder::Paper))?;
    let min_loss = selections(backend, library, trials, &with(ChainOrder::MinLoss))?;
    Ok(paper
        .into_iter()
        .zip(min_loss)
        .map(|(p, q)| {
            if q.num_blocks() < p.num_blocks() {
                q
            } else {
                p
            }
        })
        .collect())
}
