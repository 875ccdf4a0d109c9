//! The kernels' inputs packed on the CPU: flat u32/f32 tables in the layouts the WGSL indexes,
//! and the power runs cut into chunks. No wgpu here.

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::context::malformed_job;
use crate::backend::PowerJob;
use crate::channel::{Purpose, stream_key};
use crate::error::Result;
use crate::library::{Device, Instance, Library};
use crate::selection::greedy::{ForeignPool, GreedyOptions, device_order};

/// `Dev` of `shaders/greedy.wgsl`: one (trial, device).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct Dev {
    pub task: u32,
    pub qos: f32,
    pub trial: u32,
    pub pad: u32,
}

/// `Segment` of `shaders/power.wgsl`: one job's realizations inside a chunk.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub(crate) struct Segment {
    pub key: [u32; 8],
    pub stream_lo: u32,
    pub stream_hi: u32,
    pub devices: u32,
    pub block_start: u32,
    pub n_blocks: u32,
    pub per_model: u32,
    pub start: u32,
    pub count: u32,
}

/// The ChaCha key words of `crate::channel::stream_key` (little-endian u32s).
pub fn key_words(key: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().expect("4 bytes")))
}

// ---- Power.

/// Every job's requester lists in one CSR: offsets rebased into the concatenated device list.
pub(crate) struct PowerCsr {
    pub offsets: Vec<u32>,
    pub devices: Vec<u32>,
    /// Per job, the index of its first offset.
    pub block_start: Vec<u32>,
}

impl PowerCsr {
    pub fn new(jobs: &[PowerJob]) -> Result<Self> {
        let mut csr = PowerCsr {
            offsets: Vec::new(),
            devices: Vec::new(),
            block_start: Vec::with_capacity(jobs.len()),
        };
        for job in jobs {
            if job.req_offsets.is_empty() || (job.devices == 0 && job.num_blocks() > 0) {
                return Err(malformed_job());
            }
            csr.block_start.push(csr.offsets.len() as u32);
            let base = csr.devices.len() as u32;
            csr.offsets
                .extend(job.req_offsets.iter().map(|&o| o + base));
            csr.devices.extend(&job.req_devices);
        }
        Ok(csr)
    }
}

/// Realizations `first..first + count` of job `job`, all in one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub job: usize,
    pub first: u64,
    pub count: u64,
}

/// The jobs' realizations in order, cut into chunks of at most `chunk` realizations (a job may
/// span chunks). Without realizations, one empty chunk.
pub(crate) fn chunk_pieces(jobs: &[PowerJob], chunk: u64) -> Vec<Vec<Piece>> {
    let mut chunks: Vec<Vec<Piece>> = vec![Vec::new()];
    let mut filled = 0u64;
    for (j, job) in jobs.iter().enumerate() {
        let mut r = 0;
        while r < job.realizations {
            if filled == chunk {
                chunks.push(Vec::new());
                filled = 0;
            }
            let n = (job.realizations - r).min(chunk - filled);
            chunks.last_mut().expect("non-empty").push(Piece {
                job: j,
                first: r,
                count: n,
            });
            filled += n;
            r += n;
        }
    }
    chunks
}

/// One `Segment` per piece, numbered from realization 0 of the chunk.
pub(crate) fn segments(jobs: &[PowerJob], csr: &PowerCsr, pieces: &[Piece]) -> Vec<Segment> {
    let mut start = 0u32;
    pieces
        .iter()
        .map(|p| {
            let job = &jobs[p.job];
            let stream = job.first_realization + p.first;
            let seg = Segment {
                key: key_words(&stream_key(
                    job.seed,
                    job.point,
                    job.trial,
                    Purpose::Channel,
                )),
                stream_lo: stream as u32,
                stream_hi: (stream >> 32) as u32,
                devices: job.devices,
                block_start: csr.block_start[p.job],
                n_blocks: job.num_blocks() as u32,
                per_model: job.blocks_per_model,
                start,
                count: p.count as u32,
            };
            start += p.count as u32;
            seg
        })
        .collect()
}

/// Given gains (one vector per realization) as rows of `kstride`, zero-padded.
pub(crate) fn gain_rows(gains: &[Vec<f32>], kstride: usize) -> Vec<f32> {
    let mut flat = vec![0f32; gains.len() * kstride];
    for (i, row) in gains.iter().enumerate() {
        flat[i * kstride..][..row.len()].copy_from_slice(row);
    }
    flat
}

// ---- Greedy.

/// The f32 score table `[t][i][n]` the kernels read.
pub fn score_table(lib: &Library) -> Vec<f32> {
    let (m, nb) = (lib.models(), lib.blocks());
    let mut out = Vec::with_capacity(m * m * nb);
    for t in 0..m {
        for i in 0..m {
            for n in 0..nb {
                out.push(lib.score(t, i, n) as f32);
            }
        }
    }
    out
}

/// The physical block id of every (model, block), `[i][n]`.
pub fn physical_ids(lib: &Library) -> Vec<u32> {
    let (m, nb) = (lib.models(), lib.blocks());
    (0..m)
        .flat_map(|i| (0..nb).map(move |n| (i, n)))
        .map(|(i, n)| lib.physical(i, n) as u32)
        .collect()
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

/// The greedy kernels' read-only inputs of a batch of trials: `tab` holds, one after another,
/// the physical ids `[i][n]`, per trial `(first device, count, 0, 0)`, the foreign-model masks
/// `[trial][model]` and the visiting orders; `devs` one `Dev` per (trial, device).
pub(crate) struct GreedyTables {
    pub tab: Vec<u32>,
    pub devs: Vec<Dev>,
    pub trial_off: u32,
    pub allowed_off: u32,
    pub visit_off: u32,
}

impl GreedyTables {
    pub fn new(library: &Arc<Library>, trials: &[Vec<Device>], opts: &GreedyOptions) -> Self {
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
        let mut tab = physical_ids(library);
        let trial_off = tab.len() as u32;
        tab.extend(trial_tab);
        let allowed_off = tab.len() as u32;
        tab.extend(allowed);
        let visit_off = tab.len() as u32;
        tab.extend(visit);
        GreedyTables {
            tab,
            devs,
            trial_off,
            allowed_off,
            visit_off,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(realizations: u64) -> PowerJob {
        PowerJob {
            req_offsets: vec![0],
            req_devices: vec![],
            devices: 1,
            blocks_per_model: 1,
            seed: 0,
            point: 0,
            trial: 0,
            first_realization: 0,
            realizations,
        }
    }

    /// Chunks are full but the last, and their pieces list every realization once, in order.
    #[test]
    fn chunk_pieces_cover_every_realization_in_order() {
        let jobs = [job(5), job(0), job(12), job(1)];
        for chunk in [1, 4, 6, 18, 100] {
            let chunks = chunk_pieces(&jobs, chunk);
            let totals: Vec<u64> = chunks
                .iter()
                .map(|c| c.iter().map(|p| p.count).sum())
                .collect();
            let (last, full) = totals.split_last().unwrap();
            assert!(
                full.iter().all(|&t| t == chunk) && *last <= chunk,
                "{totals:?}"
            );
            let order: Vec<(usize, u64)> = chunks
                .iter()
                .flatten()
                .flat_map(|p| (p.first..p.first + p.count).map(move |r| (p.job, r)))
                .collect();
            let want: Vec<(usize, u64)> = jobs
                .iter()
                .enumerate()
                .flat_map(|(j, job)| (0..job.realizations).map(move |r| (j, r)))
                .collect();
            assert_eq!(order, want, "chunks of {chunk}");
        }
        assert_eq!(chunk_pieces(&[job(0)], 4), vec![vec![]]);
    }

    #[test]
    fn gain_rows_pad_each_row_to_kstride() {
        let rows = gain_rows(&[vec![1.0, 2.0], vec![3.0]], 3);
        assert_eq!(rows, [1.0, 2.0, 0.0, 3.0, 0.0, 0.0]);
    }
}
