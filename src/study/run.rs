//! Running the work units of a study on a backend.
//!
//! A work unit is `(point, trial)`. Its library comes from the study seed (one per point, or
//! from `(seed, point, trial)` with `library_per_trial`), its tasks from the stream
//! `(seed, point, trial, Tasks)`, and realization `r` of its channels from ChaCha stream `r`
//! under `(seed, point, trial, Channel)` — never from thread, shard or backend. Each unit folds
//! its samples in realization order into its own statistics.

use std::sync::Arc;

use rand::Rng as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::shard::Shard;
use super::spec::{Metric, PointParams, Scheme, Study};
use super::stats::{Acc, Cell};
use crate::backend::{Backend, JobStats, PowerJob, PowerSettings};
use crate::channel::{Purpose, rayleigh_gains, stream_rng};
use crate::error::{FieldError, MbaError, Result};
use crate::latency::{Delivery, LatencyPlan, Planner};
use crate::library::generate::{draw_tasks, generate_library};
use crate::library::{Device, Instance, Library};
use crate::power::Link;
use crate::selection::exact::StoppedBy;
use crate::selection::lagrangian::{LagrangianResult, lagrangian};
use crate::selection::{Selection, gap};
use crate::solve::{ExactMethod, exact_from_best_start};

/// Statistics of one work unit: `accs[s * METRICS + m]` for the study's `s`-th scheme and metric
/// `Metric::ALL[m]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitStats {
    pub point: u32,
    pub trial: u64,
    pub accs: Vec<Acc>,
    /// 1 when the trial's optimal selection stopped at a limit without proving optimality.
    #[serde(default)]
    pub bnb_unproven: u64,
    /// 1 when that stop was the wall-clock safety net: the unit is then not reproducible.
    #[serde(default)]
    pub bnb_timed_out: u64,
}

/// A trial's exact selection and how its solve ended.
struct BnbPick {
    selection: Selection,
    lower_bound: usize,
    optimal: bool,
    timed_out: bool,
}

pub const METRICS: usize = Metric::ALL.len();

/// Realization-times-trial samples per batch of trials, one backend call each (gives the
/// progress bar something to show; backends bound their own memory). Public so tests can
/// cross a batch boundary.
pub const BATCH_SAMPLES: u64 = 1 << 16;

/// The library of point `p` (trial `t` when libraries are drawn per trial).
fn library_for(study: &Study, pt: &PointParams, p: usize, t: u64) -> Arc<Library> {
    if let Some(inst) = &study.instance {
        return Arc::clone(&inst.library);
    }
    let s = &study.file.study;
    let seed = if s.library_per_trial {
        stream_rng(s.seed, p as u64, t, Purpose::Library, 0).next_u64()
    } else {
        s.seed
    };
    Arc::new(generate_library(&pt.generator, seed))
}

/// Devices of trial `t` at point `p`: tasks by the popularity model, QoS by the ratio.
fn devices_for(study: &Study, pt: &PointParams, lib: &Library, p: usize, t: u64) -> Vec<Device> {
    if let Some(inst) = &study.instance {
        return inst.devices.clone();
    }
    let mut rng = stream_rng(study.file.study.seed, p as u64, t, Purpose::Tasks, 0);
    draw_tasks(&pt.generator, &mut rng)
        .into_iter()
        .map(|task| Device {
            task,
            qos: pt.generator.qos_ratio * lib.own_score(task),
            gain: None,
            backup: None,
        })
        .collect()
}

/// Run this shard's units of `study` on `backend`; `progress(n)` is told as units finish.
/// Units come back in canonical `(point, trial)` order.
pub fn run_units(
    study: &Study,
    backend: &dyn Backend,
    shard: Shard,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<UnitStats>> {
    let f = &study.file;
    let trials = f.study.trials;
    let per_batch = (BATCH_SAMPLES / f.study.realizations).clamp(1, 256) as usize;
    let mut out = Vec::new();
    for p in 0..f.points() {
        let mine: Vec<u64> = (0..trials)
            .filter(|&t| shard.owns(p as u64 * trials + t))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let pt = f.point(p);
        let shared = (!f.study.library_per_trial).then(|| library_for(study, &pt, p, 0));
        for chunk in mine.chunks(per_batch) {
            let batch = Batch {
                study,
                backend,
                pt: &pt,
                p,
                trials: chunk,
                shared: shared.as_ref(),
            };
            out.extend(batch.run()?);
            progress(chunk.len() as u64);
        }
    }
    Ok(out)
}

/// Selections of a batch of trials: greedy always (constant power and unicast use its trial
/// setup), branch and bound when `mba_bnb` is compared.
struct Selected {
    instances: Vec<Instance>,
    greedy: Vec<Selection>,
    /// Optimal selections and whether each was proven optimal.
    bnb: Option<Vec<BnbPick>>,
    /// Lagrangian selections with their bounds, when `mba_lagrangian` is compared.
    lagrangian: Option<Vec<LagrangianResult>>,
    /// Plain multicast's jobs (not yet keyed to a trial's stream), when `multicast` is compared.
    multicast: Option<Vec<PowerJob>>,
}

/// One batch of trials at one point of a study: selected together, then run through power
/// control together.
struct Batch<'a> {
    study: &'a Study,
    backend: &'a dyn Backend,
    pt: &'a PointParams,
    /// The point's index.
    p: usize,
    trials: &'a [u64],
    /// The point's library when every trial shares it.
    shared: Option<&'a Arc<Library>>,
}

impl Batch<'_> {
    /// Greedy always; Lagrangian when `mba_lagrangian` is compared or `mba_bnb` starts from
    /// it; branch and bound from the better of the two.
    fn select(&self) -> Result<Selected> {
        let schemes = &self.study.file.study.schemes;
        let (with_bnb, with_lag) = (
            schemes.contains(&Scheme::MbaBnb),
            schemes.contains(&Scheme::MbaLagrangian),
        );
        let instances = self.instances();
        let greedy = self.greedy(&instances)?;
        let lag = if with_bnb || with_lag {
            Some(self.lagrangian(&instances)?)
        } else {
            None
        };
        let bnb = match &lag {
            Some(lag) if with_bnb => Some(self.bnb(&instances, &greedy, lag)?),
            _ => None,
        };
        let n = self.pt.generator.blocks;
        let multicast = schemes.contains(&Scheme::Multicast).then(|| {
            instances
                .iter()
                .map(|i| PowerJob::multicast(&i.tasks(), n))
                .collect()
        });
        Ok(Selected {
            instances,
            greedy,
            bnb,
            lagrangian: lag.filter(|_| with_lag),
            multicast,
        })
    }

    fn instances(&self) -> Vec<Instance> {
        let Batch {
            study,
            pt,
            p,
            shared,
            ..
        } = *self;
        self.trials
            .par_iter()
            .map(|&t| {
                let library = match shared {
                    Some(l) => l.clone(),
                    None => library_for(study, pt, p, t),
                };
                let devices = devices_for(study, pt, &library, p, t);
                Instance { library, devices }
            })
            .collect()
    }

    /// Greedy selections: one backend call for the batch when the trials share a library.
    fn greedy(&self, instances: &[Instance]) -> Result<Vec<Selection>> {
        let (backend, opts) = (self.backend, &self.study.file.greedy);
        let greedy = match self.shared {
            Some(lib) => {
                let devs: Vec<Vec<Device>> = instances.iter().map(|i| i.devices.clone()).collect();
                backend.greedy_batch(lib, &devs, opts)?
            }
            None => instances
                .par_iter()
                .map(|i| {
                    backend
                        .greedy_batch(&i.library, std::slice::from_ref(&i.devices), opts)
                        .map(|mut v| v.remove(0))
                })
                .collect::<Result<Vec<_>>>()?,
        };
        if greedy.len() != instances.len() {
            return Err(MbaError::Backend {
                backend: backend.name(),
                what: format!(
                    "returned {} selections for {} trials",
                    greedy.len(),
                    instances.len()
                ),
            });
        }
        Ok(greedy)
    }

    /// Branch and bound from the better of each trial's greedy and Lagrangian selections, with
    /// the better bound and whether it was proven optimal.
    fn bnb(
        &self,
        instances: &[Instance],
        greedy: &[Selection],
        lag: &[LagrangianResult],
    ) -> Result<Vec<BnbPick>> {
        let (p, opts) = (self.p, &self.study.file.exact);
        instances
            .par_iter()
            .zip(greedy.par_iter().zip(lag))
            .zip(self.trials)
            .map(|((inst, (g, l)), &t)| {
                exact_from_best_start(inst, ExactMethod::Bnb, opts, g.clone(), l, &|_| {})
                    .map(|(r, _)| BnbPick {
                        timed_out: r.stopped_by == Some(StoppedBy::Time),
                        optimal: r.optimal,
                        lower_bound: r.lower_bound,
                        selection: r.selection,
                    })
                    .map_err(|e| MbaError::InTrial {
                        scheme: "mba_bnb",
                        point: p,
                        trial: t,
                        source: Box::new(e),
                    })
            })
            .collect()
    }

    /// Lagrangian selection of each trial, started from greedy under the study's `[greedy]` on
    /// the CPU (so it never depends on the backend).
    fn lagrangian(&self, instances: &[Instance]) -> Result<Vec<LagrangianResult>> {
        let (p, f) = (self.p, &self.study.file);
        instances
            .par_iter()
            .zip(self.trials)
            .map(|(inst, &t)| {
                lagrangian(inst, &f.lagrangian, &f.greedy).map_err(|e| MbaError::InTrial {
                    scheme: "mba_lagrangian",
                    point: p,
                    trial: t,
                    source: Box::new(e),
                })
            })
            .collect()
    }

    fn run(&self) -> Result<Vec<UnitStats>> {
        let sel = self.select()?;
        let mut units = self.block_units(&sel);
        let schemes = &self.study.file.study.schemes;
        if schemes.iter().any(|s| !s.is_latency()) {
            self.add_latencies(&sel, &mut units)?;
        }
        if self.study.file.has_latency() {
            self.add_plans(&sel, &mut units)?;
        }
        Ok(units)
    }

    /// Latency-constrained plans of every realization, for the latency schemes.
    fn add_plans(&self, sel: &Selected, units: &mut [UnitStats]) -> Result<()> {
        let (f, pt, p) = (&self.study.file, self.pt, self.p);
        let link = Link::from(&pt.system);
        let budget = pt.latency.budget_s.unwrap_or(0.0);
        let groups = groups_at(self.study, p);
        units
            .par_iter_mut()
            .zip(&sel.instances)
            .zip(self.trials)
            .try_for_each(|((unit, inst), &t)| {
                for (s, scheme) in f.study.schemes.iter().enumerate() {
                    let delivery = match scheme {
                        Scheme::MbaLatency => Delivery::Mba,
                        Scheme::UnicastLatency => Delivery::Unicast,
                        _ => continue,
                    };
                    let mut planner = Planner::new(inst, delivery, &pt.latency).map_err(|e| {
                        MbaError::InTrial {
                            scheme: scheme.name(),
                            point: p,
                            trial: t,
                            source: Box::new(e.in_file(&self.study.source)),
                        }
                    })?;
                    let mut gains = vec![0.0; inst.num_devices()];
                    for r in 0..f.study.realizations {
                        rayleigh_gains(
                            f.study.seed,
                            p as u64,
                            t,
                            r,
                            pt.system.path_loss,
                            &mut gains,
                        );
                        let plan = planner.plan(&gains, &link, budget);
                        push_plan(
                            &mut unit.accs,
                            (s, f.study.schemes.len(), groups),
                            inst,
                            &plan,
                        );
                    }
                }
                Ok(())
            })
    }

    /// One unit per trial, holding its blocks sent per scheme.
    fn block_units(&self, sel: &Selected) -> Vec<UnitStats> {
        let schemes = &self.study.file.study.schemes;
        let n = self.pt.generator.blocks;
        self.trials
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let mut accs = vec![Acc::default(); cells_at(self.study, self.p)];
                let blocks = TrialBlocks {
                    // Greedy proves nothing beyond the trivial bound: one block per position.
                    greedy: (sel.greedy[i].num_blocks(), n),
                    bnb: sel
                        .bnb
                        .as_ref()
                        .map(|v| (v[i].selection.num_blocks(), v[i].lower_bound)),
                    lagrangian: sel
                        .lagrangian
                        .as_ref()
                        .map(|v| (v[i].selection.num_blocks(), v[i].lower_bound)),
                    unicast: sel.instances[i].num_devices() * n,
                    multicast: sel.multicast.as_ref().map(|v| v[i].num_blocks()),
                };
                push_blocks(&mut accs, schemes, &blocks);
                UnitStats {
                    point: self.p as u32,
                    trial: t,
                    accs,
                    bnb_unproven: sel.bnb.as_ref().map_or(0, |v| u64::from(!v[i].optimal)),
                    bnb_timed_out: sel.bnb.as_ref().map_or(0, |v| u64::from(v[i].timed_out)),
                }
            })
            .collect()
    }

    /// Power control over every realization: one backend call for the batch's jobs (per trial:
    /// greedy, then bnb and lagrangian when compared), whose statistics go into each trial's unit.
    fn add_latencies(&self, sel: &Selected, units: &mut [UnitStats]) -> Result<()> {
        let Batch {
            study,
            backend,
            pt,
            p,
            trials,
            ..
        } = *self;
        let f = &study.file;
        let n = pt.generator.blocks;
        let settings = PowerSettings {
            link: Link::from(&pt.system),
            path_loss: pt.system.path_loss,
            constant_power_w: pt.system.constant_power_w,
        };
        let r = f.study.realizations;
        let mut jobs = Vec::with_capacity(trials.len() * 3);
        for (i, &t) in trials.iter().enumerate() {
            jobs.push(job(&sel.greedy[i], n, f.study.seed, p, t, r));
            if let Some(b) = &sel.bnb {
                jobs.push(job(&b[i].selection, n, f.study.seed, p, t, r));
            }
            if let Some(l) = &sel.lagrangian {
                jobs.push(job(&l[i].selection, n, f.study.seed, p, t, r));
            }
            if let Some(m) = &sel.multicast {
                jobs.push(keyed(m[i].clone(), f.study.seed, p, t, r));
            }
        }
        let stats = backend.power_stats(&settings, &jobs)?;
        if stats.len() != jobs.len() {
            return Err(MbaError::Backend {
                backend: backend.name(),
                what: format!(
                    "returned {} statistics for {} jobs",
                    stats.len(),
                    jobs.len()
                ),
            });
        }
        // Per trial: greedy, then bnb, lagrangian and multicast when compared.
        let per_trial = jobs.len() / trials.len().max(1);
        for (unit, of_trial) in units.iter_mut().zip(stats.chunks(per_trial)) {
            let mut parts = of_trial.iter();
            let greedy = parts.next();
            let mut next_if = |on: bool| if on { parts.next() } else { None };
            let by = TrialStats {
                greedy,
                bnb: next_if(sel.bnb.is_some()),
                lagrangian: next_if(sel.lagrangian.is_some()),
                multicast: next_if(sel.multicast.is_some()),
            };
            add_trial_latencies(&mut unit.accs, &f.study.schemes, &by);
        }
        Ok(())
    }
}

fn job(sel: &Selection, n: usize, seed: u64, p: usize, t: u64, realizations: u64) -> PowerJob {
    keyed(PowerJob::from_selection(sel, n), seed, p, t, realizations)
}

/// `base` for the realizations of trial `t` at point `p`.
fn keyed(base: PowerJob, seed: u64, p: usize, t: u64, realizations: u64) -> PowerJob {
    PowerJob {
        seed,
        point: p as u64,
        trial: t,
        realizations,
        ..base
    }
}

/// A trial's `(|Y|, proven lower bound)` per selection, unicast's `K N` blocks and multicast's
/// `N` per distinct task.
struct TrialBlocks {
    greedy: (usize, usize),
    bnb: Option<(usize, usize)>,
    lagrangian: Option<(usize, usize)>,
    unicast: usize,
    multicast: Option<usize>,
}

/// A trial's latency statistics under each selection (`None`: not compared).
struct TrialStats<'a> {
    greedy: Option<&'a JobStats>,
    bnb: Option<&'a JobStats>,
    lagrangian: Option<&'a JobStats>,
    /// Multicast's job: its `mba` statistics are plain multicast's.
    multicast: Option<&'a JobStats>,
}

/// A trial's blocks sent and gap to the proven bound, one sample each per scheme. Unicast and
/// multicast select nothing, so they have no gap sample.
fn push_blocks(accs: &mut [Acc], schemes: &[Scheme], blocks: &TrialBlocks) {
    let with_bound = |(y, lb): (usize, usize)| (y, Some(lb));
    for (s, scheme) in schemes.iter().enumerate() {
        let picked = match scheme {
            Scheme::MbaGreedy | Scheme::MbaConstantPower => Some(with_bound(blocks.greedy)),
            Scheme::MbaBnb => blocks.bnb.map(with_bound),
            Scheme::MbaLagrangian => blocks.lagrangian.map(with_bound),
            Scheme::Unicast => Some((blocks.unicast, None)),
            // Their blocks depend on the realization: counted with each plan.
            Scheme::MbaLatency | Scheme::UnicastLatency => None,
            Scheme::Multicast => blocks.multicast.map(|y| (y, None)),
        };
        let Some((y, bound)) = picked else { continue };
        let cell = &mut accs[s * METRICS..(s + 1) * METRICS];
        cell[Metric::Blocks.slot()].push(y as f64);
        if let Some(lb) = bound {
            cell[Metric::Gap.slot()].push(gap(y, lb));
        }
    }
}

/// Add a trial's latency statistics, each scheme's from its selection's job. The cells start
/// empty, so they hold exactly what the backend folded.
fn add_trial_latencies(accs: &mut [Acc], schemes: &[Scheme], by: &TrialStats) {
    for (s, scheme) in schemes.iter().enumerate() {
        let stats = match scheme {
            Scheme::MbaGreedy => by.greedy.map(|j| &j.mba),
            Scheme::MbaBnb => by.bnb.map(|j| &j.mba),
            Scheme::MbaLagrangian => by.lagrangian.map(|j| &j.mba),
            Scheme::MbaConstantPower => by.greedy.map(|j| &j.constant),
            Scheme::Unicast => by.greedy.map(|j| &j.unicast),
            Scheme::Multicast => by.multicast.map(|j| &j.mba),
            Scheme::MbaLatency | Scheme::UnicastLatency => None,
        };
        let Some(stats) = stats else { continue };
        let cell = &mut accs[s * METRICS..(s + 1) * METRICS];
        cell[Metric::LatencyS.slot()].merge(&stats.latency_s);
        cell[Metric::LatencyPerDeviceS.slot()].merge(&stats.latency_per_device_s);
    }
}

/// Device groups recorded at point `p`: one per task of the library when a latency scheme is
/// compared, none otherwise.
pub fn groups_at(study: &Study, p: usize) -> usize {
    if !study.file.has_latency() {
        return 0;
    }
    match &study.instance {
        Some(inst) => inst.library.models(),
        None => study.file.point(p).generator.models,
    }
}

/// Accumulators of a unit at point `p`: `schemes x METRICS`, then per scheme, group and grouped
/// metric (`Metric::GROUPED`), `[METRICS * S + (s * G + g) * GROUPED + j]`.
pub fn cells_at(study: &Study, p: usize) -> usize {
    let s = study.file.study.schemes.len();
    s * METRICS + s * groups_at(study, p) * Metric::GROUPED.len()
}

/// Task names of the groups at point `p`.
pub fn group_names(study: &Study, p: usize) -> Vec<String> {
    let groups = groups_at(study, p);
    if groups == 0 {
        return Vec::new();
    }
    match &study.instance {
        Some(inst) => inst.library.task_names().to_vec(),
        None => study.file.point(p).generator.task_names(),
    }
}

/// One plan's samples: latency, blocks sent, mean score and smallest ratio, then per group
/// (the devices of one task) their mean score, ratio and blocks received. `at` is
/// `(scheme, schemes, G)`.
fn push_plan(accs: &mut [Acc], at: (usize, usize, usize), inst: &Instance, plan: &LatencyPlan) {
    let (s, schemes, groups) = at;
    let k = inst.num_devices() as f64;
    let cell = &mut accs[s * METRICS..(s + 1) * METRICS];
    cell[Metric::LatencyS.slot()].push(plan.latency_s);
    cell[Metric::LatencyPerDeviceS.slot()].push(plan.latency_s / k);
    cell[Metric::Blocks.slot()].push(plan.sent.len() as f64);
    cell[Metric::Score.slot()].push(plan.scores.iter().sum::<f64>() / k);
    let smallest = plan.ratios.iter().copied().fold(f64::INFINITY, f64::min);
    cell[Metric::ScoreRatio.slot()].push(smallest);
    for g in 0..groups {
        let members: Vec<usize> = (0..inst.num_devices())
            .filter(|&d| inst.devices[d].task == g)
            .collect();
        if members.is_empty() {
            continue;
        }
        let n = members.len() as f64;
        let base = schemes * METRICS + (s * groups + g) * Metric::GROUPED.len();
        let received = |d: usize| {
            plan.sent
                .iter()
                .filter(|b| b.requesters.contains(&d))
                .count()
        };
        accs[base].push(members.iter().map(|&d| plan.scores[d]).sum::<f64>() / n);
        accs[base + 1].push(members.iter().map(|&d| plan.ratios[d]).sum::<f64>() / n);
        accs[base + 2].push(members.iter().map(|&d| received(d) as f64).sum::<f64>() / n);
    }
}

/// Combine units into per-point statistics, in `(point, trial)` order: `out[p][s * METRICS + m]`.
/// The units must cover the study exactly once (checked).
pub fn reduce(study: &Study, units: &mut [UnitStats]) -> Result<Vec<Vec<Cell>>, FieldError> {
    let f = &study.file;
    units.sort_by_key(|u| (u.point, u.trial));
    let expected = study.units();
    if units.len() as u64 != expected {
        return Err(FieldError::new(
            "units",
            format!(
                "the parts cover {} of the study's {expected} work units",
                units.len()
            ),
        ));
    }
    let mut out: Vec<Vec<Cell>> = (0..f.points())
        .map(|p| vec![Cell::default(); cells_at(study, p)])
        .collect();
    for (idx, u) in units.iter().enumerate() {
        let want = (idx as u64 / f.study.trials, idx as u64 % f.study.trials);
        if (u.point as u64, u.trial) != want || u.accs.len() != cells_at(study, u.point as usize) {
            return Err(FieldError::new(
                "units",
                format!(
                    "work unit (point {}, trial {}) is duplicated or malformed",
                    u.point, u.trial
                ),
            ));
        }
        for (a, x) in out[u.point as usize].iter_mut().zip(&u.accs) {
            a.add_trial(x);
        }
    }
    Ok(out)
}
