//! Host side of `shaders/power.wgsl`: the realizations of many jobs in chunks under the adapter's
//! limits; per chunk one upload, up to three dispatches in one pass and one readback of 3 f32
//! per realization. Pipelines are built once; buffers grow on demand and are reused.

use std::sync::Mutex;

use bytemuck::{Pod, Zeroable};

use super::context::{GpuContext, poisoned};
use super::layout::{Access, binding_set};
use super::pack::{PowerCsr, Segment, chunk_pieces, gain_rows, segments};
use super::twins::power::PowerConsts;
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

/// A kernel latency in the f64 convention: `OUTAGE` becomes infinity.
pub fn latency_f64(x: f32) -> f64 {
    if x < 0.0 { f64::INFINITY } else { x as f64 }
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
    /// u32 per realization in the gains and counts rows: the largest `K`, or the words asked for.
    kstride: u64,
    /// Realizations per chunk, [`chunk_size`] but in tests.
    chunk: u64,
}

/// One chunk's inputs.
struct Chunk {
    segs: Vec<Segment>,
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

/// The buffers of the largest chunk so far, reused while they are large enough.
struct Buffers {
    bound: PowerBindings<wgpu::Buffer>,
    sizes: PowerBindings<u64>,
    /// Mapped for reading: `outs`, and with `debug` `gains` then `counts`.
    staging: wgpu::Buffer,
    timestamps: Option<Timestamps>,
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
    buffers: Mutex<Option<Buffers>>,
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
            buffers: Mutex::new(None),
        }
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
            kstride,
            chunk: chunk_size(ctx, kstride),
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
            kstride: words.max(1) as u64,
            chunk: chunk_size(ctx, words.max(1) as u64),
        };
        let run = self.run_request(ctx, &request)?;
        Ok(run
            .gains
            .iter()
            .map(|row| row.iter().map(|x| x.to_bits()).collect())
            .collect())
    }

    fn run_request(&self, ctx: &GpuContext, req: &Request) -> Result<PowerRun> {
        let csr = PowerCsr::new(req.jobs)?;
        let mut run = PowerRun {
            kernel_ns: ctx.timestamps.then_some(0.0),
            ..Default::default()
        };
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
                total,
                gains,
            };
            self.chunk(ctx, req, &csr, &chunk, &mut run)?;
        }
        Ok(run)
    }

    /// Upload, dispatch and read back one chunk, appending to `run`.
    fn chunk(
        &self,
        ctx: &GpuContext,
        req: &Request,
        csr: &PowerCsr,
        chunk: &Chunk,
        run: &mut PowerRun,
    ) -> Result<()> {
        let (gx, gy, x_stride) = ctx.grid(chunk.total as u32);
        let mut cache = self.buffers.lock().map_err(|_| poisoned())?;
        let sizes = buffer_sizes(csr, chunk, req.kstride);
        let dev = OnDevice {
            ctx,
            buffers: Buffers::fit(&mut cache, ctx, sizes),
            sizes,
        };
        dev.upload(&params(req, chunk, x_stride), chunk, csr);
        dev.dispatch(self, req.stages, (gx, gy));
        dev.read_latencies(run)?;
        dev.read_kernel_time(run)?;
        if req.debug {
            let rows = rows_of(req, chunk);
            run.gains
                .extend(dev.read_rows(&dev.buffers.bound.gains, &rows)?);
            run.counts
                .extend(dev.read_rows(&dev.buffers.bound.counts, &rows)?);
        }
        Ok(())
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

/// Realizations per chunk: buffers under the binding limit, a grid under the dispatch limit.
fn chunk_size(ctx: &GpuContext, kstride: u64) -> u64 {
    let by_mem = ctx.max_binding() / (4 * kstride.max(3));
    let d = ctx.limits.max_compute_workgroups_per_dimension as u64;
    by_mem.min(64 * d * d).clamp(1, 1 << 22)
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

/// The bytes each binding of one chunk needs.
fn buffer_sizes(csr: &PowerCsr, chunk: &Chunk, kstride: u64) -> PowerBindings<u64> {
    let rows = chunk.total * kstride * 4;
    PowerBindings {
        params: std::mem::size_of::<PowerParams>() as u64,
        segs: std::mem::size_of_val(chunk.segs.as_slice()) as u64,
        req_offsets: (csr.offsets.len() * 4) as u64,
        req_devices: (csr.devices.len() * 4) as u64,
        gains: rows,
        counts: rows,
        outs: chunk.total * 12,
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
    /// The cached buffers, rebuilt (each at least as large as before) when one is too small.
    fn fit<'a>(
        cache: &'a mut Option<Buffers>,
        ctx: &GpuContext,
        need: PowerBindings<u64>,
    ) -> &'a Buffers {
        let too_small = |b: &Buffers| {
            b.sizes
                .iter()
                .zip(need.iter())
                .any(|((_, have), (_, n))| have < n)
        };
        if cache.as_ref().is_none_or(too_small) {
            let old = cache.as_ref().map_or(need.map(|_, _| 0), |b| b.sizes);
            let sizes = need.zip(old).map(|_, &(n, o)| n.max(o).max(16));
            *cache = Some(Buffers::new(ctx, sizes));
        }
        cache.as_ref().expect("just built")
    }

    fn new(ctx: &GpuContext, sizes: PowerBindings<u64>) -> Self {
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
        Buffers {
            bound: sizes.map(|b, &size| match b.access {
                Access::Uniform => ctx.uniform(size),
                Access::Read | Access::ReadWrite => ctx.storage(size),
            }),
            staging: ctx.readback(sizes.gains.max(sizes.outs)),
            sizes,
            timestamps,
        }
    }
}

/// One chunk's steps on the device: its buffers, and the bytes of each binding it uses.
struct OnDevice<'a> {
    ctx: &'a GpuContext,
    buffers: &'a Buffers,
    sizes: PowerBindings<u64>,
}

impl OnDevice<'_> {
    fn upload(&self, params: &PowerParams, chunk: &Chunk, csr: &PowerCsr) {
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
    }

    /// One compute pass (timed when the adapter can) running the stages' kernels over the same
    /// grid, then `outs` into the staging buffer; one submit.
    fn dispatch(&self, kernels: &PowerKernels, stages: Stages, (gx, gy): (u32, u32)) {
        let (ctx, b) = (self.ctx, self.buffers);
        let bind = ctx.bind_group(&kernels.layout, b.bound.iter());
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
            pass.set_bind_group(0, &bind, &[]);
            for kernel in kernels.kernels(stages) {
                pass.set_pipeline(kernel);
                pass.dispatch_workgroups(gx, gy, 1);
            }
        }
        if let Some(ts) = &b.timestamps {
            enc.resolve_query_set(&ts.set, 0..2, &ts.resolve, 0);
            enc.copy_buffer_to_buffer(&ts.resolve, 0, &ts.staging, 0, 16);
        }
        enc.copy_buffer_to_buffer(&b.bound.outs, 0, &b.staging, 0, self.sizes.outs);
        ctx.queue.submit([enc.finish()]);
    }

    fn read_latencies(&self, run: &mut PowerRun) -> Result<()> {
        let bytes = self.ctx.read(&self.buffers.staging, self.sizes.outs)?;
        let outs: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
        run.latencies
            .extend(outs.chunks_exact(3).map(|c| [c[0], c[1], c[2]]));
        Ok(())
    }

    fn read_kernel_time(&self, run: &mut PowerRun) -> Result<()> {
        if let Some(ts) = &self.buffers.timestamps {
            let t: Vec<u64> = bytemuck::pod_collect_to_vec(&self.ctx.read(&ts.staging, 16)?);
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
        let (ctx, size) = (self.ctx, self.sizes.gains);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buf, 0, &self.buffers.staging, 0, size);
        ctx.queue.submit([enc.finish()]);
        let bytes = ctx.read(&self.buffers.staging, size)?;
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
