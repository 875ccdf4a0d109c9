//! Host side of `shaders/power.wgsl`: realizations of many jobs in chunks under the adapter's
//! limits; per chunk one upload, three dispatches in one pass, one readback of 3 f32 per
//! realization. Pipelines are built once; buffers grow on demand and are reused.

use std::sync::Mutex;

use bytemuck::{Pod, Zeroable};

use super::context::{GpuContext, malformed_job, poisoned};
use super::pack::key_words;
use super::twins::power::PowerConsts;
use crate::backend::PowerJob;
use crate::channel::{Purpose, stream_key};
use crate::error::Result;

pub const POWER_WGSL: &str = concat!(
    include_str!("../../shaders/common.wgsl"),
    include_str!("../../shaders/power.wgsl")
);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
struct Params {
    total: u32,
    n_segments: u32,
    kstride: u32,
    fixed_mode: u32,
    c: f32,
    n0: f32,
    energy: f32,
    path_loss: f32,
    fixed_power: f32,
    x_stride: u32,
    budget: f32,
    pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
struct Segment {
    key: [u32; 8],
    stream_lo: u32,
    stream_hi: u32,
    devices: u32,
    block_start: u32,
    n_blocks: u32,
    per_model: u32,
    start: u32,
    count: u32,
}

/// A kernel latency in the f64 convention: `OUTAGE` becomes infinity.
pub fn latency_f64(x: f32) -> f64 {
    if x < 0.0 { f64::INFINITY } else { x as f64 }
}

/// What a power run reads back.
#[derive(Debug, Clone, Default)]
pub struct PowerRun {
    /// `[mba, constant, unicast]` per realization, `OUTAGE` (-1) on outage.
    pub latencies: Vec<[f32; 3]>,
    /// With `debug`: per realization, the `K` gains and the block counts per weakest device.
    pub gains: Vec<Vec<f32>>,
    pub counts: Vec<Vec<u32>>,
    /// Kernel time from timestamp queries, when the adapter has them.
    pub kernel_ns: Option<f64>,
}

struct Buffers {
    uniform: wgpu::Buffer,
    segs: wgpu::Buffer,
    offsets: wgpu::Buffer,
    devices: wgpu::Buffer,
    gains: wgpu::Buffer,
    counts: wgpu::Buffer,
    outs: wgpu::Buffer,
    read: wgpu::Buffer,
    sizes: [u64; 6],
    query: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer)>,
}

/// Which kernels a run dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stages {
    All,
    /// Gains are given: counts and solve only.
    GainsGiven,
    /// Only the raw ChaCha words (a test of the generator).
    Words,
}

pub struct PowerKernels {
    layout: wgpu::BindGroupLayout,
    draw: wgpu::ComputePipeline,
    weakest: wgpu::ComputePipeline,
    solve: wgpu::ComputePipeline,
    words: wgpu::ComputePipeline,
    buffers: Mutex<Option<Buffers>>,
}

impl PowerKernels {
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader("power", POWER_WGSL);
        let layout = ctx.layout(&[true, true, true, false, false, false]);
        PowerKernels {
            draw: ctx.pipeline(&layout, &module, "draw_gains"),
            weakest: ctx.pipeline(&layout, &module, "weakest_counts"),
            solve: ctx.pipeline(&layout, &module, "power_solve"),
            words: ctx.pipeline(&layout, &module, "chacha_words"),
            layout,
            buffers: Mutex::new(None),
        }
    }

    /// Realizations per chunk: buffers under the binding limit, a grid under the dispatch limit.
    fn chunk_size(ctx: &GpuContext, kstride: u64) -> u64 {
        let by_mem = ctx.max_binding() / (4 * kstride.max(3));
        let d = ctx.limits.max_compute_workgroups_per_dimension as u64;
        by_mem.min(64 * d * d).clamp(1, 1 << 22)
    }

    /// Run every realization of `jobs`. `gains_in` replaces the ChaCha draws (one `K`-vector per
    /// realization, in job then realization order); `debug` also reads back gains and counts.
    pub fn run(
        &self,
        ctx: &GpuContext,
        consts: &PowerConsts,
        jobs: &[PowerJob],
        gains_in: Option<&[Vec<f32>]>,
        debug: bool,
    ) -> Result<PowerRun> {
        let stages = if gains_in.is_some() {
            Stages::GainsGiven
        } else {
            Stages::All
        };
        self.run_stages(ctx, consts, jobs, gains_in, debug, stages, None)
    }

    /// The first `words` u32 of every realization's ChaCha8 stream, per realization.
    pub fn chacha_words(
        &self,
        ctx: &GpuContext,
        jobs: &[PowerJob],
        words: u32,
    ) -> Result<Vec<Vec<u32>>> {
        let consts = PowerConsts {
            c: 1.0,
            n0: 1.0,
            energy: 1.0,
            path_loss: 1.0,
            fixed_power: None,
            budget: 1.0,
        };
        let run = self.run_stages(ctx, &consts, jobs, None, true, Stages::Words, Some(words))?;
        Ok(run
            .gains
            .iter()
            .map(|row| row.iter().map(|x| x.to_bits()).collect())
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_stages(
        &self,
        ctx: &GpuContext,
        consts: &PowerConsts,
        jobs: &[PowerJob],
        gains_in: Option<&[Vec<f32>]>,
        debug: bool,
        stages: Stages,
        width: Option<u32>,
    ) -> Result<PowerRun> {
        // All jobs' CSR once, offsets rebased into the concatenated device list.
        let mut offsets: Vec<u32> = Vec::new();
        let mut devices: Vec<u32> = Vec::new();
        let mut block_start = Vec::with_capacity(jobs.len());
        for job in jobs {
            if job.req_offsets.is_empty() || (job.devices == 0 && job.num_blocks() > 0) {
                return Err(malformed_job());
            }
            block_start.push(offsets.len() as u32);
            let base = devices.len() as u32;
            offsets.extend(job.req_offsets.iter().map(|&o| o + base));
            devices.extend(&job.req_devices);
        }
        let kstride = width
            .unwrap_or_else(|| jobs.iter().map(|j| j.devices).max().unwrap_or(1))
            .max(1) as u64;
        let chunk = Self::chunk_size(ctx, kstride);
        // (job, first local realization, count) pieces, cut into chunks.
        let mut chunks: Vec<Vec<(usize, u64, u64)>> = vec![Vec::new()];
        let mut filled = 0u64;
        for (j, job) in jobs.iter().enumerate() {
            let mut r = 0;
            while r < job.realizations {
                if filled == chunk {
                    chunks.push(Vec::new());
                    filled = 0;
                }
                let n = (job.realizations - r).min(chunk - filled);
                chunks.last_mut().expect("non-empty").push((j, r, n));
                filled += n;
                r += n;
            }
        }
        let mut run = PowerRun {
            kernel_ns: ctx.timestamps.then_some(0.0),
            ..Default::default()
        };
        let mut gains_pos = 0usize;
        for pieces in &chunks {
            let total: u64 = pieces.iter().map(|p| p.2).sum();
            if total == 0 {
                continue;
            }
            let mut segs = Vec::with_capacity(pieces.len());
            let mut start = 0u32;
            for &(j, r, n) in pieces {
                let job = &jobs[j];
                let stream = job.first_realization + r;
                segs.push(Segment {
                    key: key_words(&stream_key(
                        job.seed,
                        job.point,
                        job.trial,
                        Purpose::Channel,
                    )),
                    stream_lo: stream as u32,
                    stream_hi: (stream >> 32) as u32,
                    devices: job.devices,
                    block_start: block_start[j],
                    n_blocks: job.num_blocks() as u32,
                    per_model: job.blocks_per_model,
                    start,
                    count: n as u32,
                });
                start += n as u32;
            }
            let input = gains_in.map(|g| {
                let mut flat = vec![0f32; (total * kstride) as usize];
                for (i, row) in g[gains_pos..gains_pos + total as usize].iter().enumerate() {
                    flat[i * kstride as usize..][..row.len()].copy_from_slice(row);
                }
                flat
            });
            gains_pos += total as usize;
            self.chunk(
                ctx, consts, &segs, &offsets, &devices, total, kstride, input, debug, stages,
                &mut run,
            )?;
        }
        Ok(run)
    }

    #[allow(clippy::too_many_arguments)]
    fn chunk(
        &self,
        ctx: &GpuContext,
        consts: &PowerConsts,
        segs: &[Segment],
        offsets: &[u32],
        devices: &[u32],
        total: u64,
        kstride: u64,
        gains_in: Option<Vec<f32>>,
        debug: bool,
        stages: Stages,
        run: &mut PowerRun,
    ) -> Result<()> {
        let (gx, gy, x_stride) = ctx.grid(total as u32);
        let params = Params {
            total: total as u32,
            n_segments: segs.len() as u32,
            kstride: kstride as u32,
            fixed_mode: consts.fixed_power.is_some() as u32,
            c: consts.c,
            n0: consts.n0,
            energy: consts.energy,
            path_loss: consts.path_loss,
            fixed_power: consts.fixed_power.unwrap_or(0.0),
            x_stride,
            budget: consts.budget,
            pad: 0,
        };
        let sizes = [
            std::mem::size_of_val(segs) as u64,
            (offsets.len() * 4) as u64,
            (devices.len() * 4) as u64,
            total * kstride * 4,
            total * kstride * 4,
            total * 12,
        ];
        let mut guard = self.buffers.lock().map_err(|_| poisoned())?;
        if guard
            .as_ref()
            .is_none_or(|b| b.sizes.iter().zip(&sizes).any(|(have, need)| have < need))
        {
            let grow = |i: usize| {
                let old = guard.as_ref().map_or(0, |b| b.sizes[i]);
                sizes[i].max(old).max(16)
            };
            let sz = [grow(0), grow(1), grow(2), grow(3), grow(4), grow(5)];
            let query = ctx.timestamps.then(|| {
                (
                    ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: None,
                        ty: wgpu::QueryType::Timestamp,
                        count: 2,
                    }),
                    ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: None,
                        size: 16,
                        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    }),
                    ctx.readback(16),
                )
            });
            *guard = Some(Buffers {
                uniform: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: std::mem::size_of::<Params>() as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                segs: ctx.storage(sz[0]),
                offsets: ctx.storage(sz[1]),
                devices: ctx.storage(sz[2]),
                gains: ctx.storage(sz[3]),
                counts: ctx.storage(sz[4]),
                outs: ctx.storage(sz[5]),
                read: ctx.readback(sz[3].max(sz[5])),
                sizes: sz,
                query,
            });
        }
        let b = guard.as_ref().expect("just built");
        let q = &ctx.queue;
        q.write_buffer(&b.uniform, 0, bytemuck::bytes_of(&params));
        q.write_buffer(&b.segs, 0, bytemuck::cast_slice(segs));
        if !offsets.is_empty() {
            q.write_buffer(&b.offsets, 0, bytemuck::cast_slice(offsets));
        }
        if !devices.is_empty() {
            q.write_buffer(&b.devices, 0, bytemuck::cast_slice(devices));
        }
        if let Some(g) = &gains_in {
            q.write_buffer(&b.gains, 0, bytemuck::cast_slice(g));
        }
        let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.layout,
            entries: &[
                &b.uniform, &b.segs, &b.offsets, &b.devices, &b.gains, &b.counts, &b.outs,
            ]
            .iter()
            .enumerate()
            .map(|(i, buf)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buf.as_entire_binding(),
            })
            .collect::<Vec<_>>(),
        });
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("power"),
                timestamp_writes: b.query.as_ref().map(|(qs, _, _)| {
                    wgpu::ComputePassTimestampWrites {
                        query_set: qs,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    }
                }),
            });
            pass.set_bind_group(0, &bind, &[]);
            let pipelines = match stages {
                Stages::All => vec![&self.draw, &self.weakest, &self.solve],
                Stages::GainsGiven => vec![&self.weakest, &self.solve],
                Stages::Words => vec![&self.words],
            };
            for p in pipelines {
                pass.set_pipeline(p);
                pass.dispatch_workgroups(gx, gy, 1);
            }
        }
        if let Some((qs, resolve, read)) = &b.query {
            enc.resolve_query_set(qs, 0..2, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
        }
        enc.copy_buffer_to_buffer(&b.outs, 0, &b.read, 0, sizes[5]);
        q.submit([enc.finish()]);
        let outs: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.read(&b.read, sizes[5])?);
        run.latencies
            .extend(outs.chunks_exact(3).map(|c| [c[0], c[1], c[2]]));
        if let Some((_, _, read)) = &b.query {
            let t: Vec<u64> = bytemuck::pod_collect_to_vec(&ctx.read(read, 16)?);
            let ns = t[1].saturating_sub(t[0]) as f64 * q.get_timestamp_period() as f64;
            run.kernel_ns = Some(run.kernel_ns.unwrap_or(0.0) + ns);
        }
        if debug {
            let ks = kstride as usize;
            for (buf, is_gain) in [(&b.gains, true), (&b.counts, false)] {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                enc.copy_buffer_to_buffer(buf, 0, &b.read, 0, sizes[3]);
                q.submit([enc.finish()]);
                let bytes = ctx.read(&b.read, sizes[3])?;
                for s in segs {
                    for i in s.start..s.start + s.count {
                        let width = if stages == Stages::Words {
                            ks
                        } else {
                            s.devices as usize
                        };
                        let row = &bytes[i as usize * ks * 4..][..width * 4];
                        if is_gain {
                            run.gains.push(bytemuck::pod_collect_to_vec(row));
                        } else {
                            run.counts.push(bytemuck::pod_collect_to_vec(row));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
