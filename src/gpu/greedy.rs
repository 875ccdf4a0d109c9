//! Host side of `shaders/greedy.wgsl`: chains for every (trial, device) in one dispatch, then one
//! invocation per trial for the sequential union update; the CPU checks every result with
//! [`Selection::verified`]. Library tables are uploaded once per library and reused.

use std::sync::{Arc, Mutex};

use bytemuck::{Pod, Zeroable};

use super::GpuBackend;
use super::context::{GpuContext, greedy_fallback_failed, poisoned};
use super::pack::score_table;
use super::twins::greedy::ChainF32;
use crate::error::Result;
use crate::library::{Device, Instance, Library};
use crate::selection::Selection;
use crate::selection::greedy::{ChainOrder, ForeignPool, GreedyOptions, device_order, greedy};

pub const GREEDY_WGSL: &str = include_str!("../../shaders/greedy.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
struct GParams {
    models: u32,
    blocks: u32,
    total_devices: u32,
    trials: u32,
    min_loss: u32,
    words: u32,
    x_stride: u32,
    phys_off: u32,
    trial_off: u32,
    allowed_off: u32,
    visit_off: u32,
    rows_stride: u32,
    pad: [u32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
struct Dev {
    task: u32,
    qos: f32,
    trial: u32,
    pad: u32,
}

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
    cand: wgpu::ComputePipeline,
    overlap: wgpu::ComputePipeline,
    /// The score table of the last library, reused across calls; holding the `Arc` keeps the
    /// pointer comparison sound (the address cannot be reused while we hold it).
    table: Mutex<Option<(Arc<Library>, wgpu::Buffer)>>,
}

/// The foreign-model mask of one trial (1 = may lend blocks; the kernel excludes the device's
/// own task), as `foreign_models`.
fn allowed_mask(inst: &Instance, pool: ForeignPool) -> Vec<u32> {
    let mut mask = vec![0u32; inst.library.models()];
    match pool {
        ForeignPool::Library => mask.iter_mut().for_each(|x| *x = 1),
        ForeignPool::Requested => inst.devices.iter().for_each(|d| mask[d.task] = 1),
    }
    mask
}

impl GreedyKernels {
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader("greedy", GREEDY_WGSL);
        let layout = ctx.layout(&[true, true, true, false, false, false, false]);
        GreedyKernels {
            cand: ctx.pipeline(&layout, &module, "candidate_scores"),
            overlap: ctx.pipeline(&layout, &module, "greedy_overlap"),
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
        let (m, nb) = (library.models(), library.blocks());
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
                .extend(self.chunk(ctx, library, &trials[start..end], opts, m, nb)?);
            start = end;
        }
        Ok(run)
    }

    fn chunk(
        &self,
        ctx: &GpuContext,
        library: &Arc<Library>,
        trials: &[Vec<Device>],
        opts: &GreedyOptions,
        m: usize,
        nb: usize,
    ) -> Result<Vec<Vec<DeviceResult>>> {
        let phys: Vec<u32> = (0..m)
            .flat_map(|i| (0..nb).map(move |n| (i, n)))
            .map(|(i, n)| library.physical(i, n) as u32)
            .collect();
        let mut trial_tab = Vec::new();
        let mut allowed = Vec::new();
        let mut visit = Vec::new();
        let mut devs = Vec::new();
        for (tr, devices) in trials.iter().enumerate() {
            let inst = Instance {
                library: library.clone(),
                devices: devices.clone(),
            };
            trial_tab.extend([devs.len() as u32, devices.len() as u32, 0, 0]);
            allowed.extend(allowed_mask(&inst, opts.foreign));
            visit.extend(
                device_order(&inst, opts.device_order)
                    .into_iter()
                    .map(|k| k as u32),
            );
            devs.extend(devices.iter().map(|d| Dev {
                task: d.task as u32,
                qos: d.qos as f32,
                trial: tr as u32,
                pad: 0,
            }));
        }
        let mut tab = phys;
        let trial_off = tab.len() as u32;
        tab.extend(trial_tab);
        let allowed_off = tab.len() as u32;
        tab.extend(allowed);
        let visit_off = tab.len() as u32;
        tab.extend(visit);
        let words = (m * nb).div_ceil(32) as u32;
        let d = devs.len() as u64;
        let t = trials.len() as u64;
        let (dx, dy, dstride) = ctx.grid(d as u32);
        let (tx, ty, tstride) = ctx.grid(t as u32);
        let mut params = GParams {
            models: m as u32,
            blocks: nb as u32,
            total_devices: d as u32,
            trials: t as u32,
            min_loss: (opts.chain_order == ChainOrder::MinLoss) as u32,
            words,
            x_stride: dstride,
            phys_off: 0,
            trial_off,
            allowed_off,
            visit_off,
            rows_stride: 4 * nb as u32,
            pad: [0; 4],
        };
        let mut table = self.table.lock().map_err(|_| poisoned())?;
        if table.as_ref().is_none_or(|(l, _)| !Arc::ptr_eq(l, library)) {
            *table = Some((
                library.clone(),
                ctx.storage_init(bytemuck::cast_slice(&score_table(library))),
            ));
        }
        let scores = &table.as_ref().expect("just set").1;
        let uniform = |p: &GParams| {
            let b = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: std::mem::size_of::<GParams>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            ctx.queue.write_buffer(&b, 0, bytemuck::bytes_of(p));
            b
        };
        let u1 = uniform(&params);
        params.x_stride = tstride;
        let u2 = uniform(&params);
        let tab_b = ctx.storage_init(bytemuck::cast_slice(&tab));
        let devs_b = ctx.storage_init(bytemuck::cast_slice(&devs));
        let rows_b = ctx.storage(d * 4 * nb as u64 * 4);
        let chain_b = ctx.storage(d * (nb as u64 + 1) * 4);
        let info_b = ctx.storage(d * 16);
        let sent_b = ctx.storage(t * words as u64 * 4);
        let bind = |u: &wgpu::Buffer| {
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &self.layout,
                entries: &[
                    u, scores, &tab_b, &devs_b, &rows_b, &chain_b, &info_b, &sent_b,
                ]
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect::<Vec<_>>(),
            })
        };
        let (g1, g2) = (bind(&u1), bind(&u2));
        let sizes = [d * 4 * nb as u64 * 4, d * (nb as u64 + 1) * 4, d * 16];
        let read = ctx.readback(sizes.iter().sum());
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.cand);
            pass.set_bind_group(0, &g1, &[]);
            pass.dispatch_workgroups(dx, dy, 1);
            pass.set_pipeline(&self.overlap);
            pass.set_bind_group(0, &g2, &[]);
            pass.dispatch_workgroups(tx, ty, 1);
        }
        enc.copy_buffer_to_buffer(&rows_b, 0, &read, 0, sizes[0]);
        enc.copy_buffer_to_buffer(&chain_b, 0, &read, sizes[0], sizes[1]);
        enc.copy_buffer_to_buffer(&info_b, 0, &read, sizes[0] + sizes[1], sizes[2]);
        ctx.queue.submit([enc.finish()]);
        let bytes = ctx.read(&read, sizes.iter().sum())?;
        let rows: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[..sizes[0] as usize]);
        let chain: Vec<f32> =
            bytemuck::pod_collect_to_vec(&bytes[sizes[0] as usize..(sizes[0] + sizes[1]) as usize]);
        let info: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[(sizes[0] + sizes[1]) as usize..]);
        let mut out = Vec::with_capacity(trials.len());
        let mut g = 0usize;
        for devices in trials {
            let mut res = Vec::with_capacity(devices.len());
            for _ in devices {
                let r = &rows[g * 4 * nb..(g + 1) * 4 * nb];
                let len = info[4 * g] as usize;
                res.push(DeviceResult {
                    chain: ChainF32 {
                        seed: r[..nb].to_vec(),
                        foreign: r[nb..2 * nb].to_vec(),
                        order: r[2 * nb..3 * nb].to_vec(),
                        scores: chain[g * (nb + 1)..][..len.min(nb + 1)].to_vec(),
                    },
                    assign: r[3 * nb..].to_vec(),
                    pick: info[4 * g + 1],
                    new_blocks: info[4 * g + 2],
                });
                g += 1;
            }
            out.push(res);
        }
        Ok(out)
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
