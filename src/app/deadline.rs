//! `mba solve --latency-budget T`: latency-constrained downloading of one instance, MBA against
//! unicast, printed as a table or JSON.

use mba::error::Result;
use mba::latency::{Delivery, LatencyOptions, LatencyPlan, Planner};
use mba::library::Instance;
use mba::power::{Link, SystemParams};
use std::path::Path;

use serde::Serialize;

/// What `mba solve --latency-budget T --json` prints.
#[derive(Debug, Serialize)]
pub struct LatencyReport {
    pub latency_budget_s: f64,
    pub objective: mba::latency::Objective,
    pub gains: Vec<f64>,
    pub mba: LatencyPlan,
    pub unicast: LatencyPlan,
}

pub fn solve(
    inst: &Instance,
    system: &SystemParams,
    opts: &LatencyOptions,
    budget_s: f64,
    gains: Vec<f64>,
    path: &Path,
) -> Result<LatencyReport> {
    let link = Link::from(system);
    let run = |d| {
        Planner::new(inst, d, opts)
            .map(|mut p| p.plan(&gains, &link, budget_s))
            .map_err(|e| e.in_file(path))
    };
    Ok(LatencyReport {
        latency_budget_s: budget_s,
        objective: opts.objective,
        mba: run(Delivery::Mba)?,
        unicast: run(Delivery::Unicast)?,
        gains,
    })
}

pub fn print(inst: &Instance, r: &LatencyReport, json: bool) -> Result<()> {
    if json {
        println!("{}", super::cli::to_json(r)?);
        return Ok(());
    }
    let lib = &inst.library;
    println!(
        "instance: M = {} models, N = {} blocks, K = {} devices; latency budget {} s, objective {:?}",
        lib.models(),
        lib.blocks(),
        inst.num_devices(),
        r.latency_budget_s,
        r.objective
    );
    println!(
        "{:>6} {:>10} {:>10} {:>12} {:>18} {:>18}",
        "device", "task", "backup", "gain", "MBA score (ratio)", "unicast (ratio)"
    );
    for (k, d) in inst.devices.iter().enumerate() {
        let backup = d
            .backup
            .map_or("-".into(), |b| lib.task_name(b).to_string());
        let cell = |p: &LatencyPlan| format!("{:.4} ({:.3})", p.scores[k], p.ratios[k]);
        println!(
            "{:>6} {:>10} {:>10} {:>12.4e} {:>18} {:>18}",
            k,
            lib.task_name(d.task),
            backup,
            r.gains[k],
            cell(&r.mba),
            cell(&r.unicast)
        );
    }
    for (name, p) in [("mba", &r.mba), ("unicast", &r.unicast)] {
        println!(
            "{name:<8} objective {:.4}, {} blocks sent, latency {:.4} s, energy {:.3} J, {:?}{}",
            p.objective,
            p.sent.len(),
            p.latency_s,
            p.energy_j,
            p.method,
            if p.optimal {
                " (optimal)"
            } else {
                " (heuristic)"
            }
        );
    }
    Ok(())
}
