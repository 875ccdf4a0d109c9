//! Channels and random streams (docs/algorithms/monte-carlo.md). Every draw comes from ChaCha8 keyed by
//! `(master seed, sweep point, trial, purpose)`; realizations are ChaCha streams under that key.
//! Nothing depends on thread, shard or backend, so a study's numbers are reproducible anywhere.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a stream is for; part of the key so purposes never share draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// The synthetic library generator.
    Library = 1,
    /// Task draws and QoS of devices.
    Tasks = 2,
    /// Channel gains.
    Channel = 3,
}

/// The 256-bit ChaCha key of a stream: four little-endian u64 words.
pub fn stream_key(seed: u64, point: u64, trial: u64, purpose: Purpose) -> [u8; 32] {
    let mut key = [0u8; 32];
    for (chunk, word) in key
        .chunks_exact_mut(8)
        .zip([seed, point, trial, purpose as u64])
    {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    key
}

/// The generator for `(seed, point, trial, purpose)`, stream (realization) `stream`.
pub fn stream_rng(seed: u64, point: u64, trial: u64, purpose: Purpose, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(stream_key(seed, point, trial, purpose));
    rng.set_stream(stream);
    rng
}

/// A uniform in `[0, 1)` from the top 53 bits of one u64 (portable, backend-independent).
#[inline]
pub fn uniform(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `Exp(1)` by inversion, `-ln(1 - u)`: one u64 per draw, so the GPU can reproduce it.
#[inline]
pub fn exp1(rng: &mut impl Rng) -> f64 {
    -(-uniform(rng)).ln_1p()
}

/// Rayleigh fading gains `H_k = path_loss * g_k`, `g_k ~ Exp(1)`, for realization `r` of a trial.
/// Device `k` uses the `k`-th u64 of the stream.
pub fn rayleigh_gains(seed: u64, point: u64, trial: u64, r: u64, path_loss: f64, out: &mut [f64]) {
    let mut rng = stream_rng(seed, point, trial, Purpose::Channel, r);
    for g in out.iter_mut() {
        *g = path_loss * exp1(&mut rng);
    }
}
