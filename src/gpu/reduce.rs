//! Host side of `shaders/reduce.wgsl`: the pipelines and bindings of the device reduction
//! (dispatched by `power.rs` in the power pass), and the f64 combination of its per-chunk
//! results into each job's [`JobStats`].

use bytemuck::{Pod, Zeroable};

use super::context::{GpuContext, readback_failed};
use super::layout::binding_set;
use super::twins::reduce::{SCHEMES, Span, Stat, TILE};
use crate::backend::{Acc, JobStats, PowerJob};
use crate::error::Result;

pub const REDUCE_WGSL: &str = include_str!("../../shaders/reduce.wgsl");

/// `ReduceParams` of `shaders/reduce.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct ReduceParams {
    pub n_tiles: u32,
    pub n_spans: u32,
    pub x_groups: u32,
    /// To 16 bytes, as uniforms want.
    pub pad: u32,
}

binding_set! {
    /// Group 0 of `shaders/reduce.wgsl`; `outs` is the power kernels' buffer.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct ReduceBindings<T>, table REDUCE_BINDINGS {
        0 => rparams: Uniform,
        1 => spans: Read,
        2 => outs: Read,
        3 => partials: ReadWrite,
        4 => stats: ReadWrite,
    }
}

/// The `@compute` functions of `shaders/reduce.wgsl`.
pub(crate) const REDUCE_ENTRY_POINTS: [&str; 2] = ["reduce_tiles", "reduce_spans"];

pub(crate) struct ReduceKernels {
    pub layout: wgpu::BindGroupLayout,
    pub reduce_tiles: wgpu::ComputePipeline,
    pub reduce_spans: wgpu::ComputePipeline,
}

impl ReduceKernels {
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader("reduce", REDUCE_WGSL);
        let layout = ctx.layout(REDUCE_BINDINGS);
        let [reduce_tiles, reduce_spans] =
            REDUCE_ENTRY_POINTS.map(|entry| ctx.pipeline(&layout, &module, entry));
        ReduceKernels {
            layout,
            reduce_tiles,
            reduce_spans,
        }
    }
}

/// One span per segment, `counts` realizations each from realization 0 of the chunk, with its
/// tiles numbered in order.
pub(crate) fn spans(counts: impl IntoIterator<Item = u32>) -> Vec<Span> {
    let (mut start, mut first_tile) = (0u32, 0u32);
    counts
        .into_iter()
        .map(|count| {
            let tiles = count.div_ceil(TILE as u32);
            let span = Span {
                start,
                count,
                first_tile,
                tiles,
            };
            start += count;
            first_tile += tiles;
            span
        })
        .collect()
}

/// The reduction's parameters for a chunk's spans: grid rows of at most the adapter's
/// workgroups per dimension.
pub(crate) fn reduce_params(ctx: &GpuContext, spans: &[Span]) -> ReduceParams {
    let n_tiles = spans.iter().map(|s| s.tiles).sum::<u32>();
    ReduceParams {
        n_tiles,
        n_spans: spans.len() as u32,
        x_groups: n_tiles
            .min(ctx.limits.max_compute_workgroups_per_dimension)
            .max(1),
        pad: 0,
    }
}

/// Realizations `count` of job `job` (one piece of one chunk) as the device reduced them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PieceStats {
    pub job: usize,
    pub count: u64,
    /// `[mba, constant, unicast]`.
    pub stats: [Stat; SCHEMES],
}

/// A device statistic as study sums, in f64: `sum = n mean`, `sumsq = m2 + n mean^2`.
fn acc_of(s: &Stat, count: u64) -> Result<Acc> {
    let served = s.served as u64;
    if served > count {
        return Err(readback_failed(
            "stats",
            format!("{served} served of {count} realizations"),
        ));
    }
    let (mean, m2) = (s.mean as f64, s.m2 as f64);
    let sum = served as f64 * mean;
    Ok(Acc {
        count,
        sum,
        sumsq: m2 + sum * mean,
        outages: count - served,
    })
}

/// Latency per device from the totals: `sum / K`, `sumsq / K^2` (with `K = 0` every sample is
/// an outage, as `l / 0` is on the CPU).
fn per_device(total: &Acc, devices: u32) -> Acc {
    if devices == 0 {
        return Acc {
            count: total.count,
            outages: total.count,
            ..Acc::default()
        };
    }
    let k = devices as f64;
    Acc {
        sum: total.sum / k,
        sumsq: total.sumsq / (k * k),
        ..*total
    }
}

/// Every job's statistics: its pieces (in chunk order) combined in f64.
pub fn job_stats(jobs: &[PowerJob], pieces: &[PieceStats]) -> Result<Vec<JobStats>> {
    let mut out = vec![JobStats::default(); jobs.len()];
    for p in pieces {
        let (job, stats) = (&jobs[p.job], &mut out[p.job]);
        let schemes = [&mut stats.mba, &mut stats.constant, &mut stats.unicast];
        for (into, s) in schemes.into_iter().zip(&p.stats) {
            let total = acc_of(s, p.count)?;
            into.latency_per_device_s
                .merge(&per_device(&total, job.devices));
            into.latency_s.merge(&total);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::twins::reduce::span_of_tile;

    /// Spans follow each other, tiles are numbered in order, and every tile finds its span.
    #[test]
    fn spans_number_tiles_in_order() {
        let spans = spans([1, 256, 257, 3, 600]);
        let tiles: Vec<u32> = spans.iter().map(|s| s.tiles).collect();
        assert_eq!(tiles, [1, 1, 2, 1, 3]);
        let starts: Vec<(u32, u32)> = spans.iter().map(|s| (s.start, s.first_tile)).collect();
        assert_eq!(starts, [(0, 0), (1, 1), (257, 2), (514, 4), (517, 5)]);
        let owner: Vec<usize> = (0..8).map(|w| span_of_tile(&spans, w)).collect();
        assert_eq!(owner, [0, 1, 2, 2, 3, 4, 4, 4]);
    }

    /// Device statistics become study sums: `sum = n mean`, `sumsq = m2 + n mean^2`, per
    /// device divided by `K` and `K^2`; a count below the served samples is an error.
    #[test]
    fn job_stats_combine_pieces_in_f64() {
        let job = PowerJob {
            req_offsets: vec![0],
            req_devices: vec![],
            devices: 4,
            blocks_per_model: 1,
            seed: 0,
            point: 0,
            trial: 0,
            first_realization: 0,
            realizations: 7,
        };
        let stat = |served, mean, m2| Stat { served, mean, m2 };
        let pieces = [
            PieceStats {
                job: 0,
                count: 3,
                stats: [stat(2, 1.5, 0.5), stat(3, 2.0, 0.0), stat(0, 0.0, 0.0)],
            },
            PieceStats {
                job: 0,
                count: 4,
                stats: [stat(4, 0.5, 1.0), stat(4, 2.0, 0.0), stat(0, 0.0, 0.0)],
            },
        ];
        let got = job_stats(std::slice::from_ref(&job), &pieces).unwrap();
        let mba = got[0].mba.latency_s;
        assert_eq!((mba.count, mba.outages), (7, 1));
        // Samples 1, 2 (mean 1.5, m2 0.5) and four of mean 0.5, m2 1: sum 5, sumsq 5 + 2.
        assert_eq!((mba.sum, mba.sumsq), (5.0, 7.0));
        let pd = got[0].mba.latency_per_device_s;
        assert_eq!(
            (pd.count, pd.outages, pd.sum, pd.sumsq),
            (7, 1, 1.25, 7.0 / 16.0)
        );
        assert_eq!(got[0].unicast.latency_s.outages, 7);
        let bad = [PieceStats {
            count: 1,
            ..pieces[0]
        }];
        assert!(job_stats(std::slice::from_ref(&job), &bad).is_err());
        let none = PowerJob { devices: 0, ..job };
        let pd = job_stats(std::slice::from_ref(&none), &pieces).unwrap()[0].constant;
        assert_eq!(pd.latency_per_device_s.outages, 7, "l / 0 is an outage");
    }
}
