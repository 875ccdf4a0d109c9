//! Host side of `shaders/power.wgsl`: the realizations of many jobs in chunks under the adapter's
//! limits; per chunk one upload, up to three dispatches (and with [`Readback::Stats`] the two of
//! `shaders/reduce.wgsl`) in one pass and one readback: 3 f32 per realization, or 3 `Stat` per
//! job. Two sets of buffers alternate, so chunk `i + 1` is queued before chunk `i` is read and
//! the device never waits on the host between chunks. Pipelines are built once; buffers grow
//! on demand and are reused.

use std::sync::Mutex;

use bytemuck::{Pod, Zeroable};

use super::context::{GpuContext, poisoned};
use super::layout::{Access, binding_set};
use super::pack::{Piece, PowerCsr, Segment, chunk_pieces, gain_rows, segments};
use super::reduce::{
    PieceStats, ReduceBindings, ReduceKernels, ReduceParams, reduce_params, spans,
};
use super::twins::power::PowerConsts;
use super::twins::reduce::{SCHEMES, Span, Stat};
use crate::backend::PowerJob;
use crate::error::Result;

pub const POWER_WGSL: &str = concat!(
    include_str!("../../shaders/common.wgsl"),
    include_str!("../../shaders/power.wgsl")
);

/// `PowerParams` of `shaders/power.wgsl`, the uniform of every power kernel.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct PowerParams {
    pub total: u32,
    pub n_segments: u32,
    pub kstride: u32,
    pub fixed_mode: u32,
    pub c: f32,
    pub n0: f32,
    pub energy: f32,
    pub path_loss: f32,
    pub fixed_power: f32,
    pub x_stride: u32,
    pub budget: f32,
    /// To 48 bytes, a multiple of 16 as uniforms want.
    pub pad: u32,
}

binding_set! {
    /// Group 0 of `shaders/power.wgsl`: the buffers, or their sizes in bytes.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct PowerBindings<T>, table POWER_BINDINGS {
        0 => params: Uniform,
        1 => segs: Read,
        2 => req_offsets: Read,
        3 => req_devices: Read,
        4 => gains: ReadWrite,
        5 => counts: ReadWrite,
        6 => outs: ReadWrite,
    }
}

/// The `@compute` functions of `shaders/power.wgsl`.
pub(crate) const POWER_ENTRY_POINTS: [&str; 4] = [
    "draw_gains",
    "weakest_counts",
    "power_solve",
    "chacha_words",
];

/// Realizations per chunk at most (fewer where the adapter's limits say so).
pub const MAX_CHUNK: u64 = 1 << 22;

/// What a power run reads back.
#[derive(Debug, Clone, Default)]
pub struct PowerRun {
    /// `[mba, constant, unicast]` per realization, `OUTAGE` (-1) on outage
    /// ([`Readback::Latencies`]).
    pub latencies: Vec<[f32; 3]>,
    /// Per piece of every chunk, in order, the device's statistics ([`Readback::Stats`]).
    pub stats: Vec<PieceStats>,
    /// With `debug`: per realization, the `K` gains and the block counts per weakest device.
    pub gains: Vec<Vec<f32>>,
    pub counts: Vec<Vec<u32>>,
    /// Kernel time from timestamp queries, when the adapter has them.
    pub kernel_ns: Option<f64>,
}

/// A kernel latency in the f64 convention: `OUTAGE` becomes infinity.
pub fn latency_f64(x: f32) -> f64 {
    if x < 0.0 { f64::INFINITY } else { x as f64 }
}

/// What each chunk reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readback {
    /// Every realization's latencies.
    Latencies,
    /// Each job's statistics, reduced on the device.
    Stats,
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

/// One run: what every chunk shares.
struct Request<'a> {
    consts: &'a PowerConsts,
    jobs: &'a [PowerJob],
    /// Replaces the ChaCha draws: one `K`-vector per realization, in job then realization order.
    gains_in: Option<&'a [Vec<f32>]>,
    /// Also read back gains and counts.
    debug: bool,
    stages: Stages,
    readback: Readback,
    /// u32 per realization in the gains and counts rows: the largest `K`, or the words asked for.
    kstride: u64,
    /// Realizations per chunk, [`chunk_size`] but in tests.
    chunk: u64,
}

/// One chunk's inputs.
struct Chunk {
    /// Which realizations of which jobs, one segment and one span each.
    pieces: Vec<Piece>,
    segs: Vec<Segment>,
    spans: Vec<Span>,
    /// Realizations in the chunk.
    total: u64,
    /// `Request::gains_in` of these realizations as rows of `kstride`.
    gains: Option<Vec<f32>>,
}

/// Timestamps of the start and end of the pass, resolved and copied out for mapping.
struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
}

/// The bytes of every buffer of one chunk.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    power: PowerBindings<u64>,
    reduce: ReduceBindings<u64>,
    /// Mapped for reading: `outs` or `stats`, and with `debug` the gains-sized rows.
    staging: u64,
}

impl Sizes {
    fn all(&self) -> impl Iterator<Item = u64> + '_ {
        let power = self.power.iter().map(|(_, &n)| n);
        power
            .chain(self.reduce.iter().map(|(_, &n)| n))
            .chain([self.staging])
    }
}

/// One set of buffers, sized for the largest chunk so far and reused while large enough.
struct Buffers {
    bound: PowerBindings<wgpu::Buffer>,
    /// `outs` is `bound.outs`.
    reduce: ReduceBindings<wgpu::Buffer>,
    sizes: Sizes,
    staging: wgpu::Buffer,
    timestamps: Option<Timestamps>,
    power_group: wgpu::BindGroup,
    reduce_group: wgpu::BindGroup,
}

struct Pipelines {
    draw_gains: wgpu::ComputePipeline,
    weakest_counts: wgpu::ComputePipeline,
    power_solve: wgpu::ComputePipeline,
    chacha_words: wgpu::ComputePipeline,
}

pub struct PowerKernels {
    layout: wgpu::BindGroupLayout,
    pipelines: Pipelines,
    reduce: ReduceKernels,
    /// Two sets: one filling while the other's chunk runs.
    buffers: Mutex<[Option<Buffers>; 2]>,
    max_chunk: u64,
}

impl PowerKernels {
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader("power", POWER_WGSL);
        let layout = ctx.layout(POWER_BINDINGS);
        let [draw_gains, weakest_counts, power_solve, chacha_words] =
            POWER_ENTRY_POINTS.map(|entry| ctx.pipeline(&layout, &module, entry));
        PowerKernels {
            pipelines: Pipelines {
                draw_gains,
                weakest_counts,
                power_solve,
                chacha_words,
            },
            layout,
            reduce: ReduceKernels::new(ctx),
            buffers: Mutex::new([None, None]),
            max_chunk: MAX_CHUNK,
        }
    }

    /// At most `realizations` per chunk (at least 1).
    pub fn set_max_chunk(&mut self, realizations: u64) {
        self.max_chunk = realizations.max(1);
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
        readback: Readback,
    ) -> Result<PowerRun> {
        let kstride = jobs.iter().map(|j| j.devices).max().unwrap_or(1).max(1) as u64;
        let request = Request {
            consts,
            jobs,
            gains_in,
            debug,
            stages: match gains_in {
                Some(_) => Stages::GainsGiven,
                None => Stages::All,
            },
            readback,
            kstride,
            chunk: chunk_size(ctx, kstride, self.max_chunk),
        };
        self.run_request(ctx, &request)
    }

    /// The first `words` u32 of every realization's ChaCha8 stream, per realization.
    pub fn chacha_words(
        &self,
        ctx: &GpuContext,
        jobs: &[PowerJob],
        words: u32,
    ) -> Result<Vec<Vec<u32>>> {
        // The generator reads no constants; any finite ones do.
        let consts = PowerConsts {
            c: 1.0,
            n0: 1.0,
            energy: 1.0,
            path_loss: 1.0,
            fixed_power: None,
            budget: 1.0,
        };
        let request = Request {
            consts: &consts,
            jobs,
            gains_in: None,
            debug: true,
            stages: Stages::Words,
            readback: Readback::Latencies,
            kstride: words.max(1) as u64,
            chunk: chunk_size(ctx, words.max(1) as u64, self.max_chunk),
        };
        let run = self.run_request(ctx, &request)?;
        Ok(run
            .gains
            .iter()
            .map(|row| row.iter().map(|x| x.to_bits()).collect())
            .collect())
    }

    /// Every chunk in order: chunk `i` is submitted on one buffer set, then chunk `i - 1` (on the
    /// other) is read back while `i` runs.
    fn run_request(&self, ctx: &GpuContext, req: &Request) -> Result<PowerRun> {
        let csr = PowerCsr::new(req.jobs)?;
        let mut run = PowerRun {
            kernel_ns: ctx.timestamps.then_some(0.0),
            ..Default::default()
        };
        let mut sets = self.buffers.lock().map_err(|_| poisoned())?;
        let mut in_flight: Option<InFlight> = None;
        let mut gains_pos = 0usize;
        for pieces in chunk_pieces(req.jobs, req.chunk) {
            let total: u64 = pieces.iter().map(|p| p.count).sum();
            if total == 0 {
                continue;
            }
            let gains = req.gains_in.map(|g| {
                gain_rows(
                    &g[gains_pos..gains_pos + total as usize],
                    req.kstride as usize,
                )
            });
            gains_pos += total as usize;
            let chunk = Chunk {
                segs: segments(req.jobs, &csr, &pieces),
                spans: spans(pieces.iter().map(|p| p.count as u32)),
                pieces,
                total,
                gains,
            };
            let set = in_flight.as_ref().map_or(0, |f| 1 - f.set);
            let sizes = buffer_sizes(req, &csr, &chunk);
            let buffers = Buffers::fit(&mut sets[set], ctx, self, sizes);
            let submitted = OnDevice {
                ctx,
                buffers,
                sizes,
            }
            .submit(self, req, &chunk, &csr);
            let this = InFlight {
                set,
                chunk,
                sizes,
                submitted,
            };
            if let Some(prev) = in_flight.replace(this) {
                prev.collect(ctx, req, &sets, &mut run)?;
            }
        }
        if let Some(last) = in_flight {
            last.collect(ctx, req, &sets, &mut run)?;
        }
        Ok(run)
    }

    /// The kernels of `stages`, in order.
    fn kernels(&self, stages: Stages) -> Vec<&wgpu::ComputePipeline> {
        let p = &self.pipelines;
        match stages {
            Stages::All => vec![&p.draw_gains, &p.weakest_counts, &p.power_solve],
            Stages::GainsGiven => vec![&p.weakest_counts, &p.power_solve],
            Stages::Words => vec![&p.chacha_words],
        }
    }
}

/// A submitted chunk, on buffer set `set`, waiting to be read back.
struct InFlight {
    set: usize,
    chunk: Chunk,
    sizes: Sizes,
    submitted: wgpu::SubmissionIndex,
}

impl InFlight {
    /// Wait for this chunk alone (later ones keep running) and append what it read back.
    fn collect(
        self,
        ctx: &GpuContext,
        req: &Request,
        sets: &[Option<Buffers>; 2],
        run: &mut PowerRun,
    ) -> Result<()> {
        let buffers = sets[self.set].as_ref().expect("a submitted set is built");
        let dev = OnDevice {
            ctx,
            buffers,
            sizes: self.sizes,
        };
        match req.readback {
            Readback::Latencies => dev.read_latencies(&self.submitted, run)?,
            Readback::Stats => dev.read_stats(&self.submitted, &self.chunk, run)?,
        }
        dev.read_kernel_time(&self.submitted, run)?;
        if req.debug {
            let rows = rows_of(req, &self.chunk);
            run.gains
                .extend(dev.read_rows(&dev.buffers.bound.gains, &rows)?);
            run.counts
                .extend(dev.read_rows(&dev.buffers.bound.counts, &rows)?);
        }
        Ok(())
    }
}

/// Realizations per chunk: buffers under the binding limit, a grid under the dispatch limit.
fn chunk_size(ctx: &GpuContext, kstride: u64, max_chunk: u64) -> u64 {
    let by_mem = ctx.max_binding() / (4 * kstride.max(3));
    let d = ctx.limits.max_compute_workgroups_per_dimension as u64;
    by_mem.min(64 * d * d).clamp(1, max_chunk)
}

fn params(req: &Request, chunk: &Chunk, x_stride: u32) -> PowerParams {
    let consts = req.consts;
    PowerParams {
        total: chunk.total as u32,
        n_segments: chunk.segs.len() as u32,
        kstride: req.kstride as u32,
        fixed_mode: consts.fixed_power.is_some() as u32,
        c: consts.c,
        n0: consts.n0,
        energy: consts.energy,
        path_loss: consts.path_loss,
        fixed_power: consts.fixed_power.unwrap_or(0.0),
        x_stride,
        budget: consts.budget,
        pad: 0,
    }
}

/// The bytes each buffer of one chunk needs.
fn buffer_sizes(req: &Request, csr: &PowerCsr, chunk: &Chunk) -> Sizes {
    let rows = chunk.total * req.kstride * 4;
    let n_tiles: u64 = chunk.spans.iter().map(|s| s.tiles as u64).sum();
    let stat = (SCHEMES * std::mem::size_of::<Stat>()) as u64;
    let power = PowerBindings {
        params: std::mem::size_of::<PowerParams>() as u64,
        segs: std::mem::size_of_val(chunk.segs.as_slice()) as u64,
        req_offsets: (csr.offsets.len() * 4) as u64,
        req_devices: (csr.devices.len() * 4) as u64,
        gains: rows,
        counts: rows,
        outs: chunk.total * 12,
    };
    let stats = chunk.spans.len() as u64 * stat;
    let reduce = ReduceBindings {
        rparams: std::mem::size_of::<ReduceParams>() as u64,
        spans: std::mem::size_of_val(chunk.spans.as_slice()) as u64,
        outs: power.outs,
        partials: n_tiles * stat,
        stats,
    };
    let read = match req.readback {
        Readback::Latencies => power.outs,
        Readback::Stats => stats,
    };
    Sizes {
        power,
        reduce,
        staging: if req.debug { read.max(rows) } else { read },
    }
}

/// `(first u32, width)` of every realization's row in the gains and counts buffers: `K` wide, or
/// the whole row of words.
fn rows_of(req: &Request, chunk: &Chunk) -> Vec<(usize, usize)> {
    let ks = req.kstride as usize;
    let mut rows = Vec::with_capacity(chunk.total as usize);
    for s in &chunk.segs {
        let width = match req.stages {
            Stages::Words => ks,
            _ => s.devices as usize,
        };
        rows.extend((s.start..s.start + s.count).map(|i| (i as usize * ks, width)));
    }
    rows
}

impl Buffers {
    /// The set's buffers, rebuilt (each at least as large as before) when one is too small.
    fn fit<'a>(
        set: &'a mut Option<Buffers>,
        ctx: &GpuContext,
        kernels: &PowerKernels,
        need: Sizes,
    ) -> &'a Buffers {
        let too_small = |b: &Buffers| b.sizes.all().zip(need.all()).any(|(have, n)| have < n);
        if set.as_ref().is_none_or(too_small) {
            let grown = match set.as_ref() {
                Some(old) => Sizes {
                    power: need.power.zip(old.sizes.power).map(|_, &(n, o)| n.max(o)),
                    reduce: need.reduce.zip(old.sizes.reduce).map(|_, &(n, o)| n.max(o)),
                    staging: need.staging.max(old.sizes.staging),
                },
                None => need,
            };
            *set = Some(Buffers::new(ctx, kernels, grown));
        }
        set.as_ref().expect("just built")
    }

    fn new(ctx: &GpuContext, kernels: &PowerKernels, sizes: Sizes) -> Self {
        let timestamps = ctx.timestamps.then(|| Timestamps {
            set: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: None,
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolve: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            staging: ctx.readback(16),
        });
        let buffer = |access: Access, size: u64| match access {
            Access::Uniform => ctx.uniform(size),
            Access::Read | Access::ReadWrite => ctx.storage(size),
        };
        let bound = sizes.power.map(|b, &size| buffer(b.access, size));
        let reduce = sizes.reduce.map(|b, &size| match b.name {
            "outs" => bound.outs.clone(),
            _ => buffer(b.access, size),
        });
        Buffers {
            power_group: ctx.bind_group(&kernels.layout, bound.iter()),
            reduce_group: ctx.bind_group(&kernels.reduce.layout, reduce.iter()),
            bound,
            reduce,
            staging: ctx.readback(sizes.staging),
            sizes,
            timestamps,
        }
    }
}

/// One chunk's steps on the device: its buffers, and the bytes of each binding it uses.
struct OnDevice<'a> {
    ctx: &'a GpuContext,
    buffers: &'a Buffers,
    sizes: Sizes,
}

impl OnDevice<'_> {
    /// Upload the chunk's inputs and queue its pass and copies.
    fn submit(
        &self,
        kernels: &PowerKernels,
        req: &Request,
        chunk: &Chunk,
        csr: &PowerCsr,
    ) -> wgpu::SubmissionIndex {
        let (gx, gy, x_stride) = self.ctx.grid(chunk.total as u32);
        let reduce =
            (req.readback == Readback::Stats).then(|| reduce_params(self.ctx, &chunk.spans));
        self.upload(&params(req, chunk, x_stride), reduce.as_ref(), chunk, csr);
        self.dispatch(kernels, req, reduce.as_ref(), (gx, gy))
    }

    fn upload(
        &self,
        params: &PowerParams,
        reduce: Option<&ReduceParams>,
        chunk: &Chunk,
        csr: &PowerCsr,
    ) {
        let (q, b) = (&self.ctx.queue, &self.buffers.bound);
        q.write_buffer(&b.params, 0, bytemuck::bytes_of(params));
        q.write_buffer(&b.segs, 0, bytemuck::cast_slice(&chunk.segs));
        // Jobs without blocks leave the CSR empty: nothing to write, and the kernels read none.
        if !csr.offsets.is_empty() {
            q.write_buffer(&b.req_offsets, 0, bytemuck::cast_slice(&csr.offsets));
        }
        if !csr.devices.is_empty() {
            q.write_buffer(&b.req_devices, 0, bytemuck::cast_slice(&csr.devices));
        }
        if let Some(g) = &chunk.gains {
            q.write_buffer(&b.gains, 0, bytemuck::cast_slice(g));
        }
        if let Some(p) = reduce {
            let r = &self.buffers.reduce;
            q.write_buffer(&r.rparams, 0, bytemuck::bytes_of(p));
            q.write_buffer(&r.spans, 0, bytemuck::cast_slice(&chunk.spans));
        }
    }

    /// One compute pass (timed when the adapter can) running the stages' kernels over the same
    /// grid, then the reduction when asked; what is read back into the staging buffer; one
    /// submit.
    fn dispatch(
        &self,
        kernels: &PowerKernels,
        req: &Request,
        reduce: Option<&ReduceParams>,
        (gx, gy): (u32, u32),
    ) -> wgpu::SubmissionIndex {
        let (ctx, b) = (self.ctx, self.buffers);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("power"),
                timestamp_writes: b.timestamps.as_ref().map(|ts| {
                    wgpu::ComputePassTimestampWrites {
                        query_set: &ts.set,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    }
                }),
            });
            pass.set_bind_group(0, &b.power_group, &[]);
            for kernel in kernels.kernels(req.stages) {
                pass.set_pipeline(kernel);
                pass.dispatch_workgroups(gx, gy, 1);
            }
            if let Some(p) = reduce {
                pass.set_bind_group(0, &b.reduce_group, &[]);
                let r = &kernels.reduce;
                pass.set_pipeline(&r.reduce_tiles);
                pass.dispatch_workgroups(p.x_groups, p.n_tiles.div_ceil(p.x_groups), 1);
                pass.set_pipeline(&r.reduce_spans);
                let x = p.x_groups.min(p.n_spans);
                pass.dispatch_workgroups(x, p.n_spans.div_ceil(p.x_groups), 1);
            }
        }
        if let Some(ts) = &b.timestamps {
            enc.resolve_query_set(&ts.set, 0..2, &ts.resolve, 0);
            enc.copy_buffer_to_buffer(&ts.resolve, 0, &ts.staging, 0, 16);
        }
        let (from, size) = match req.readback {
            Readback::Latencies => (&b.bound.outs, self.sizes.power.outs),
            Readback::Stats => (&b.reduce.stats, self.sizes.reduce.stats),
        };
        enc.copy_buffer_to_buffer(from, 0, &b.staging, 0, size);
        ctx.queue.submit([enc.finish()])
    }

    fn read_latencies(&self, after: &wgpu::SubmissionIndex, run: &mut PowerRun) -> Result<()> {
        let bytes = self
            .ctx
            .read(&self.buffers.staging, self.sizes.power.outs, after)?;
        let outs: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
        run.latencies
            .extend(outs.chunks_exact(3).map(|c| [c[0], c[1], c[2]]));
        Ok(())
    }

    /// Three `Stat`s per piece of the chunk, in piece order.
    fn read_stats(
        &self,
        after: &wgpu::SubmissionIndex,
        chunk: &Chunk,
        run: &mut PowerRun,
    ) -> Result<()> {
        let bytes = self
            .ctx
            .read(&self.buffers.staging, self.sizes.reduce.stats, after)?;
        let stats: Vec<Stat> = bytemuck::pod_collect_to_vec(&bytes);
        run.stats.extend(
            chunk
                .pieces
                .iter()
                .zip(stats.chunks_exact(SCHEMES))
                .map(|(p, s)| PieceStats {
                    job: p.job,
                    count: p.count,
                    stats: [s[0], s[1], s[2]],
                }),
        );
        Ok(())
    }

    fn read_kernel_time(&self, after: &wgpu::SubmissionIndex, run: &mut PowerRun) -> Result<()> {
        if let Some(ts) = &self.buffers.timestamps {
            let t: Vec<u64> =
                bytemuck::pod_collect_to_vec(&self.ctx.read(&ts.staging, 16, after)?);
            let period = self.ctx.queue.get_timestamp_period() as f64;
            let ns = t[1].saturating_sub(t[0]) as f64 * period;
            run.kernel_ns = Some(run.kernel_ns.unwrap_or(0.0) + ns);
        }
        Ok(())
    }

    /// Copy the chunk's part of a gains-sized buffer (`gains`, `counts`) out through the
    /// staging buffer and cut it into `rows`.
    fn read_rows<T: Pod>(
        &self,
        buf: &wgpu::Buffer,
        rows: &[(usize, usize)],
    ) -> Result<Vec<Vec<T>>> {
        let (ctx, size) = (self.ctx, self.sizes.power.gains);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buf, 0, &self.buffers.staging, 0, size);
        let copied = ctx.queue.submit([enc.finish()]);
        let bytes = ctx.read(&self.buffers.staging, size, &copied)?;
        Ok(rows
            .iter()
            .map(|&(at, width)| bytemuck::pod_collect_to_vec(&bytes[at * 4..][..width * 4]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::Link;
    use crate::power::SystemParams;

    /// `K` devices, `blocks` sent blocks with one or two requesters each.
    fn job(k: u32, blocks: u32, first_realization: u64, realizations: u64) -> PowerJob {
        let mut req_offsets = vec![0u32];
        let mut req_devices = Vec::new();
        for b in 0..blocks {
            req_devices.push(b % k);
            if b % 3 == 0 && k > 1 {
                req_devices.push((b + 1) % k);
            }
            req_offsets.push(req_devices.len() as u32);
        }
        PowerJob {
            req_offsets,
            req_devices,
            devices: k,
            blocks_per_model: 2,
            seed: 3,
            point: 1,
            trial: k as u64,
            first_realization,
            realizations,
        }
    }

    fn bits(run: &PowerRun) -> (Vec<u32>, Vec<u32>, Vec<Vec<u32>>) {
        (
            run.latencies
                .iter()
                .flatten()
                .map(|x| x.to_bits())
                .collect(),
            run.gains.iter().flatten().map(|x| x.to_bits()).collect(),
            run.counts.clone(),
        )
    }

    /// Runs cut into many chunks (jobs split across chunks, buffers reused) read back the same
    /// bits as one chunk, with drawn and with given gains.
    #[test]
    fn gpu_power_chunks_agree_bit_for_bit() {
        if std::env::var("MBA_SKIP_GPU").as_deref() == Ok("1") {
            return;
        }
        let ctx = GpuContext::new(true).expect("no usable wgpu adapter (MBA_SKIP_GPU=1 skips)");
        let kernels = PowerKernels::new(&ctx);
        let jobs = [
            job(5, 7, 0, 23),
            job(1, 1, 9, 1),
            job(4, 0, 0, 5),
            job(8, 12, 1 << 32, 33),
        ];
        let sys = SystemParams::default();
        let consts = PowerConsts::new(&Link::from(&sys), sys.path_loss, None);
        let request = |gains_in, chunk| Request {
            consts: &consts,
            jobs: &jobs,
            gains_in,
            debug: true,
            stages: if gains_in.is_some() {
                Stages::GainsGiven
            } else {
                Stages::All
            },
            readback: Readback::Latencies,
            kstride: 8,
            chunk,
        };
        let whole = kernels.run_request(&ctx, &request(None, 1 << 20)).unwrap();
        assert_eq!(whole.latencies.len(), 62);
        let given = kernels
            .run_request(&ctx, &request(Some(&whole.gains), 1 << 20))
            .unwrap();
        for chunk in [1, 7, 16] {
            let cut = kernels.run_request(&ctx, &request(None, chunk)).unwrap();
            assert_eq!(bits(&cut), bits(&whole), "chunks of {chunk}");
            let cut = kernels
                .run_request(&ctx, &request(Some(&whole.gains), chunk))
                .unwrap();
            assert_eq!(bits(&cut), bits(&given), "given gains, chunks of {chunk}");
        }
    }
}
