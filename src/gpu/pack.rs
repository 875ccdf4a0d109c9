//! The kernels' inputs packed on the CPU in the layouts the WGSL indexes. No wgpu here.

use crate::library::Library;

/// The ChaCha key words of `crate::channel::stream_key` (little-endian u32s).
pub fn key_words(key: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().expect("4 bytes")))
}

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
