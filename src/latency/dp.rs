//! The exact program. Positions are added one at a time; a state is the vector `u` of blocks
//! charged to each rank so far (at most one per rank and position, so `u[r] <= N`), and every
//! state keeps the Pareto front of the devices' partial scores. Scores add over positions and
//! the latency depends on `u` alone, so no plan outside the fronts can beat one inside: the best
//! front entry whose `u` fits the budget is optimal.

use super::Fits;
use super::Objective;
use super::prep::Prep;

/// One position's joint choice: an option per device, its charge and its scores.
struct Config {
    pick: Vec<usize>,
    /// State increment: `sum_r charge[r] * radix^r`.
    step: u64,
    score: Vec<f64>,
}

/// Entries after a number of positions: `scores[e * K..(e + 1) * K]` belong to entry `e`.
struct Layer {
    state: Vec<u64>,
    /// Entry of the previous layer and the config that led here.
    parent: Vec<u32>,
    config: Vec<u32>,
    scores: Vec<f64>,
}

pub(crate) struct Table {
    order: Vec<usize>,
    radix: u64,
    configs: Vec<Vec<Config>>,
    layers: Vec<Layer>,
    /// Entries of the last layer, best objective first.
    ranked: Vec<u32>,
}

impl Table {
    /// The program for devices ranked by `order` (weakest first); `None` when it needs more
    /// than `work` score vectors (or its states overflow).
    pub fn build(prep: &Prep, order: &[usize], objective: Objective, work: f64) -> Option<Table> {
        let k = prep.devices();
        let radix = prep.positions() as u64 + 1;
        radix.checked_pow(k as u32)?;
        let mut rank = vec![0; k];
        for (r, &d) in order.iter().enumerate() {
            rank[d] = r;
        }
        let mut budget = Budget { left: work };
        let configs = (0..prep.positions())
            .map(|n| configs_at(prep, n, &rank, radix, &mut budget))
            .collect::<Option<Vec<_>>>()?;
        let mut layers = vec![Layer {
            state: vec![0],
            parent: vec![u32::MAX],
            config: vec![0],
            scores: vec![0.0; k],
        }];
        for cs in &configs {
            let next = extend(layers.last().expect("a first layer"), cs, k, &mut budget)?;
            layers.push(next);
        }
        let last = layers.last().expect("a last layer");
        let value: Vec<f64> = (0..last.state.len())
            .map(|e| prep.value(&last.scores[e * k..(e + 1) * k], objective))
            .collect();
        let blocks = |s: u64| digits(s, radix, k).iter().sum::<u32>();
        let mut ranked: Vec<u32> = (0..last.state.len() as u32).collect();
        ranked.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            value[b]
                .total_cmp(&value[a])
                .then(blocks(last.state[a]).cmp(&blocks(last.state[b])))
                .then(last.state[a].cmp(&last.state[b]))
                .then(a.cmp(&b))
        });
        Some(Table {
            order: order.to_vec(),
            radix,
            configs,
            layers,
            ranked,
        })
    }

    /// The best entry whose counts fit, as option indices `choice[k][n]`. The empty plan
    /// (nothing sent) always fits, so there is one.
    pub fn best(&self, prep: &Prep, fits: &Fits) -> Vec<Vec<usize>> {
        let k = prep.devices();
        let last = self.layers.last().expect("a last layer");
        let entry = self
            .ranked
            .iter()
            .copied()
            .find(|&e| fits.fits(&digits(last.state[e as usize], self.radix, k)))
            .expect("the empty plan fits every budget");
        debug_assert_eq!(self.order.len(), k);
        self.choices(entry, k)
    }

    fn choices(&self, mut entry: u32, k: usize) -> Vec<Vec<usize>> {
        let n = self.configs.len();
        let mut choice = vec![vec![0; n]; k];
        for pos in (0..n).rev() {
            let layer = &self.layers[pos + 1];
            let cfg = &self.configs[pos][layer.config[entry as usize] as usize];
            for (d, &o) in cfg.pick.iter().enumerate() {
                choice[d][pos] = o;
            }
            entry = layer.parent[entry as usize];
        }
        choice
    }
}

/// Work left, in score vectors created.
struct Budget {
    left: f64,
}

impl Budget {
    fn spend(&mut self, n: f64) -> Option<()> {
        self.left -= n;
        (self.left >= 0.0).then_some(())
    }
}

/// `u` of a state, by rank.
fn digits(mut s: u64, radix: u64, k: usize) -> Vec<u32> {
    (0..k)
        .map(|_| {
            let d = (s % radix) as u32;
            s /= radix;
            d
        })
        .collect()
}

/// Every joint choice at position `n`, less those another with the same charge dominates.
fn configs_at(
    prep: &Prep,
    n: usize,
    rank: &[usize],
    radix: u64,
    budget: &mut Budget,
) -> Option<Vec<Config>> {
    let opts = &prep.opts[n];
    let k = opts.len();
    let total: f64 = opts.iter().map(|o| o.len() as f64).product();
    budget.spend(total)?;
    let mut all = Vec::with_capacity(total as usize);
    let mut pick = vec![0usize; k];
    loop {
        let mut charge = vec![0u32; k];
        prep.charge(n, &pick, rank, &mut charge);
        let step = charge
            .iter()
            .rev()
            .fold(0u64, |acc, &c| acc * radix + c as u64);
        let score = pick
            .iter()
            .enumerate()
            .map(|(d, &o)| opts[d][o].score)
            .collect();
        all.push(Config {
            pick: pick.clone(),
            step,
            score,
        });
        if !advance(&mut pick, opts.iter().map(|o| o.len())) {
            break;
        }
    }
    all.sort_by_key(|c| c.step);
    let mut kept: Vec<Config> = Vec::new();
    for c in all {
        let same = kept.iter().rev().take_while(|d| d.step == c.step);
        if !same.into_iter().any(|d| dominates(&d.score, &c.score)) {
            kept.push(c);
        }
    }
    Some(kept)
}

/// Next mixed-radix tuple; false after the last.
fn advance(pick: &mut [usize], sizes: impl Iterator<Item = usize>) -> bool {
    for (p, size) in pick.iter_mut().zip(sizes) {
        *p += 1;
        if *p < size {
            return true;
        }
        *p = 0;
    }
    false
}

/// `a >= b` in every device's score.
fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y)
}

/// The next layer: every entry with every config, each state's Pareto front kept.
fn extend(layer: &Layer, configs: &[Config], k: usize, budget: &mut Budget) -> Option<Layer> {
    let count = layer.state.len() * configs.len();
    budget.spend(count as f64)?;
    let mut cand: Vec<(u64, u32, u32)> = Vec::with_capacity(count);
    let mut scores = Vec::with_capacity(count * k);
    for e in 0..layer.state.len() {
        let base = &layer.scores[e * k..(e + 1) * k];
        for (c, cfg) in configs.iter().enumerate() {
            cand.push((layer.state[e] + cfg.step, e as u32, c as u32));
            scores.extend(base.iter().zip(&cfg.score).map(|(a, b)| a + b));
        }
    }
    let of = |i: usize| &scores[i * k..(i + 1) * k];
    let mut idx: Vec<usize> = (0..cand.len()).collect();
    // By state, then best scores first (lexicographically), so a dominating entry comes first.
    idx.sort_by(|&a, &b| {
        cand[a].0.cmp(&cand[b].0).then_with(|| {
            of(b)
                .iter()
                .zip(of(a))
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    });
    let mut next = Layer {
        state: Vec::new(),
        parent: Vec::new(),
        config: Vec::new(),
        scores: Vec::new(),
    };
    let mut group_start = 0;
    for &i in &idx {
        let (state, parent, config) = cand[i];
        if next.state.last() != Some(&state) {
            group_start = next.state.len();
        }
        let front = group_start..next.state.len();
        if front
            .into_iter()
            .any(|j| dominates(&next.scores[j * k..(j + 1) * k], of(i)))
        {
            continue;
        }
        next.state.push(state);
        next.parent.push(parent);
        next.config.push(config);
        next.scores.extend_from_slice(of(i));
    }
    Some(next)
}
