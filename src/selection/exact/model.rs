//! The compact form of (P2.1) that branch and bound works on: undominated physical blocks and
//! one device class per requested task, plus the LP relaxation over them.

use highs::{Col, Model, RowProblem, Sense};

use crate::library::Instance;
use crate::selection::{QOS_TOLERANCE, Selection};

/// A device class: every device of one task. Only the strictest QoS of the task matters: an
/// assembly that meets it meets every looser one, and devices of one task can share assemblies.
#[derive(Debug, Clone)]
pub struct Class {
    pub task: usize,
    pub qos: f64,
    pub devices: Vec<usize>,
}

/// Undominated physical blocks and device classes.
#[derive(Debug, Clone)]
pub struct Compact {
    pub positions: usize,
    /// `(canonical model, position)` of each kept block, grouped by position.
    pub blocks: Vec<(usize, usize)>,
    /// Kept block indices at each position.
    pub by_pos: Vec<Vec<usize>>,
    pub classes: Vec<Class>,
    /// `score[c * blocks.len() + b]`: block `b`'s score for class `c`'s task.
    pub score: Vec<f64>,
    /// Physical blocks removed as dominated.
    pub dominated: usize,
    /// `best_at[c * N + n]`: class `c`'s best score at `n`.
    pub best_at: Vec<f64>,
    /// `slack[c]`: total loss class `c` can afford, `sum_n best_c(n) - qos`.
    pub slack: Vec<f64>,
}

/// The integral bound a fractional lower bound proves (an LP, Lagrangian or MIP dual value).
pub fn int_bound(value: f64) -> usize {
    (value - 1e-6).ceil().max(0.0) as usize
}

/// The QoS target the LP and the checks use: `meets_qos`'s tolerance, so both agree.
pub fn qos_floor(qos: f64) -> f64 {
    qos - QOS_TOLERANCE * qos.abs().max(1.0)
}

/// A QoS row `sum_b s_b x_b >= qos_floor(qos)` as HiGHS gets it: divided by its largest
/// magnitude when that lies outside 1e-3..=1e6, an equivalent constraint. HiGHS rejects the whole model ("invalid problem") when
/// an entry reaches 1e15 and drops entries below 1e-9, so raw scores of any other scale would
/// fail or change the model; scaled, every entry is at most 1.
pub fn qos_row(
    qos: f64,
    coeffs: impl Iterator<Item = (Col, f64)>,
) -> (std::ops::RangeFrom<f64>, Vec<(Col, f64)>) {
    let floor = qos_floor(qos);
    let mut row: Vec<(Col, f64)> = coeffs.collect();
    let top = row.iter().map(|e| e.1.abs()).fold(floor.abs(), f64::max);
    // Rows of ordinary magnitude go to HiGHS as they are, so ordinary instances keep the model
    // (and the work-budgeted path) they had. Dividing (not multiplying by 1 / top) stays
    // finite for a subnormal `top`.
    let ordinary = (1e-3..=1e6).contains(&top);
    let scale = if top > 0.0 && top.is_finite() && !ordinary {
        top
    } else {
        1.0
    };
    for e in &mut row {
        e.1 /= scale;
    }
    (floor / scale.., row)
}

impl Compact {
    pub fn new(inst: &Instance) -> Compact {
        let lib = &inst.library;
        let classes = classes(inst);
        let mut blocks = Vec::new();
        let mut by_pos = Vec::with_capacity(lib.blocks());
        let mut dominated = 0;
        for n in 0..lib.blocks() {
            let physical: Vec<usize> = (0..lib.models())
                .filter(|&i| lib.canonical(i, n) == i)
                .collect();
            let vec_of = |i: usize| -> Vec<f64> {
                classes.iter().map(|c| lib.score(c.task, i, n)).collect()
            };
            let vecs: Vec<Vec<f64>> = physical.iter().map(|&i| vec_of(i)).collect();
            let mut here = Vec::new();
            for (a, &i) in physical.iter().enumerate() {
                if (0..physical.len()).any(|b| b != a && dominates(&vecs[b], b, &vecs[a], a)) {
                    dominated += 1;
                } else {
                    here.push(blocks.len());
                    blocks.push((i, n));
                }
            }
            by_pos.push(here);
        }
        let score = classes
            .iter()
            .flat_map(|c| blocks.iter().map(move |&(i, n)| lib.score(c.task, i, n)))
            .collect();
        let mut cm = Compact {
            positions: lib.blocks(),
            blocks,
            by_pos,
            classes,
            score,
            dominated,
            best_at: Vec::new(),
            slack: Vec::new(),
        };
        cm.best_at = (0..cm.classes.len())
            .flat_map(|c| (0..cm.positions).map(move |n| (c, n)))
            .map(|(c, n)| {
                cm.by_pos[n]
                    .iter()
                    .map(|&b| cm.s(c, b))
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .collect();
        cm.slack = (0..cm.classes.len())
            .map(|c| {
                let top: f64 = cm.best_at[c * cm.positions..(c + 1) * cm.positions]
                    .iter()
                    .sum();
                top - qos_floor(cm.classes[c].qos)
            })
            .collect();
        cm
    }

    #[inline]
    pub fn s(&self, c: usize, b: usize) -> f64 {
        self.score[c * self.blocks.len() + b]
    }

    /// Best score of class `c` from the blocks `allowed`, `-inf` if a position has none.
    pub fn best_score(&self, c: usize, allowed: impl Fn(usize) -> bool) -> f64 {
        self.by_pos
            .iter()
            .map(|bs| {
                bs.iter()
                    .filter(|&&b| allowed(b))
                    .map(|&b| self.s(c, b))
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .sum()
    }

    /// Whether the blocks `allowed` let class `c` reach its QoS.
    pub fn feasible_class(&self, c: usize, allowed: impl Fn(usize) -> bool) -> bool {
        self.best_score(c, allowed) >= qos_floor(self.classes[c].qos)
    }

    /// Whether the blocks `allowed` let every class reach its QoS.
    pub fn feasible(&self, allowed: impl Fn(usize) -> bool + Copy) -> bool {
        (0..self.classes.len()).all(|c| self.feasible_class(c, allowed))
    }

    /// A combinatorial bound under fixings: blocks fixed to 1, plus one for each position
    /// that has none.
    pub fn fixed_bound(&self, fix: &[i8]) -> usize {
        let ones = fix.iter().filter(|&&f| f == 1).count();
        let open = self
            .by_pos
            .iter()
            .filter(|bs| !bs.iter().any(|&b| fix[b] == 1))
            .count();
        ones + open
    }

    /// Drop blocks from the feasible set `chosen`, in `order`, while every class still reaches
    /// its QoS with its best remaining block at each position.
    pub fn make_minimal(&self, chosen: &mut [bool], order: &[usize]) {
        let nc = self.classes.len();
        let max_at = |c: usize, n: usize, chosen: &[bool]| {
            self.by_pos[n]
                .iter()
                .filter(|&&b| chosen[b])
                .map(|&b| self.s(c, b))
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let mut best: Vec<f64> = (0..nc)
            .flat_map(|c| (0..self.positions).map(move |n| (c, n)))
            .map(|(c, n)| max_at(c, n, chosen))
            .collect();
        let mut total: Vec<f64> = (0..nc)
            .map(|c| {
                best[c * self.positions..(c + 1) * self.positions]
                    .iter()
                    .sum()
            })
            .collect();
        for &b in order {
            let n = self.blocks[b].1;
            chosen[b] = false;
            let after: Vec<f64> = (0..nc).map(|c| max_at(c, n, chosen)).collect();
            let ok = (0..nc).all(|c| {
                total[c] - best[c * self.positions + n] + after[c] >= qos_floor(self.classes[c].qos)
            });
            if !ok {
                chosen[b] = true;
                continue;
            }
            for c in 0..nc {
                let slot = &mut best[c * self.positions + n];
                total[c] += after[c] - *slot;
                *slot = after[c];
            }
        }
    }

    /// How many classes take each chosen block as their best at its position.
    pub fn usage(&self, chosen: &[bool]) -> Vec<usize> {
        let mut used = vec![0; self.blocks.len()];
        for c in 0..self.classes.len() {
            for bs in &self.by_pos {
                let best = bs
                    .iter()
                    .filter(|&&b| chosen[b])
                    .max_by(|&&a, &&b| self.s(c, a).total_cmp(&self.s(c, b)).then(b.cmp(&a)));
                if let Some(&b) = best {
                    used[b] += 1;
                }
            }
        }
        used
    }

    /// Local search on a feasible `chosen`: add one block, then drop what became redundant
    /// (least used first); keep any move that shrinks the set, until none does.
    pub fn improve(&self, chosen: &mut Vec<bool>) {
        let count = |c: &[bool]| c.iter().filter(|&&x| x).count();
        let mut size = count(chosen);
        'outer: loop {
            let used = self.usage(chosen);
            let mut order: Vec<usize> = (0..chosen.len()).filter(|&b| chosen[b]).collect();
            order.sort_by_key(|&b| used[b]);
            for a in 0..chosen.len() {
                if chosen[a] {
                    continue;
                }
                let mut trial = chosen.clone();
                trial[a] = true;
                self.make_minimal(&mut trial, &order);
                let n = count(&trial);
                if n < size {
                    *chosen = trial;
                    size = n;
                    continue 'outer;
                }
            }
            break;
        }
    }

    /// An incumbent when none is given: the whole compact library, made minimal.
    pub fn fallback_incumbent(&self, inst: &Instance) -> crate::error::Result<Selection> {
        let mut chosen = vec![true; self.blocks.len()];
        let order: Vec<usize> = (0..self.blocks.len()).collect();
        self.make_minimal(&mut chosen, &order);
        self.selection(inst, &chosen)
            .ok_or_else(|| crate::error::MbaError::Infeasible {
                reason: "no selection meets every QoS with the whole library".into(),
            })
    }

    /// The checked selection for a broadcast set: each device takes its best block in the set
    /// at each position.
    pub fn selection(&self, inst: &Instance, chosen: &[bool]) -> Option<Selection> {
        let mut assignment = vec![Vec::new(); inst.num_devices()];
        for (c, class) in self.classes.iter().enumerate() {
            let row: Option<Vec<usize>> = self
                .by_pos
                .iter()
                .map(|bs| {
                    let mut best: Option<usize> = None;
                    for &b in bs.iter().filter(|&&b| chosen[b]) {
                        if best.is_none_or(|x| self.s(c, b) > self.s(c, x)) {
                            best = Some(b);
                        }
                    }
                    best.map(|b| self.blocks[b].0)
                })
                .collect();
            let row = row?;
            for &k in &class.devices {
                assignment[k] = row.clone();
            }
        }
        Selection::verified(inst, assignment).ok()
    }

    /// Each class's best block among `chosen` at each position (empty where it has none).
    pub fn assemblies(&self, chosen: &[bool]) -> Vec<Vec<usize>> {
        (0..self.classes.len())
            .map(|c| {
                self.by_pos
                    .iter()
                    .filter_map(|bs| {
                        bs.iter()
                            .copied()
                            .filter(|&b| chosen[b])
                            .max_by(|&a, &b| self.s(c, a).total_cmp(&self.s(c, b)).then(b.cmp(&a)))
                    })
                    .collect()
            })
            .collect()
    }

    /// The kept blocks that serve a selection at least as well: each broadcast block, or a kept
    /// block at its position that scores at least as high for every class.
    pub fn chosen_of(&self, inst: &Instance, sel: &Selection) -> Vec<bool> {
        let lib = &inst.library;
        let mut chosen = vec![false; self.blocks.len()];
        for &(i, n) in &sel.broadcast {
            let i = lib.canonical(i, n);
            let covers = |b: usize| {
                self.classes
                    .iter()
                    .enumerate()
                    .all(|(c, class)| self.s(c, b) >= lib.score(class.task, i, n))
            };
            let kept = self.by_pos[n].iter().copied();
            let pick = kept
                .clone()
                .find(|&b| self.blocks[b].0 == i)
                .or_else(|| kept.clone().find(|&b| covers(b)));
            if let Some(b) = pick {
                chosen[b] = true;
            }
        }
        chosen
    }

    /// Class `c`'s loss budget `slack_c`, with a little room so that rounding never excludes an
    /// assembly the checker accepts.
    pub fn loss_budget(&self, c: usize) -> f64 {
        self.slack[c] * (1.0 + 1e-9) + 1e-9
    }

    /// Whether block `b`'s loss alone fits in class `c`'s budget: otherwise no assembly of the
    /// class contains it.
    pub fn usable(&self, c: usize, b: usize) -> bool {
        self.loss(c, b) <= self.loss_budget(c)
    }

    /// `best_c(n) - s_c(b)`: what class `c` loses by taking `b` instead of its best at `b`'s
    /// position.
    #[inline]
    pub fn loss(&self, c: usize, b: usize) -> f64 {
        self.best_at[c * self.positions + self.blocks[b].1] - self.s(c, b)
    }

    /// The LP relaxation of (P2.1) on the compact model: `y_b` (cost 1), then `x[c][b]`.
    /// With `integral`, `y` are binary (a MIP of the compact model).
    pub fn lp(&self, integral: bool) -> Lp {
        let nb = self.blocks.len();
        let mut pb = RowProblem::default();
        let y: Vec<Col> = (0..nb)
            .map(|_| pb.add_column_with_integrality(1.0, 0.0..=1.0, integral))
            .collect();
        let mut xs = Vec::with_capacity(self.classes.len());
        for (c, class) in self.classes.iter().enumerate() {
            let x: Vec<Col> = (0..nb).map(|_| pb.add_column(0.0, 0.0..=1.0)).collect();
            for bs in &self.by_pos {
                pb.add_row(1.0..=1.0, bs.iter().map(|&b| (x[b], 1.0)));
            }
            let (bound, row) = qos_row(class.qos, (0..nb).map(|b| (x[b], self.s(c, b))));
            pb.add_row(bound, row);
            for b in 0..nb {
                pb.add_row(..=0.0, [(x[b], 1.0), (y[b], -1.0)]);
            }
            xs.push(x);
        }
        let mut model = pb.optimise(Sense::Minimise);
        quiet_single_thread(&mut model);
        Lp { model, y, x: xs }
    }
}

/// A HiGHS model of the LP relaxation and its columns.
pub struct Lp {
    pub model: Model,
    pub y: Vec<Col>,
    /// `x[c][b]`.
    pub x: Vec<Vec<Col>>,
}

/// Silence HiGHS and keep it on the calling thread (studies run many solves under rayon).
pub fn quiet_single_thread(model: &mut Model) {
    model.make_quiet();
    model.set_option("threads", 1);
    model.set_option("parallel", "off");
}

/// Devices grouped by task, in order of first appearance.
fn classes(inst: &Instance) -> Vec<Class> {
    let mut out: Vec<Class> = Vec::new();
    for (k, d) in inst.devices.iter().enumerate() {
        match out.iter_mut().find(|c| c.task == d.task) {
            Some(c) => {
                c.qos = c.qos.max(d.qos);
                c.devices.push(k);
            }
            None => out.push(Class {
                task: d.task,
                qos: d.qos,
                devices: vec![k],
            }),
        }
    }
    out
}

/// `a` dominates `b`: at least as good for every class, and better for one or equal with a
/// lower index (so exactly one of a set of equal blocks survives).
fn dominates(a: &[f64], ia: usize, b: &[f64], ib: usize) -> bool {
    if a.iter().zip(b).any(|(x, y)| x < y) {
        return false;
    }
    a.iter().zip(b).any(|(x, y)| x > y) || ia < ib
}
