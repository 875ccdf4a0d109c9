//! The study file (TOML): what to sweep, how many trials and realizations, which schemes.
//!
//! ```toml
//! [study]
//! name = "fig7"            # default "study"
//! seed = 7                 # master seed of every stream (docs/algorithms/monte-carlo.md), default 0
//! trials = 20              # task draws per sweep point, default 10
//! realizations = 200       # channel realizations per trial, default 100
//! library_per_trial = false
//! schemes = ["mba_greedy", "mba_constant_power", "unicast"]   # default: the paper's four
//! backend = "auto"         # auto | cpu | gpu
//!
//! [system]     # SystemParams, as in configs/paper.toml
//! [generator]  # GeneratorParams, as in configs/paper.toml
//! [greedy]     # GreedyOptions
//! [exact]      # ExactOptions (for mba_bnb)
//! [lagrangian] # LagrangianOptions (for mba_lagrangian)
//!
//! [sweep]
//! parameter = "energy_j"   # devices | energy_j | blocks | qos_ratio | bandwidth_hz | models
//!                          # | noise_w | noise_psd_w_per_hz
//! values = [200, 240, 280, 320]
//! ```
//! Unknown keys are errors; every value is checked at load with the file and field named.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, MbaError, Result, number, parse_toml, read_input};
use crate::latency::LatencyOptions;
use crate::library::generate::GeneratorParams;
use crate::library::{Instance, InstanceFile};
use crate::power::SystemParams;
use crate::selection::exact::ExactOptions;
use crate::selection::greedy::GreedyOptions;
use crate::selection::lagrangian::LagrangianOptions;

/// `study.backend`: which backend evaluates the study. The application opens it: `auto` = a
/// hardware GPU adapter when there is one, else the CPU path; `gpu` forces wgpu (software Vulkan
/// too); `cpu` the f64 reference. Results do not depend on it beyond the GPU's f32 tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    #[default]
    Auto,
    Cpu,
    Gpu,
}

/// A compared scheme: a parameter selection plus a power control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Greedy selection (Algorithm 1), optimal power control.
    MbaGreedy,
    /// Optimal selection (branch and bound, Algorithm 2), optimal power control.
    MbaBnb,
    /// Greedy selection, one energy-matched (or fixed) power for every block.
    MbaConstantPower,
    /// Channel-adaptive unicast: every device its own `N` blocks, optimal power control.
    Unicast,
    /// Near-optimal Lagrangian selection (with a lower bound), optimal power control.
    MbaLagrangian,
    /// Latency-constrained MBA with backups (`[latency]`): the best plan within the budget.
    MbaLatency,
    /// Latency-constrained unicast: own task blocks only, each device its own copies.
    UnicastLatency,
    /// Plain multicast: each requested task's model once to all its devices, at their weakest
    /// gain, optimal power control (no cross-task reuse).
    Multicast,
}

impl Scheme {
    pub const ALL: [Scheme; 4] = [
        Scheme::MbaGreedy,
        Scheme::MbaBnb,
        Scheme::MbaConstantPower,
        Scheme::Unicast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scheme::MbaGreedy => "mba_greedy",
            Scheme::MbaBnb => "mba_bnb",
            Scheme::MbaConstantPower => "mba_constant_power",
            Scheme::Unicast => "unicast",
            Scheme::MbaLagrangian => "mba_lagrangian",
            Scheme::MbaLatency => "mba_latency",
            Scheme::UnicastLatency => "unicast_latency",
            Scheme::Multicast => "multicast",
        }
    }

    /// Whether the scheme has rows of `metric`: scores only under a latency budget, no gap
    /// there (unicast keeps its empty gap row: it selects nothing).
    pub fn records(self, metric: Metric) -> bool {
        match metric {
            Metric::Score | Metric::ScoreRatio => self.is_latency(),
            Metric::Gap => !self.is_latency(),
            _ => true,
        }
    }

    /// The latency-constrained schemes, which plan per realization within `latency.budget_s`.
    pub fn is_latency(self) -> bool {
        matches!(self, Scheme::MbaLatency | Scheme::UnicastLatency)
    }

    /// The scheme in words, for legends and summary tables (files keep [`Scheme::name`]).
    pub fn label(self) -> &'static str {
        match self {
            Scheme::MbaGreedy => "MBA, greedy selection",
            Scheme::MbaBnb => "MBA, optimal selection",
            Scheme::MbaConstantPower => "MBA, constant power",
            Scheme::Unicast => "unicast",
            Scheme::MbaLagrangian => "MBA, Lagrangian selection",
            Scheme::Multicast => "multicast",
            Scheme::MbaLatency => "MBA, latency-constrained",
            Scheme::UnicastLatency => "unicast, latency-constrained",
        }
    }
}

/// What is recorded for every scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Total downloading latency of a realization, s (outage: counted, not averaged).
    LatencyS,
    /// Total latency over `K`, s.
    LatencyPerDeviceS,
    /// Blocks sent (`|Y|`; `K N` for unicast, `N` per distinct task for multicast), one sample
    /// per trial.
    Blocks,
    /// Relative gap `(|Y| - lower bound) / |Y|` of the selection to its method's proven lower
    /// bound, one sample per trial; none for unicast and multicast, which select nothing.
    Gap,
    /// Latency-constrained schemes: assembled score, the mean over devices (also per device
    /// group, the devices of one task).
    Score,
    /// Latency-constrained schemes: score over the own task model's score, the smallest over
    /// devices (also per device group: their mean).
    ScoreRatio,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::LatencyS,
        Metric::LatencyPerDeviceS,
        Metric::Blocks,
        Metric::Gap,
        Metric::Score,
        Metric::ScoreRatio,
    ];

    /// The metrics recorded per device group too (`blocks`: received, mean per device).
    pub const GROUPED: [Metric; 3] = [Metric::Score, Metric::ScoreRatio, Metric::Blocks];

    /// This metric's place in [`Metric::ALL`] (and in a unit's accumulators per scheme).
    pub fn slot(self) -> usize {
        Metric::ALL
            .iter()
            .position(|&m| m == self)
            .expect("every metric is in ALL")
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::LatencyS => "latency_s",
            Metric::LatencyPerDeviceS => "latency_per_device_s",
            Metric::Blocks => "blocks",
            Metric::Gap => "gap",
            Metric::Score => "score",
            Metric::ScoreRatio => "score_ratio",
        }
    }

    /// What a plot of it shows, for its title.
    pub fn title(self) -> &'static str {
        match self {
            Metric::LatencyS => "Total downloading latency",
            Metric::LatencyPerDeviceS => "Downloading latency per device",
            Metric::Blocks => "Blocks broadcast",
            Metric::Gap => "Gap of the selection to its lower bound",
            Metric::Score => "On-device score",
            Metric::ScoreRatio => "Score ratio (assembled / own model)",
        }
    }

    /// Its axis title, with the unit.
    pub fn label(self) -> &'static str {
        match self {
            Metric::LatencyS => "total latency (s)",
            Metric::LatencyPerDeviceS => "latency per device (s)",
            Metric::Blocks => "blocks sent",
            Metric::Gap => "gap to lower bound (fraction of blocks)",
            Metric::Score => "assembled score",
            Metric::ScoreRatio => "score ratio (assembled / own model)",
        }
    }
}

/// The swept parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepParameter {
    Devices,
    EnergyJ,
    Blocks,
    QosRatio,
    BandwidthHz,
    Models,
    LatencyBudgetS,
    /// The noise power over the band, W (`system.noise_w`).
    NoiseW,
    /// The noise spectral density, W/Hz (`system.noise_psd_w_per_hz`).
    NoisePsdWPerHz,
}

impl SweepParameter {
    pub fn name(self) -> &'static str {
        match self {
            SweepParameter::Devices => "devices",
            SweepParameter::EnergyJ => "energy_j",
            SweepParameter::Blocks => "blocks",
            SweepParameter::QosRatio => "qos_ratio",
            SweepParameter::BandwidthHz => "bandwidth_hz",
            SweepParameter::Models => "models",
            SweepParameter::LatencyBudgetS => "latency_budget_s",
            SweepParameter::NoiseW => "noise_w",
            SweepParameter::NoisePsdWPerHz => "noise_psd_w_per_hz",
        }
    }

    /// What it is, in words, for plot titles.
    pub fn title(self) -> &'static str {
        match self {
            SweepParameter::Devices => "number of devices",
            SweepParameter::EnergyJ => "energy budget",
            SweepParameter::Blocks => "blocks per model",
            SweepParameter::QosRatio => "QoS ratio",
            SweepParameter::BandwidthHz => "bandwidth",
            SweepParameter::Models => "number of models",
            SweepParameter::NoiseW => "noise power",
            SweepParameter::NoisePsdWPerHz => "noise spectral density",
            SweepParameter::LatencyBudgetS => "latency budget",
        }
    }

    /// Its axis title, with the unit.
    pub fn label(self) -> &'static str {
        match self {
            SweepParameter::Devices => "devices K",
            SweepParameter::EnergyJ => "energy budget E (J)",
            SweepParameter::Blocks => "blocks per model N",
            SweepParameter::QosRatio => "QoS ratio",
            SweepParameter::BandwidthHz => "bandwidth B (Hz)",
            SweepParameter::Models => "models M",
            SweepParameter::LatencyBudgetS => "latency budget T (s)",
            SweepParameter::NoiseW => "noise power N0 (W)",
            SweepParameter::NoisePsdWPerHz => "noise spectral density (W/Hz)",
        }
    }

    /// Whether a validation error on `field` can come from this parameter's value.
    fn sets(self, field: &str) -> bool {
        let fields: &[&str] = match self {
            SweepParameter::Devices => &["generator.devices"],
            SweepParameter::EnergyJ => &["system.energy_j"],
            SweepParameter::Blocks => &["generator.blocks"],
            SweepParameter::QosRatio => &["generator.qos_ratio"],
            SweepParameter::BandwidthHz => &["system.bandwidth_hz"],
            // More distinct devices than models is reported on `devices`.
            SweepParameter::Models => &["generator.models", "generator.devices"],
            SweepParameter::LatencyBudgetS => &["latency.budget_s"],
            SweepParameter::NoiseW => &["system.noise_w"],
            SweepParameter::NoisePsdWPerHz => &["system.noise_psd_w_per_hz"],
        };
        fields.contains(&field)
    }

    /// Whether its values are whole numbers (devices, blocks, models).
    pub fn is_count(self) -> bool {
        matches!(
            self,
            SweepParameter::Devices | SweepParameter::Blocks | SweepParameter::Models
        )
    }
}

fn default_name() -> String {
    "study".into()
}
fn default_trials() -> u64 {
    10
}
fn default_realizations() -> u64 {
    100
}
/// The paper's four schemes (`mba_lagrangian` and `multicast` are asked for by name).
fn default_schemes() -> Vec<Scheme> {
    Scheme::ALL.to_vec()
}

/// `[study]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySection {
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_trials")]
    pub trials: u64,
    #[serde(default = "default_realizations")]
    pub realizations: u64,
    /// Draw a fresh library for every trial (from `(seed, point, trial)`) instead of one per point.
    #[serde(default)]
    pub library_per_trial: bool,
    #[serde(default = "default_schemes")]
    pub schemes: Vec<Scheme>,
    #[serde(default)]
    pub backend: BackendChoice,
}

impl Default for StudySection {
    fn default() -> Self {
        StudySection {
            name: default_name(),
            seed: 0,
            trials: default_trials(),
            realizations: default_realizations(),
            library_per_trial: false,
            schemes: default_schemes(),
            backend: BackendChoice::Auto,
        }
    }
}

/// `[sweep]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub parameter: SweepParameter,
    pub values: Vec<f64>,
}

/// A whole study file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    #[serde(default)]
    pub study: StudySection,
    #[serde(default)]
    pub system: SystemParams,
    #[serde(default)]
    pub generator: GeneratorParams,
    #[serde(default)]
    pub greedy: GreedyOptions,
    #[serde(default)]
    pub exact: ExactOptions,
    #[serde(default)]
    pub lagrangian: LagrangianOptions,
    /// For `mba_latency` and `unicast_latency`.
    #[serde(default)]
    pub latency: LatencyOptions,
    /// A fixed instance (library and devices, with backups) instead of `[generator]`: every
    /// trial uses it, trials differ in their channel draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceFile>,
    pub sweep: Sweep,
}

/// Largest score table `M^2 N` a study may generate (the library's limit).
pub use crate::library::MAX_SCORES;

/// Most work units `(point, trial)` a study may have (each keeps its statistics in the parts).
pub const MAX_UNITS: f64 = 1e7;

/// Most channel realizations per trial.
pub const MAX_REALIZATIONS: f64 = 1e9;

/// Most samples (points x trials x realizations) a study may draw: beyond this a run takes
/// days on any machine, so a value this large is a typo rather than a plan.
pub const MAX_SAMPLES: f64 = 1e12;

/// The parameters of one sweep point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointParams {
    pub value: f64,
    pub system: SystemParams,
    pub generator: GeneratorParams,
    pub latency: LatencyOptions,
}

/// A loaded, checked study: the file, where it came from, and its identity hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    pub file: StudyFile,
    /// Where the study came from (a path, or a name for built-in studies).
    pub source: String,
    /// The study file's text as read.
    pub text: String,
    /// `[instance]`, checked.
    pub instance: Option<Instance>,
}

impl StudyFile {
    /// The parameters at sweep point `p` (not validated).
    pub fn point(&self, p: usize) -> PointParams {
        let v = self.sweep.values[p];
        let mut system = self.system;
        let mut generator = self.generator;
        let mut latency = self.latency;
        match self.sweep.parameter {
            SweepParameter::Devices => generator.devices = v as usize,
            SweepParameter::EnergyJ => system.energy_j = v,
            SweepParameter::Blocks => generator.blocks = v as usize,
            SweepParameter::QosRatio => generator.qos_ratio = v,
            SweepParameter::BandwidthHz => system.bandwidth_hz = v,
            SweepParameter::Models => generator.models = v as usize,
            SweepParameter::LatencyBudgetS => latency.budget_s = Some(v),
            SweepParameter::NoiseW => system.noise_w = Some(v),
            SweepParameter::NoisePsdWPerHz => system.noise_psd_w_per_hz = Some(v),
        }
        PointParams {
            value: v,
            system,
            generator,
            latency,
        }
    }

    pub fn points(&self) -> usize {
        self.sweep.values.len()
    }

    /// Every check, naming the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.check_counts()?;
        let s = &self.study;
        if s.schemes.is_empty() {
            return Err(FieldError::new(
                "study.schemes",
                "needs at least one scheme",
            ));
        }
        for (i, a) in s.schemes.iter().enumerate() {
            if s.schemes[..i].contains(a) {
                return Err(FieldError::new(
                    format!("study.schemes[{i}]"),
                    format!("`{}` listed twice", a.name()),
                ));
            }
        }
        if self.generator.gain_path_loss.is_some() {
            return Err(FieldError::new(
                "generator.gain_path_loss",
                "not used by studies: gains are drawn per realization with system.path_loss",
            ));
        }
        self.exact.validate("exact.")?;
        self.lagrangian.validate("lagrangian.")?;
        self.latency.validate("latency.")?;
        self.check_latency_mode()?;
        self.check_instance()?;
        self.check_noise_sweep()?;
        if self.sweep.values.is_empty() {
            return Err(FieldError::new(
                "sweep.values",
                "is empty: give at least one value",
            ));
        }
        (0..self.points()).try_for_each(|p| self.check_point(p))
    }

    /// Whether any compared scheme is latency-constrained.
    pub fn has_latency(&self) -> bool {
        self.study.schemes.iter().any(|s| s.is_latency())
    }

    /// Latency schemes need a budget, and a budget sweep needs a latency scheme.
    fn check_latency_mode(&self) -> Result<(), FieldError> {
        let swept = self.sweep.parameter == SweepParameter::LatencyBudgetS;
        if self.has_latency() && !swept && self.latency.budget_s.is_none() {
            return Err(FieldError::new(
                "study.schemes",
                "a latency-constrained scheme needs a budget: set latency.budget_s or sweep \
                 latency_budget_s",
            ));
        }
        if swept && !self.has_latency() {
            return Err(FieldError::new(
                "sweep.parameter",
                "latency_budget_s changes only mba_latency and unicast_latency: add one to \
                 study.schemes",
            ));
        }
        Ok(())
    }

    /// Latency schemes plan within [`crate::latency::MAX_PLAN_SIZE`] (the instance's size, or
    /// the generator's at this point).
    fn check_plan_size(&self, g: &GeneratorParams) -> Result<(), FieldError> {
        if !self.has_latency() {
            return Ok(());
        }
        let (m, n, k) = match &self.instance {
            Some(i) => (i.library.scores.len(), i.library.blocks, i.devices.len()),
            None => (g.models, g.blocks, g.devices),
        };
        let field = if self.instance.is_some() {
            "instance.devices"
        } else {
            "generator.devices"
        };
        crate::latency::check_size(m, n, k).map_err(|r| FieldError::new(field, r))
    }

    /// `[instance]` replaces the generator: nothing may set generator values or gains.
    fn check_instance(&self) -> Result<(), FieldError> {
        let Some(inst) = &self.instance else {
            return Ok(());
        };
        let generated = "is a generator value; [instance] fixes the library and the devices";
        if self.generator != GeneratorParams::default() {
            return Err(FieldError::new(
                "generator",
                format!("{generated}: remove [generator]"),
            ));
        }
        use SweepParameter as S;
        let p = self.sweep.parameter;
        if matches!(p, S::Devices | S::Blocks | S::Models | S::QosRatio) {
            return Err(FieldError::new(
                "sweep.parameter",
                format!("{} {generated}", p.name()),
            ));
        }
        if self.study.library_per_trial {
            return Err(FieldError::new("study.library_per_trial", generated));
        }
        if let Some(k) = inst.devices.iter().position(|d| d.gain.is_some()) {
            return Err(FieldError::new(
                format!("instance.devices[{k}].gain"),
                "not used by studies: gains are drawn per realization with system.path_loss",
            ));
        }
        Ok(())
    }

    /// `[instance]` validated, its errors under `instance.`.
    fn checked_instance(&self) -> Result<Option<Instance>, FieldError> {
        self.instance
            .clone()
            .map(|f| f.validate())
            .transpose()
            .map_err(|e| FieldError::new(format!("instance.{}", e.field), e.reason))
    }

    /// A noise sweep and the other noise key in `[system]` would give both keys at every point.
    fn check_noise_sweep(&self) -> Result<(), FieldError> {
        let (other, given) = match self.sweep.parameter {
            SweepParameter::NoiseW => ("noise_psd_w_per_hz", self.system.noise_psd_w_per_hz),
            SweepParameter::NoisePsdWPerHz => ("noise_w", self.system.noise_w),
            _ => return Ok(()),
        };
        match given {
            None => Ok(()),
            Some(v) => Err(FieldError::new(
                format!("system.{other}"),
                format!(
                    "{} is given, but the sweep sets {}: the noise is given one way only; \
                     remove system.{other} or sweep {other}",
                    number(v),
                    self.sweep.parameter.name()
                ),
            )),
        }
    }

    /// Trials, realizations and the work they make, within the limits (also after flags).
    pub fn check_counts(&self) -> Result<(), FieldError> {
        let s = &self.study;
        let range = |field: &str, v: u64, max: f64| {
            if v == 0 || v as f64 > max {
                let reason = format!("{v} is out of range: need 1 <= {field} <= {}", number(max));
                return Err(FieldError::new(format!("study.{field}"), reason));
            }
            Ok(())
        };
        range("trials", s.trials, MAX_UNITS)?;
        range("realizations", s.realizations, MAX_REALIZATIONS)?;
        let units = s.trials as f64 * self.sweep.values.len() as f64;
        if units > MAX_UNITS {
            return Err(FieldError::new(
                "study.trials",
                format!(
                    "{} work units (points x trials) exceed {}; use fewer trials and more \
                     realizations",
                    number(units),
                    number(MAX_UNITS)
                ),
            ));
        }
        let samples = units * s.realizations as f64;
        if samples > MAX_SAMPLES {
            return Err(FieldError::new(
                "study.realizations",
                format!(
                    "{} samples (points x trials x realizations) exceed {}",
                    number(samples),
                    number(MAX_SAMPLES)
                ),
            ));
        }
        Ok(())
    }

    /// Sweep point `p` checked as it will run; an error in a field the sweep sets is the sweep
    /// value's fault, any other is the file's own field.
    fn check_point(&self, p: usize) -> Result<(), FieldError> {
        let param = self.sweep.parameter;
        let v = self.sweep.values[p];
        let field = format!("sweep.values[{p}]");
        if !v.is_finite() {
            return Err(FieldError::new(field, format!("{v} is not finite")));
        }
        let max = crate::library::MAX_COUNT as f64;
        if param.is_count() && (v < 1.0 || v.fract() != 0.0 || v > max) {
            return Err(FieldError::new(
                field,
                format!(
                    "{} = {} must be a whole number in 1..={}",
                    param.name(),
                    number(v),
                    number(max)
                ),
            ));
        }
        let pt = self.point(p);
        let g = &pt.generator;
        // A size limit involves every size, so a swept size is its cause whichever is named.
        let size = crate::library::size_error(g.models, g.blocks, g.devices)
            .map(|(what, reason)| FieldError::new(format!("generator.{what}"), reason));
        let sized = param.is_count() && size.is_some();
        let checked = match size {
            Some(e) => Err(e),
            None => pt
                .system
                .validate("system.")
                .and_then(|_| pt.generator.validate("generator."))
                .and_then(|_| pt.latency.validate("latency."))
                .and_then(|_| self.check_plan_size(g)),
        };
        let Err(e) = checked else { return Ok(()) };
        if !(param.sets(&e.field) || sized) {
            return Err(e);
        }
        Err(FieldError::new(
            field,
            format!("{} = {v} makes {}: {}", param.name(), e.field, e.reason),
        ))
    }
}

impl Study {
    /// Load and check a study file (exit 2 on any bad key or value).
    pub fn load(path: &Path) -> Result<Study> {
        let text = read_input(path)?;
        Study::from_text(&path.display().to_string(), &text)
    }

    /// Parse and check study text; `source` names it in errors.
    pub fn from_text(source: &str, text: &str) -> Result<Study> {
        let path = Path::new(source);
        let file: StudyFile = parse_toml(path, text)?;
        file.validate().map_err(|e| e.in_file(path))?;
        let instance = file.checked_instance().map_err(|e| e.in_file(path))?;
        Ok(Study {
            file,
            source: source.into(),
            text: text.into(),
            instance,
        })
    }

    /// Override trials and realizations (command-line flags), with the checks the study
    /// file's keys get; an error on a key a flag set names the flag.
    pub fn with_counts(mut self, trials: Option<u64>, realizations: Option<u64>) -> Result<Study> {
        let s = &mut self.file.study;
        s.trials = trials.unwrap_or(s.trials);
        s.realizations = realizations.unwrap_or(s.realizations);
        self.file.check_counts().map_err(|e| {
            let flag = match e.field.as_str() {
                "study.trials" if trials.is_some() => "--trials",
                "study.realizations" if realizations.is_some() => "--realizations",
                _ => return e.in_file(&self.source),
            };
            MbaError::flag(flag, e.reason)
        })?;
        Ok(self)
    }

    /// Identity of the numbers this study produces: a hash of the effective spec (after flag
    /// overrides), leaving out what must not change them (the backend choice).
    pub fn hash(&self) -> String {
        let mut f = self.file.clone();
        f.study.backend = BackendChoice::Auto;
        let canon = serde_json::to_string(&f).expect("study serialises");
        format!("{:016x}", fnv1a(canon.as_bytes()))
    }

    /// The effective study as TOML (exact for every f64).
    pub fn spec_toml(&self) -> String {
        toml::to_string(&self.file).expect("study serialises to TOML")
    }

    /// Work units `(point, trial)` in canonical order.
    pub fn units(&self) -> u64 {
        self.file.points() as u64 * self.file.study.trials
    }
}

/// FNV-1a, 64 bits: a stable, dependency-free identity hash (not cryptographic).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
