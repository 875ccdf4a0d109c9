//! `mba bench --compare numba`: the Python peer (`benches/peer_numba.py`, embedded in the
//! binary so it runs wherever `mba` does) on the same jobs as the benchmark, through an
//! installed `python3` with numba and numpy. The peer also solves a check set of mba's own
//! gains, and reports how far its latencies are from mba's there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use mba::backend::{Backend, CpuBackend, PowerJob, PowerSettings};
use mba::channel::rayleigh_gains;
use mba::error::{MbaError, Result};

const PEER_SCRIPT: &str = include_str!("../../benches/peer_numba.py");

/// Which peer `--compare` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Peer {
    /// `benches/peer_numba.py`: its numba (`prange`) and numpy (vectorised) variants.
    Numba,
}

/// One benchmark scale as the peer reads it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerScale {
    pub scale: String,
    pub devices: u32,
    pub blocks_per_model: u32,
    pub req_offsets: Vec<u32>,
    pub req_devices: Vec<u32>,
    pub link: mba::power::Link,
    pub path_loss: f64,
    pub realizations: u64,
    pub check: PeerCheckSet,
}

/// mba's gains and latencies for the first realizations (`null` marks an outage).
#[derive(Debug, Clone, Serialize)]
pub struct PeerCheckSet {
    pub gains: Vec<Vec<f64>>,
    pub mba: Vec<f64>,
    pub constant: Vec<f64>,
    pub unicast: Vec<f64>,
}

/// The peer's largest relative latency difference from mba on the check set, per scheme.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerError {
    pub max_rel_error: f64,
    pub outage_mismatches: u64,
}

/// One measured peer configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerRow {
    pub scale: String,
    pub variant: String,
    pub threads: usize,
    pub realizations: u64,
    pub realizations_per_s: f64,
    pub mean_mba_latency_s: Option<f64>,
    pub mba_outages: u64,
    pub check_realizations: u64,
    pub vs_mba: BTreeMap<String, PeerError>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerReport {
    pub python: String,
    pub numpy: String,
    pub numba: Option<String>,
    pub rows: Vec<PeerRow>,
}

/// The peer's view of one scale: the job, and the check set of its first `check` realizations.
pub fn peer_scale(scale: &str, s: &PowerSettings, job: &PowerJob, check: u64) -> Result<PeerScale> {
    let check_job = PowerJob {
        realizations: check.min(job.realizations),
        ..job.clone()
    };
    let outcomes = CpuBackend.power_batch(s, std::slice::from_ref(&check_job))?;
    let gains = (0..check_job.realizations)
        .map(|r| {
            let mut g = vec![0.0; job.devices as usize];
            rayleigh_gains(job.seed, job.point, job.trial, r, s.path_loss, &mut g);
            g
        })
        .collect();
    Ok(PeerScale {
        scale: scale.to_string(),
        devices: job.devices,
        blocks_per_model: job.blocks_per_model,
        req_offsets: job.req_offsets.clone(),
        req_devices: job.req_devices.clone(),
        link: s.link,
        path_loss: s.path_loss,
        realizations: job.realizations,
        check: PeerCheckSet {
            gains,
            mba: outcomes.iter().map(|o| o.mba).collect(),
            constant: outcomes.iter().map(|o| o.constant).collect(),
            unicast: outcomes.iter().map(|o| o.unicast).collect(),
        },
    })
}

const NEEDS: &str = "it needs python3 with numba and numpy (pip install numba numpy)";

/// Fail early, before any measurement, when `python3` cannot import numba and numpy.
pub fn check_python(peer: Peer) -> Result<()> {
    let Peer::Numba = peer;
    let out = Command::new("python3")
        .args(["-c", "import numpy, numba"])
        .output()
        .map_err(|e| MbaError::flag("--compare", format!("cannot run python3 ({e}): {NEEDS}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or("no message");
    Err(MbaError::flag(
        "--compare",
        format!("python3 failed ({last}): {NEEDS}"),
    ))
}

/// Write the script and the jobs to a fresh temporary folder, run the peer on `threads`
/// threads, and read its report. A missing `python3`, numpy or numba is bad input (exit 2).
pub fn run_peer(peer: Peer, scales: &[PeerScale], threads: usize) -> Result<PeerReport> {
    let Peer::Numba = peer;
    let dir = std::env::temp_dir().join(format!("mba-peer-{}", std::process::id()));
    let io = |path: &Path, e: std::io::Error| MbaError::io(path, e);
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let script = dir.join("peer_numba.py");
    std::fs::write(&script, PEER_SCRIPT).map_err(|e| io(&script, e))?;
    let jobs: PathBuf = dir.join("jobs.json");
    let text = serde_json::to_string(&serde_json::json!({ "scales": scales }))
        .map_err(|e| MbaError::flag("--compare", format!("cannot write the jobs: {e}")))?;
    std::fs::write(&jobs, text).map_err(|e| io(&jobs, e))?;
    let output = Command::new("python3")
        .arg(&script)
        .arg(&jobs)
        .args(["--json", "--threads", &threads.to_string()])
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = output
        .map_err(|e| MbaError::flag("--compare", format!("cannot run python3 ({e}): {NEEDS}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no message");
        return Err(MbaError::flag(
            "--compare",
            format!("the numba peer failed ({last}): {NEEDS}"),
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| MbaError::flag("--compare", format!("unreadable peer report: {e}")))
}
