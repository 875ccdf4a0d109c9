//! The multiple-choice knapsack problem (MCKP): one item from every group, total weight at most
//! a capacity, least total cost. It is the pricing problem of one device class in the column
//! generation (`colgen.rs`): groups are positions, items are blocks, weights are the class's
//! losses and costs are the duals of the linking rows.
//!
//! Exact depth-first branch and bound with the MCKP's LP relaxation as the bound (the lower
//! convex hull of each group, increments taken by efficiency, Sinha and Zoltners 1979). A node
//! limit keeps a pathological case bounded; the answer then carries the proven lower bound
//! apart from the best pattern found, so a Lagrangian bound built on it stays valid.

/// One choice in a group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item {
    /// The caller's label (a block index).
    pub id: usize,
    pub cost: f64,
    pub weight: f64,
}

/// The outcome of [`solve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Cost of `chosen`.
    pub value: f64,
    /// A proven lower bound on the optimum (`value` when the search completed).
    pub bound: f64,
    /// The chosen item's `id` in each group, in group order.
    pub chosen: Vec<usize>,
}

/// Search nodes before [`solve`] settles for its best pattern and the LP bound.
const NODE_LIMIT: u64 = 200_000;
/// Relative tolerance on costs when pruning.
const COST_TOL: f64 = 1e-12;

/// Least-cost choice of one item per group with total weight `<= capacity`; `None` when even
/// the lightest items overflow it (or a group is empty).
pub fn solve(groups: &[Vec<Item>], capacity: f64) -> Option<Solution> {
    let fronts: Vec<Vec<Item>> = groups.iter().map(|g| pareto_front(g, capacity)).collect();
    if fronts.iter().any(|f| f.is_empty()) {
        return None;
    }
    // Groups with one useful item are decided; the rest are searched, widest cost range first.
    let mut fixed_cost = 0.0;
    let mut room = capacity;
    let mut open: Vec<usize> = Vec::new();
    for (g, f) in fronts.iter().enumerate() {
        if f.len() == 1 {
            fixed_cost += f[0].cost;
            room -= f[0].weight;
        } else {
            open.push(g);
        }
    }
    if room < 0.0 {
        return None;
    }
    let range = |g: usize| fronts[g][0].cost - fronts[g][fronts[g].len() - 1].cost;
    open.sort_by(|&a, &b| range(b).total_cmp(&range(a)).then(a.cmp(&b)));
    let mut search = Search::new(&fronts, &open);
    let root_bound = search.suffix[0].bound(room)?;
    search.run(room);
    // Only a node limit leaves no pattern; the lightest items always fit (the root LP did).
    let (open_value, picks) = search.best.clone().unwrap_or_else(|| {
        let cost = open.iter().map(|&g| fronts[g][0].cost).sum();
        (cost, vec![0; open.len()])
    });
    let mut chosen: Vec<usize> = fronts.iter().map(|f| f[0].id).collect();
    for (slot, &g) in open.iter().enumerate() {
        chosen[g] = fronts[g][picks[slot]].id;
    }
    let value = fixed_cost + open_value;
    let bound = if search.complete {
        value
    } else {
        fixed_cost + root_bound
    };
    Some(Solution {
        value,
        bound,
        chosen,
    })
}

/// The items of a group worth taking, by weight ascending with cost strictly descending (an
/// item no lighter and no cheaper than another is never needed).
fn pareto_front(group: &[Item], capacity: f64) -> Vec<Item> {
    let mut items: Vec<Item> = group
        .iter()
        .copied()
        .filter(|it| it.weight <= capacity)
        .collect();
    items.sort_by(|a, b| {
        a.weight
            .total_cmp(&b.weight)
            .then(a.cost.total_cmp(&b.cost))
            .then(a.id.cmp(&b.id))
    });
    let mut front: Vec<Item> = Vec::with_capacity(items.len());
    for it in items {
        if front.last().is_none_or(|last| it.cost < last.cost) {
            front.push(it);
        }
    }
    front
}

/// One step along a group's lower convex hull: `dw` more weight saves `saving` cost.
#[derive(Debug, Clone, Copy)]
struct Step {
    dw: f64,
    saving: f64,
}

/// The LP relaxation of the groups from some depth on, as a function of the capacity left.
struct SuffixLp {
    /// Cost and weight of every group's lightest item.
    base_cost: f64,
    base_weight: f64,
    /// Hull steps of these groups, most efficient (saving per weight) first.
    steps: Vec<Step>,
}

impl SuffixLp {
    /// LP optimum with `room` capacity, `None` when the lightest items do not fit.
    fn bound(&self, room: f64) -> Option<f64> {
        let mut left = room - self.base_weight;
        if left < 0.0 {
            return None;
        }
        let mut cost = self.base_cost;
        for s in &self.steps {
            if s.dw <= left {
                left -= s.dw;
                cost -= s.saving;
            } else {
                cost -= s.saving * (left / s.dw);
                break;
            }
        }
        Some(cost)
    }
}

/// Hull steps of a Pareto front (weights ascending, costs descending).
fn hull_steps(front: &[Item]) -> Vec<Step> {
    let mut hull: Vec<Item> = Vec::with_capacity(front.len());
    for &it in front {
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // Drop `b` when it lies on or above the segment from `a` to `it`.
            let cross = (b.weight - a.weight) * (it.cost - a.cost)
                - (b.cost - a.cost) * (it.weight - a.weight);
            if cross <= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(it);
    }
    hull.windows(2)
        .map(|w| Step {
            dw: w[1].weight - w[0].weight,
            saving: w[0].cost - w[1].cost,
        })
        .collect()
}

struct Search<'a> {
    fronts: &'a [Vec<Item>],
    open: &'a [usize],
    /// `suffix[d]`: the LP of open groups `d..`; one extra, empty entry at the end.
    suffix: Vec<SuffixLp>,
    picks: Vec<usize>,
    best: Option<(f64, Vec<usize>)>,
    nodes: u64,
    complete: bool,
}

impl<'a> Search<'a> {
    fn new(fronts: &'a [Vec<Item>], open: &'a [usize]) -> Search<'a> {
        let suffix = (0..=open.len())
            .map(|d| {
                let groups = &open[d..];
                let mut steps: Vec<Step> = groups
                    .iter()
                    .flat_map(|&g| hull_steps(&fronts[g]))
                    .collect();
                steps.sort_by(|a, b| (b.saving * a.dw).total_cmp(&(a.saving * b.dw)));
                SuffixLp {
                    base_cost: groups.iter().map(|&g| fronts[g][0].cost).sum(),
                    base_weight: groups.iter().map(|&g| fronts[g][0].weight).sum(),
                    steps,
                }
            })
            .collect();
        Search {
            fronts,
            open,
            suffix,
            picks: vec![0; open.len()],
            best: None,
            nodes: 0,
            complete: true,
        }
    }

    fn run(&mut self, room: f64) {
        self.dive(0, room, 0.0);
    }

    fn beaten(&self, value: f64) -> bool {
        self.best
            .as_ref()
            .is_some_and(|(b, _)| value >= b - COST_TOL * b.abs().max(1.0))
    }

    fn dive(&mut self, depth: usize, room: f64, cost: f64) {
        if depth == self.open.len() {
            if !self.beaten(cost) {
                self.best = Some((cost, self.picks.clone()));
            }
            return;
        }
        self.nodes += 1;
        if self.nodes > NODE_LIMIT {
            self.complete = false;
            return;
        }
        let front = &self.fronts[self.open[depth]];
        // Cheapest (heaviest) first: it reaches good incumbents soonest.
        for k in (0..front.len()).rev() {
            let it = front[k];
            let left = room - it.weight;
            if left < 0.0 {
                continue;
            }
            let Some(rest) = self.suffix[depth + 1].bound(left) else {
                continue;
            };
            if self.beaten(cost + it.cost + rest) {
                continue;
            }
            self.picks[depth] = k;
            self.dive(depth + 1, left, cost + it.cost);
            if !self.complete {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: usize, cost: f64, weight: f64) -> Item {
        Item { id, cost, weight }
    }

    /// Every combination, for checking.
    fn brute(groups: &[Vec<Item>], capacity: f64) -> Option<f64> {
        let mut best: Option<f64> = None;
        let mut idx = vec![0usize; groups.len()];
        loop {
            let w: f64 = idx.iter().zip(groups).map(|(&i, g)| g[i].weight).sum();
            let c: f64 = idx.iter().zip(groups).map(|(&i, g)| g[i].cost).sum();
            if w <= capacity && best.is_none_or(|b| c < b) {
                best = Some(c);
            }
            let mut d = 0;
            loop {
                if d == groups.len() {
                    return best;
                }
                idx[d] += 1;
                if idx[d] < groups[d].len() {
                    break;
                }
                idx[d] = 0;
                d += 1;
            }
        }
    }

    #[test]
    fn matches_brute_force_on_random_instances() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..400 {
            let ng = rng.random_range(1..6);
            let groups: Vec<Vec<Item>> = (0..ng)
                .map(|g| {
                    (0..rng.random_range(1..5))
                        .map(|i| {
                            let cost = if rng.random_bool(0.3) {
                                0.0
                            } else {
                                rng.random::<f64>()
                            };
                            item(g * 10 + i, cost, rng.random::<f64>() * 0.5)
                        })
                        .collect()
                })
                .collect();
            let cap = rng.random::<f64>() * 1.5;
            let want = brute(&groups, cap);
            let got = solve(&groups, cap);
            match (want, got) {
                (None, None) => {}
                (Some(w), Some(s)) => {
                    assert!((w - s.value).abs() < 1e-12, "{w} vs {}", s.value);
                    assert_eq!(s.value, s.bound);
                    let (c, wt) = s
                        .chosen
                        .iter()
                        .zip(&groups)
                        .fold((0.0, 0.0), |acc, (&id, g)| {
                            let it = g.iter().find(|it| it.id == id).expect("chosen from group");
                            (acc.0 + it.cost, acc.1 + it.weight)
                        });
                    assert!((c - s.value).abs() < 1e-12 && wt <= cap);
                }
                (w, s) => panic!("brute {w:?} vs solve {s:?}"),
            }
        }
    }

    #[test]
    fn lp_bound_of_a_hull() {
        let front = vec![item(0, 3.0, 0.0), item(1, 2.5, 1.0), item(2, 0.0, 2.0)];
        // (1, 2.5) lies above the segment from (0, 3) to (2, 0): one step of slope 1.5.
        let steps = hull_steps(&front);
        assert_eq!(steps.len(), 1);
        assert!((steps[0].saving - 3.0).abs() < 1e-15 && (steps[0].dw - 2.0).abs() < 1e-15);
        let lp = SuffixLp {
            base_cost: 3.0,
            base_weight: 0.0,
            steps,
        };
        assert_eq!(lp.bound(1.0), Some(1.5));
        // The integer optimum at capacity 1 is 2.5 > 1.5.
        let s = solve(&[front], 1.0).expect("feasible");
        assert_eq!((s.value, s.chosen.clone()), (2.5, vec![1]));
    }

    #[test]
    fn infeasible_when_lightest_items_overflow() {
        let groups = vec![vec![item(0, 1.0, 0.6)], vec![item(1, 1.0, 0.6)]];
        assert!(solve(&groups, 1.0).is_none());
        assert!(solve(&[vec![]], 1.0).is_none());
    }
}
