//! The paper's headline claims as data (`configs/claims.toml`, compiled in): what each claim
//! measures, on which study, the paper's number and the tolerance of the verdict. `mba
//! reproduce`'s claim table is generated from it, so adding a claim is one entry there.

use std::path::Path;

use serde::Deserialize;

use super::output::Row;
use super::spec::{Metric, Scheme};
use crate::error::{Result, parse_toml};

/// The claims file as shipped.
pub const CLAIMS_TOML: &str = include_str!("../../configs/claims.toml");

/// What is read off a study's rows at every sweep point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantity {
    /// A scheme's mean.
    Mean(Scheme),
    /// One scheme's mean over another's.
    Ratio(Scheme, Scheme),
    /// A scheme's mean for one device group over its mean for another ([`Claim::groups`]).
    GroupRatio(Scheme),
}

/// How the points' values become the claim's one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    Mean,
    Max,
    Min,
}

/// Where on the sweep the claim is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    /// At the sweep point nearest this value.
    At(f64),
    /// Reduced over the points with `lo <= value <= hi`.
    Over { reduce: Reduce, lo: f64, hi: f64 },
}

/// Where the regime study measures a claim's quantity against the noise level.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regime {
    /// The run's folder under `regime/`.
    pub name: String,
    pub energy_j: f64,
    pub devices: usize,
}

/// One claim of the paper.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawClaim")]
pub struct Claim {
    pub claim: String,
    /// The study it is measured on (`fig6`, ...).
    pub figure: String,
    pub metric: Metric,
    /// A device group (a task's name) for per-group metrics (`score`, `score_ratio`,
    /// `blocks`); `None`: the rows over all devices.
    pub group: Option<String>,
    /// The two groups of a [`Quantity::GroupRatio`].
    pub groups: Option<[String; 2]>,
    pub quantity: Quantity,
    pub point: Point,
    pub paper: f64,
    /// Relative tolerance of the verdict.
    pub tolerance: f64,
    /// A one-sided claim: "agrees" when the measured number is above `paper` (the tolerance
    /// is then unused).
    pub above: bool,
    pub regime: Option<Regime>,
}

/// A claim as written in the file, before its either-or keys are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaim {
    claim: String,
    figure: String,
    metric: Metric,
    group: Option<String>,
    groups: Option<[String; 2]>,
    mean: Option<Scheme>,
    ratio: Option<[Scheme; 2]>,
    at: Option<f64>,
    reduce: Option<Reduce>,
    over: Option<[f64; 2]>,
    paper: f64,
    tolerance: f64,
    #[serde(default)]
    above: bool,
    regime: Option<Regime>,
}

impl TryFrom<RawClaim> for Claim {
    type Error = String;

    fn try_from(r: RawClaim) -> std::result::Result<Self, String> {
        let quantity = match (r.mean, r.ratio, &r.groups, &r.group) {
            (Some(s), None, None, _) => Quantity::Mean(s),
            (None, Some([a, b]), None, _) => Quantity::Ratio(a, b),
            (Some(s), None, Some(_), None) => Quantity::GroupRatio(s),
            _ => {
                let why = "give `mean` or `ratio`, one of them (`groups` goes with `mean`, \
                           without `group`)";
                return Err(format!("{}: {why}", r.claim));
            }
        };
        let [lo, hi] = r.over.unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
        let point = match (r.at, r.reduce, r.over) {
            (Some(x), None, None) => Point::At(x),
            (None, Some(reduce), _) => Point::Over { reduce, lo, hi },
            _ => {
                let why = "give `at`, or `reduce` (with `over` optional), one of them";
                return Err(format!("{}: {why}", r.claim));
            }
        };
        Ok(Claim {
            claim: r.claim,
            figure: r.figure,
            metric: r.metric,
            group: r.group,
            groups: r.groups,
            quantity,
            point,
            paper: r.paper,
            tolerance: r.tolerance,
            above: r.above,
            regime: r.regime,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsFile {
    claim: Vec<Claim>,
}

/// The shipped claims, in file order.
pub fn claims() -> Result<Vec<Claim>> {
    let path = Path::new("configs/claims.toml (built in)");
    Ok(parse_toml::<ClaimsFile>(path, CLAIMS_TOML)?.claim)
}

/// A quantity at one sweep point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The swept value.
    pub x: f64,
    pub value: f64,
    /// 95% CI half-width of a mean (none for a ratio, see [`ratio`]).
    pub ci95: Option<f64>,
    /// Share of the samples that were outages (the larger of a ratio's two schemes).
    pub outages: f64,
}

/// `scheme`'s `metric` of device group `group` (`""`: all devices) per sweep point (with the
/// point's index), where it has a mean.
fn cells(rows: &[Row], scheme: Scheme, metric: Metric, group: &str) -> Vec<(usize, Sample)> {
    rows.iter()
        .filter(|r| r.scheme == scheme.name() && r.metric == metric.name() && r.group == group)
        .filter_map(|r| {
            let sample = Sample {
                x: r.value,
                value: r.mean?,
                ci95: r.ci95,
                outages: r.outages as f64 / r.count.max(1) as f64,
            };
            Some((r.point, sample))
        })
        .collect()
}

impl Claim {
    /// The claim's quantity at every sweep point of `rows` that has it.
    pub fn curve(&self, rows: &[Row]) -> Vec<Sample> {
        let m = self.metric;
        let group = self.group.as_deref().unwrap_or("");
        let over = |num: Vec<(usize, Sample)>, den: Vec<(usize, Sample)>| -> Vec<Sample> {
            num.into_iter()
                .filter_map(|(p, num)| {
                    let den = den.iter().find(|d| d.0 == p)?.1;
                    Some(ratio(num, den))
                })
                .collect()
        };
        let samples: Vec<Sample> = match (self.quantity, &self.groups) {
            (Quantity::Mean(s), _) => cells(rows, s, m, group).into_iter().map(|c| c.1).collect(),
            (Quantity::Ratio(a, b), _) => over(cells(rows, a, m, group), cells(rows, b, m, group)),
            (Quantity::GroupRatio(s), Some([a, b])) => {
                over(cells(rows, s, m, a), cells(rows, s, m, b))
            }
            (Quantity::GroupRatio(_), None) => Vec::new(),
        };
        samples
            .into_iter()
            .filter(|s| s.value.is_finite())
            .collect()
    }

    /// The claim's one number from its curve, with how it is shown.
    pub fn measure(&self, curve: &[Sample]) -> Option<(f64, String)> {
        let (reduce, lo, hi) = match self.point {
            Point::At(x) => {
                let s = curve
                    .iter()
                    .min_by(|a, b| (a.x - x).abs().total_cmp(&(b.x - x).abs()))?;
                return Some((s.value, format!("{:.3} (at {})", s.value, s.x)));
            }
            Point::Over { reduce, lo, hi } => (reduce, lo, hi),
        };
        let inside: Vec<&Sample> = curve.iter().filter(|s| (lo..=hi).contains(&s.x)).collect();
        let pick = |better: fn(f64, f64) -> bool| {
            inside
                .iter()
                .copied()
                .reduce(|a, b| if better(b.value, a.value) { b } else { a })
        };
        let (smallest, largest) = (pick(|b, a| b < a)?, pick(|b, a| b > a)?);
        let s = match reduce {
            Reduce::Mean => {
                let mean = inside.iter().map(|s| s.value).sum::<f64>() / inside.len() as f64;
                let span = format!("{:.3} – {:.3}", smallest.value, largest.value);
                return Some((mean, format!("{mean:.3} ({span})")));
            }
            Reduce::Max => largest,
            Reduce::Min => smallest,
        };
        Some((s.value, format!("{:.3} (at {})", s.value, s.x)))
    }

    /// Whether a measured number is within the claim's tolerance.
    pub fn verdict(&self, measured: Option<f64>) -> &'static str {
        match measured {
            None => "not measured",
            Some(m) if self.above && m > self.paper => "agrees",
            Some(m) if !self.above && (m - self.paper).abs() <= self.tolerance * self.paper => {
                "agrees"
            }
            Some(_) => "differs",
        }
    }

    /// The x ranges where the curve is within the claim's tolerance, and where it meets the
    /// paper's number, along the curve drawn straight between the points in `(ln x, value)`
    /// (for log-spaced sweeps such as the regime study's noise).
    pub fn holds(&self, curve: &[Sample]) -> (Vec<Interval>, Vec<Interval>) {
        let points: Vec<(f64, f64)> = curve.iter().map(|s| (s.x, s.value)).collect();
        let tol = self.tolerance * self.paper;
        (
            band(&points, self.paper - tol, self.paper + tol),
            band(&points, self.paper, self.paper),
        )
    }
}

/// `a / b` with the larger outage share. No interval: the two schemes run on the same draws,
/// so their means' intervals (wide over task draws) say little about their ratio's.
fn ratio(a: Sample, b: Sample) -> Sample {
    Sample {
        x: a.x,
        value: a.value / b.value,
        ci95: None,
        outages: a.outages.max(b.outages),
    }
}

/// A closed interval `[a, b]` of x.
pub type Interval = (f64, f64);

/// The closed x intervals where `lo <= y <= hi` on the line through `points` (x > 0,
/// increasing) drawn straight in `(ln x, y)`; intervals that touch are merged, and a single
/// crossing is an interval of one point.
pub fn band(points: &[(f64, f64)], lo: f64, hi: f64) -> Vec<Interval> {
    let mut out: Vec<Interval> = Vec::new();
    let mut push = |a: f64, b: f64| match out.last_mut() {
        Some(last) if last.1 >= a => last.1 = last.1.max(b),
        _ => out.push((a, b)),
    };
    if let [(x, y)] = points
        && (lo..=hi).contains(y)
    {
        push(*x, *x);
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let Some((t0, t1)) = segment_band(y0, y1, lo, hi) else {
            continue;
        };
        // The ends of a segment stay exact, so neighbouring intervals meet and merge.
        let at = |t: f64| {
            if t == 0.0 {
                x0
            } else if t == 1.0 {
                x1
            } else {
                (x0.ln() + t * (x1.ln() - x0.ln())).exp()
            }
        };
        push(at(t0), at(t1));
    }
    out
}

/// The `t` in `[0, 1]` where `lo <= y0 + t (y1 - y0) <= hi`, if any.
fn segment_band(y0: f64, y1: f64, lo: f64, hi: f64) -> Option<(f64, f64)> {
    let dy = y1 - y0;
    if dy == 0.0 {
        return (lo..=hi).contains(&y0).then_some((0.0, 1.0));
    }
    let (a, b) = ((lo - y0) / dy, (hi - y0) / dy);
    let (t0, t1) = (a.min(b).max(0.0), a.max(b).min(1.0));
    (t0 <= t1).then_some((t0, t1))
}

/// The outage share at `x` along the curve, interpolated in `ln x` like [`band`].
pub fn outages_at(curve: &[Sample], x: f64) -> Option<f64> {
    let i = curve.iter().position(|s| s.x >= x)?;
    let b = curve[i];
    if b.x == x || i == 0 {
        return Some(b.outages);
    }
    let a = curve[i - 1];
    let t = (x.ln() - a.x.ln()) / (b.x.ln() - a.x.ln());
    Some(a.outages + t * (b.outages - a.outages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ratios_read_the_two_groups_and_one_sided_claims_need_more() {
        let c = &claims().unwrap()[10];
        let row = |p: usize, group: &str, mean: f64| Row {
            point: p,
            parameter: "latency_budget_s".into(),
            value: [0.0, 0.01, 0.02][p],
            scheme: "unicast_latency".into(),
            metric: "blocks".into(),
            group: group.into(),
            mean: Some(mean),
            ci95: None,
            count: 4,
            outages: 0,
        };
        let rows: Vec<Row> = (0..3)
            .flat_map(|p| {
                [
                    row(p, "cifar10", 1.0 + p as f64),
                    row(p, "svhn", 2.0),
                    row(p, "", 9.0),
                ]
            })
            .collect();
        let curve = c.curve(&rows);
        assert_eq!(
            curve.iter().map(|s| s.value).collect::<Vec<_>>(),
            [0.5, 1.0, 1.5]
        );
        // Over 0.001..0.04: points 1 and 2, the largest 1.5 > 1.
        let (m, _) = c.measure(&curve).unwrap();
        assert_eq!(m, 1.5);
        assert_eq!(c.verdict(Some(m)), "agrees");
        assert_eq!(c.verdict(Some(1.0)), "differs");
    }

    #[test]
    fn the_shipped_claims_parse_with_their_values() {
        let c = claims().unwrap();
        assert_eq!(c.len(), 15);
        // Fig. 9's: a group's mean, and one group's mean over another's, one-sided.
        assert_eq!(c[7].group.as_deref(), Some("cifar10"));
        assert_eq!(c[7].paper, 65.89);
        assert_eq!(c[10].quantity, Quantity::GroupRatio(Scheme::UnicastLatency));
        assert_eq!(
            c[10].groups,
            Some(["cifar10".to_string(), "svhn".to_string()])
        );
        assert!(c[10].above && !c[9].above);
        let power = &c[1];
        assert_eq!(power.figure, "fig7");
        assert_eq!(
            power.quantity,
            Quantity::Ratio(Scheme::MbaConstantPower, Scheme::MbaGreedy)
        );
        assert_eq!(power.point, Point::At(200.0));
        assert_eq!((power.paper, power.tolerance), (1.20, 0.05));
        assert_eq!(power.regime.as_ref().unwrap().name, "e200");
        let worst = &c[5];
        assert_eq!(
            worst.point,
            Point::Over {
                reduce: Reduce::Max,
                lo: 0.0,
                hi: 8.0
            }
        );
        let regimes = c.iter().filter(|c| c.regime.is_some()).count();
        assert_eq!(regimes, 3);
    }

    #[test]
    fn a_claim_needs_one_quantity_and_one_point() {
        let base = "[[claim]]\nclaim = \"x\"\nfigure = \"fig7\"\nmetric = \"latency_s\"\n\
                    paper = 1.0\ntolerance = 0.1\n";
        let parse = |extra: &str| {
            parse_toml::<ClaimsFile>(Path::new("c.toml"), &format!("{base}{extra}"))
                .map(|f| f.claim)
        };
        assert!(parse("mean = \"unicast\"\nat = 3\n").is_ok());
        let both = parse("mean = \"unicast\"\nratio = [\"unicast\", \"mba_greedy\"]\nat = 3\n");
        assert!(both.unwrap_err().to_string().contains("`mean` or `ratio`"));
        let none = parse("mean = \"unicast\"\n").unwrap_err().to_string();
        assert!(none.contains("give `at`, or `reduce`"), "{none}");
        assert!(parse("mean = \"unicast\"\nat = 3\nover = [1, 2]\n").is_err());
    }

    fn samples(points: &[(f64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(x, value)| Sample {
                x,
                value,
                ci95: None,
                outages: x / 10.0,
            })
            .collect()
    }

    #[test]
    fn the_reductions_read_the_right_points() {
        let mut c = claims().unwrap()[0].clone();
        let curve = samples(&[(1.0, 0.4), (2.0, 0.8), (4.0, 0.6)]);
        let (m, shown) = c.measure(&curve).unwrap();
        assert!((m - 0.6).abs() < 1e-12);
        assert_eq!(shown, "0.600 (0.400 – 0.800)");
        c.point = Point::At(3.5);
        assert_eq!(c.measure(&curve).unwrap().1, "0.600 (at 4)");
        c.point = Point::Over {
            reduce: Reduce::Min,
            lo: 1.5,
            hi: 4.0,
        };
        assert_eq!(c.measure(&curve).unwrap().0, 0.6);
        c.point = Point::Over {
            reduce: Reduce::Max,
            lo: 5.0,
            hi: 9.0,
        };
        assert_eq!(c.measure(&curve), None);
        assert_eq!(c.verdict(None), "not measured");
        c.group = Some("cifar10".into());
        assert!(c.curve(&[]).is_empty());
    }

    #[test]
    fn the_band_interpolates_in_log_x() {
        // From 1 at x = 1 to 2 at x = 100: y = 1.5 halfway in ln x, at x = 10.
        let up = [(1.0, 1.0), (100.0, 2.0)];
        let b = band(&up, 1.5, 1.5);
        assert_eq!(b.len(), 1);
        assert!((b[0].0 - 10.0).abs() < 1e-9 && b[0].0 == b[0].1, "{b:?}");
        // Up and down again: two crossings, and one merged interval over both segments.
        let hill = [(1.0, 1.0), (10.0, 2.0), (100.0, 1.0)];
        let cross = band(&hill, 1.5, 1.5);
        assert_eq!(cross.len(), 2);
        assert!((cross[0].0 - 10f64.sqrt()).abs() < 1e-9);
        assert!((cross[1].0 - 1000f64.sqrt()).abs() < 1e-9);
        let within = band(&hill, 1.5, 3.0);
        assert_eq!(within.len(), 1);
        assert!((within[0].0 - 10f64.sqrt()).abs() < 1e-9);
        assert!((within[0].1 - 1000f64.sqrt()).abs() < 1e-9);
        assert!(band(&hill, 2.5, 3.0).is_empty());
        assert_eq!(band(&[(5.0, 1.0)], 0.5, 1.5), vec![(5.0, 5.0)]);
        // Outage shares follow the same line.
        let curve = samples(&[(1.0, 0.0), (100.0, 0.0)]);
        assert!((outages_at(&curve, 10.0).unwrap() - 5.05).abs() < 1e-9);
        assert_eq!(outages_at(&curve, 1000.0), None);
    }
}
