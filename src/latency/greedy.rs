//! The heuristic for instances beyond the exact program's work limit: from the backups alone,
//! repeatedly make the move with the most score per second of added latency that still fits
//! the budget. For the smallest ratio only the weakest device moves (a device no move helps is
//! set aside); for the total score every device may. No optimality guarantee.

use super::prep::Prep;
use super::{Delivery, Fits, Objective};

/// Device `k` takes option `opt` at position `n`.
#[derive(Debug, Clone, Copy)]
struct Move {
    k: usize,
    n: usize,
    opt: usize,
}

struct State<'p> {
    prep: &'p Prep,
    rank: Vec<usize>,
    choice: Vec<Vec<usize>>,
    counts: Vec<u32>,
}

pub(crate) fn plan(
    prep: &Prep,
    order: &[usize],
    objective: Objective,
    fits: &Fits,
) -> Vec<Vec<usize>> {
    let k = prep.devices();
    let mut rank = vec![0; k];
    for (r, &d) in order.iter().enumerate() {
        rank[d] = r;
    }
    let mut st = State {
        prep,
        rank,
        choice: vec![vec![0; prep.positions()]; k],
        counts: vec![0; k],
    };
    let mut set_aside = vec![false; k];
    loop {
        let movers: Vec<usize> = match objective {
            Objective::TotalScore => (0..k).collect(),
            Objective::MinRatio => match st.weakest(&set_aside) {
                Some(d) => vec![d],
                None => break,
            },
        };
        match st.best_move(&movers, fits) {
            Some(m) => st.apply(m),
            None if objective == Objective::MinRatio => set_aside[movers[0]] = true,
            None => break,
        }
    }
    st.choice
}

impl State<'_> {
    /// The device with the smallest ratio among those not set aside (ties by index).
    fn weakest(&self, set_aside: &[bool]) -> Option<usize> {
        let ratios = self.prep.ratios(&self.prep.scores(&self.choice));
        (0..ratios.len())
            .filter(|&d| !set_aside[d])
            .min_by(|&a, &b| ratios[a].total_cmp(&ratios[b]).then(a.cmp(&b)))
    }

    /// The fitting move of `movers` with the most score per added second (moves that add no
    /// latency first, by score); ties to the lower device, position and option.
    fn best_move(&self, movers: &[usize], fits: &Fits) -> Option<Move> {
        let now = fits.latency(&self.counts).unwrap_or(0.0);
        let mut best: Option<(f64, f64, Move)> = None;
        for &k in movers {
            for n in 0..self.prep.positions() {
                let opts = &self.prep.opts[n][k];
                // A missing block counts as 0 here, so filling a backup-less model progresses.
                let cur = opts[self.choice[k][n]].score.max(0.0);
                for (o, opt) in opts.iter().enumerate() {
                    let gain = opt.score - cur;
                    if gain <= 0.0 {
                        continue;
                    }
                    let m = Move { k, n, opt: o };
                    let counts = self.counts_after(m);
                    if !fits.fits(&counts) {
                        continue;
                    }
                    let added = fits.latency(&counts).unwrap_or(f64::INFINITY) - now;
                    let eff = if added > 0.0 {
                        gain / added
                    } else {
                        f64::INFINITY
                    };
                    let better =
                        best.is_none_or(|(be, bg, _)| eff > be || (eff == be && gain > bg));
                    if better {
                        best = Some((eff, gain, m));
                    }
                }
            }
        }
        best.map(|b| b.2)
    }

    fn apply(&mut self, m: Move) {
        self.counts = self.counts_after(m);
        self.choice[m.k][m.n] = m.opt;
    }

    /// Counts per rank after move `m`: only the blocks `m.k` leaves and joins change charge.
    fn counts_after(&self, m: Move) -> Vec<u32> {
        let mut counts = self.counts.clone();
        let opts = &self.prep.opts[m.n];
        let old = opts[m.k][self.choice[m.k][m.n]].phys;
        let new = opts[m.k][m.opt].phys;
        let rk = self.rank[m.k];
        if self.prep.delivery == Delivery::Unicast {
            counts[rk] -= u32::from(old.is_some());
            counts[rk] += u32::from(new.is_some());
            return counts;
        }
        if let Some(p) = old {
            // Charged to the weakest chooser: k's leaving moves it to the next weakest, if any.
            match self.weakest_other(m, p) {
                None => counts[rk] -= 1,
                Some(r) if r > rk => {
                    counts[rk] -= 1;
                    counts[r] += 1;
                }
                Some(_) => {}
            }
        }
        if let Some(q) = new {
            match self.weakest_other(m, q) {
                None => counts[rk] += 1,
                Some(r) if r > rk => {
                    counts[r] -= 1;
                    counts[rk] += 1;
                }
                Some(_) => {}
            }
        }
        counts
    }

    /// The smallest rank among the other devices choosing block `p` at `m.n`.
    fn weakest_other(&self, m: Move, p: usize) -> Option<usize> {
        let opts = &self.prep.opts[m.n];
        (0..self.rank.len())
            .filter(|&j| j != m.k && opts[j][self.choice[j][m.n]].phys == Some(p))
            .map(|j| self.rank[j])
            .min()
    }
}
