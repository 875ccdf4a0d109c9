//! The `mba` command line: parses flags, calls the library, prints. No solving happens here.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::builder::{EnumValueParser, ValueParser};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use mba::error::{MbaError, Result};
use mba::library::Instance;
use mba::library::generate::{GeneratorParams, generate_instance};
use mba::solve::{SelectOptions, SolveReport, device_gains, select_logged, solve_with_gains};
use mba::study::{Shard, Study};

use crate::backends::{open, with_threads};
use crate::bench::{BenchBackend, BenchReport, run_bench};
use crate::choices::{BackendArg, ChainOrderArg, DeviceOrderArg, ForeignArg, PopularityArg, PsArg};
use crate::peer::Peer;
use crate::progress::{Mode, Reporter};
use crate::settings::Settings;

#[derive(Parser, Debug)]
#[command(
    name = "mba",
    version,
    about = "Multi-user AI model downloading by model broadcasting and assembling",
    after_help = "Documentation: README.md and docs/ in the mba repository."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a synthetic muNet-like instance.
    Generate(GenerateArgs),
    /// Parameter selection, then every power-control scheme, on one instance.
    Solve(SolveArgs),
    /// Run a Monte Carlo study (a TOML study file) into an output folder.
    Simulate(SimulateArgs),
    /// Combine the shard parts of a study into the final results.
    Merge(MergeArgs),
    /// Reproduce the paper's Figs. 6-9 and summarise them beside its claims.
    Reproduce(ReproduceArgs),
    /// Throughput of the power-control pipeline on the CPU and GPU backends.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which backends to measure.
    #[arg(long, value_enum, default_value_t = BenchBackend::Auto)]
    pub backend: BenchBackend,
    /// Realizations per measurement (the K = 200 scale uses a tenth).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u64>)]
    pub realizations: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also run a peer on the same jobs (`numba`: benches/peer_numba.py, its numba and numpy
    /// variants, through python3 with numba and numpy installed) and report its rate and its
    /// largest relative latency difference from mba.
    #[arg(long, value_enum)]
    pub compare: Option<Peer>,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Study file (TOML): `[study]`, `[system]`, `[generator]`, `[greedy]`, `[exact]`, `[sweep]`;
    /// see docs/formats.md.
    pub study: PathBuf,
    /// Backend (overrides the study file's `study.backend`).
    #[arg(long)]
    pub backend: Option<BackendArg>,
    /// Trials (task draws) per sweep point (overrides the study file).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u64>)]
    pub trials: Option<u64>,
    /// Channel realizations per trial (overrides the study file).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u64>)]
    pub realizations: Option<u64>,
    /// Run shard I of N (0-based, `I/N`); also taken from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX when set.
    #[arg(long, allow_hyphen_values = true)]
    pub shard: Option<String>,
    /// Shard count for JOB_COMPLETION_INDEX (Kubernetes) or to override SLURM_ARRAY_TASK_COUNT.
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u64>)]
    pub shard_count: Option<u64>,
    /// Output folder.
    #[arg(short, long, default_value = "results")]
    pub output: PathBuf,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Worker threads (default: all cores).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<usize>)]
    pub threads: Option<usize>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Folders holding `parts/shard-I-of-N.json` (or part files).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output folder (default: the first folder).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Output folder.
    #[arg(short, long, default_value = "results")]
    pub output: PathBuf,
    /// A fast smoke run: 3 points, 2 trials, 16 realizations per figure, at most 2 s per exact
    /// solve.
    #[arg(long)]
    pub quick: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Worker threads (default: all cores).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<usize>)]
    pub threads: Option<usize>,
}

/// Declares every generator parameter as a flag whose default is `GeneratorParams::default()`'s
/// (one source of defaults), and how flags given on the command line override a base.
macro_rules! generator_flags {
    ($($(#[doc = $doc:literal])* $field:ident: $flag:ty;)+) => {
        /// The generator's parameters as flags (docs/formats.md, `[generator]`).
        #[derive(Args, Debug)]
        pub struct GeneratorFlags {
            $($(#[doc = $doc])*
            #[arg(long, default_value_t = <$flag>::from(GeneratorParams::default().$field),
                  allow_hyphen_values = true, value_parser = <$flag as FlagValue>::parser())]
            $field: $flag,)+
            /// Write Rayleigh gains with this path loss into the instance (omit: gains drawn at
            /// solve).
            #[arg(long, allow_hyphen_values = true)]
            gain_path_loss: Option<f64>,
        }

        impl GeneratorFlags {
            /// `base` with the flags given on the command line applied.
            fn apply(&self, m: &ArgMatches, mut base: GeneratorParams) -> GeneratorParams {
                $(if given(m, stringify!($field)) {
                    base.$field = self.$field.into();
                })+
                if self.gain_path_loss.is_some() {
                    base.gain_path_loss = self.gain_path_loss;
                }
                base
            }
        }
    };
}

/// How a flag's text becomes its value. Numeric flags take values that start with `-` (so
/// `--sharing -1` reaches validation, which names the flag and its range, instead of clap's
/// "unexpected argument"); whole numbers say what they need when given a negative or
/// fractional one (clap alone says only "invalid digit").
trait FlagValue {
    fn parser() -> ValueParser;
}

impl FlagValue for usize {
    fn parser() -> ValueParser {
        ValueParser::new(whole::<usize>)
    }
}

impl FlagValue for f64 {
    fn parser() -> ValueParser {
        clap::value_parser!(f64).into()
    }
}

impl FlagValue for PopularityArg {
    fn parser() -> ValueParser {
        EnumValueParser::<PopularityArg>::new().into()
    }
}

/// A whole-number flag's value (`u64` and `usize` share the range on 64-bit targets).
fn whole<T: std::str::FromStr>(s: &str) -> std::result::Result<T, String> {
    s.parse()
        .map_err(|_| format!("need a whole number from 0 to {}", u64::MAX))
}

fn given(m: &ArgMatches, id: &str) -> bool {
    m.value_source(id) == Some(ValueSource::CommandLine)
}

generator_flags! {
    /// `M`: models (= tasks) in the library.
    models: usize;
    /// `N`: blocks per model.
    blocks: usize;
    /// `K`: devices.
    devices: usize;
    /// Clusters of related tasks (at most `M`; larger values are clamped).
    clusters: usize;
    /// Similarity of two tasks in one cluster, in [0, 1].
    intra_similarity: f64;
    /// Similarity of two tasks in different clusters, in [0, 1].
    inter_similarity: f64;
    /// Uniform jitter added to each pair's similarity.
    similarity_jitter: f64;
    /// How much faster deep blocks lose transfer: exponent `1 + depth_decay * depth`.
    depth_decay: f64;
    /// Relative spread of the own model's per-position scores, in [0, 1).
    score_spread: f64;
    /// Relative per-block noise on transferred scores, in [0, 1).
    block_noise: f64;
    /// Share of a task's blocks that are physically its cluster root's, in [0, 1].
    sharing: f64;
    /// QoS as a fraction of the task-specific model's score.
    qos_ratio: f64;
    /// How devices draw tasks.
    popularity: PopularityArg;
    /// Zipf exponent for `--popularity zipf`.
    zipf_exponent: f64;
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub params: GeneratorFlags,
    /// Seed of the library, task draws and gains.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true, value_parser = whole::<u64>)]
    pub seed: u64,
    /// A TOML file whose `[generator]` table sets the defaults; flags given override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output file (JSON); standard output when absent.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SolveArgs {
    /// Instance file (JSON; see docs/formats.md).
    pub instance: PathBuf,
    /// Settings (TOML): `[system]`, `[greedy]`, `[exact]`, `[lagrangian]`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Parameter-selection algorithm.
    #[arg(long, default_value_t = PsArg(mba::solve::PsMethod::default()))]
    pub ps: PsArg,
    /// Seed for gains the instance does not fix.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true, value_parser = whole::<u64>)]
    pub channel_seed: u64,
    /// Print the solution as JSON.
    #[arg(long)]
    pub json: bool,
    /// Greedy chain order (overrides the config).
    #[arg(long)]
    pub chain_order: Option<ChainOrderArg>,
    /// Greedy device order (overrides the config).
    #[arg(long)]
    pub device_order: Option<DeviceOrderArg>,
    /// Where greedy replacement blocks come from (overrides the config).
    #[arg(long)]
    pub foreign: Option<ForeignArg>,
    /// Work budget of `bnb` and `mip`, in units of about a second on a 2-core machine
    /// (overrides the config's `exact.work_limit`, default 60). The result depends on it alone.
    #[arg(long, allow_hyphen_values = true)]
    pub work_limit: Option<f64>,
    /// Wall-clock safety net of `bnb` and `mip`, seconds (overrides `exact.time_limit_s`,
    /// default 3600); a solve it stops is flagged `stopped_by: "time"`, not reproducible.
    #[arg(long, allow_hyphen_values = true)]
    pub time_limit: Option<f64>,
    /// Node limit for `bnb` and `mip` (overrides the config).
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u64>)]
    pub node_limit: Option<u64>,
    /// Show the exact solver's progress lines even when standard error is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Show no progress lines.
    #[arg(long)]
    pub quiet: bool,
    /// Latency-constrained mode: the round's latency budget T, s (overrides
    /// `latency.budget_s`). Plans MBA and unicast with backups instead of QoS selection.
    #[arg(long, allow_hyphen_values = true)]
    pub latency_budget: Option<f64>,
}

/// Parse the process arguments and run; the error carries the exit code.
pub fn run_from_args() -> Result<()> {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let sub = matches.subcommand().map(|(_, m)| m);
    match cli.command {
        Command::Generate(args) => match sub {
            Some(m) => generate(args, m),
            None => Err(MbaError::flag("generate", "missing subcommand matches")),
        },
        Command::Solve(args) => solve(args),
        Command::Simulate(args) => simulate(args),
        Command::Merge(args) => merge(args),
        Command::Reproduce(args) => reproduce(args),
        Command::Bench(args) => bench(args),
    }
}

/// Config `[generator]` values (or the defaults), with flags given on the command line on top.
fn merged_generator(args: &GenerateArgs, m: &ArgMatches) -> Result<GeneratorParams> {
    let base = match &args.config {
        Some(path) => Settings::load(path)?.generator,
        None => GeneratorParams::default(),
    };
    Ok(args.params.apply(m, base))
}

/// A validation error on a key set by a flag, reported under the flag's name.
fn as_flag(field: &str, reason: String) -> MbaError {
    let flag = match field {
        "time_limit_s" => "--time-limit".to_string(),
        other => format!("--{}", other.replace('_', "-")),
    };
    MbaError::flag(&flag, reason)
}

fn generate(args: GenerateArgs, m: &ArgMatches) -> Result<()> {
    let params = merged_generator(&args, m)?;
    params
        .validate("")
        .map_err(|e| as_flag(&e.field, e.reason))?;
    let inst = generate_instance(&params, args.seed);
    match &args.output {
        Some(path) => {
            inst.save(path)?;
            eprintln!(
                "wrote {} (M = {}, N = {}, K = {})",
                path.display(),
                params.models,
                params.blocks,
                params.devices
            );
        }
        None => println!("{}", to_json(&inst.to_file())?),
    }
    Ok(())
}

pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| MbaError::io("(standard output)", e.into()))
}

/// The settings file with the flags of `mba solve` applied and validated.
fn solve_settings(args: &SolveArgs) -> Result<Settings> {
    let mut settings = Settings::load_or_default(args.config.as_deref())?;
    let greedy = &mut settings.greedy;
    greedy.chain_order = args.chain_order.map_or(greedy.chain_order, Into::into);
    greedy.device_order = args.device_order.map_or(greedy.device_order, Into::into);
    greedy.foreign = args.foreign.map_or(greedy.foreign, Into::into);
    if let Some(w) = args.work_limit {
        settings.exact.work_limit = w;
    }
    if let Some(t) = args.time_limit {
        settings.exact.time_limit_s = t;
    }
    if args.node_limit.is_some() {
        settings.exact.node_limit = args.node_limit;
    }
    settings
        .exact
        .validate("")
        .map_err(|e| as_flag(&e.field, e.reason))?;
    if let Some(t) = args.latency_budget {
        mba::latency::check_budget(t).map_err(|r| MbaError::flag("--latency-budget", r))?;
        settings.latency.budget_s = Some(t);
    }
    Ok(settings)
}

fn solve(args: SolveArgs) -> Result<()> {
    let settings = solve_settings(&args)?;
    let inst = Instance::load(&args.instance)?;
    if let Some(t) = settings.latency.budget_s {
        let gains = device_gains(&inst, settings.system.path_loss, args.channel_seed);
        let (system, latency) = (&settings.system, &settings.latency);
        let r = crate::deadline::solve(&inst, system, latency, t, gains, &args.instance)?;
        return crate::deadline::print(&inst, &r, args.json);
    }
    let show = !args.quiet && (args.verbose || std::io::stderr().is_terminal());
    let log = |line: &str| {
        if show {
            eprintln!("{line}");
        }
    };
    let opts = SelectOptions {
        greedy: settings.greedy,
        exact: settings.exact,
        lagrangian: settings.lagrangian,
    };
    let ps = select_logged(&inst, args.ps.0, &opts, &log)?;
    let gains = device_gains(&inst, settings.system.path_loss, args.channel_seed);
    let report = solve_with_gains(&inst, &settings.system, ps, gains);
    if args.json {
        println!("{}", to_json(&report)?);
    } else {
        print_table(&inst, &report);
    }
    Ok(())
}

fn fmt_latency(l: Option<f64>) -> String {
    l.map_or("outage".into(), |x| format!("{:.4} s", x))
}

fn print_table(inst: &Instance, r: &SolveReport) {
    let ps = &r.ps;
    println!(
        "instance: M = {} models, N = {} blocks, K = {} devices",
        inst.library.models(),
        inst.library.blocks(),
        inst.num_devices()
    );
    let order = ps
        .chain_order
        .map(|o| format!(", chain order {o:?}"))
        .unwrap_or_default();
    println!(
        "selection ({:?}{order}): {} blocks broadcast, lower bound {}, gap {:.1}%, {:.3} s",
        ps.method,
        ps.blocks,
        ps.lower_bound,
        100.0 * ps.gap,
        ps.seconds
    );
    if let Some(st) = &ps.start {
        let proven = if st.proven {
            ", proven by its bound"
        } else {
            ""
        };
        println!(
            "started from {:?}: {} blocks, lower bound {}{proven}",
            st.from, st.blocks, st.lower_bound
        );
    }
    println!(
        "{:>6} {:>6} {:>10} {:>10} {:>12}",
        "device", "task", "qos", "score", "gain"
    );
    for (k, d) in inst.devices.iter().enumerate() {
        println!(
            "{:>6} {:>6} {:>10.4} {:>10.4} {:>12.4e}",
            k, d.task, d.qos, ps.scores[k], r.gains[k]
        );
    }
    println!("{:<22} {:>14} {:>12}", "scheme", "latency", "energy");
    let s = &r.schemes;
    for (name, rep) in [
        ("mba", &s.mba),
        ("mba_constant_power", &s.mba_constant_power),
        ("unicast", &s.unicast),
        ("multicast", &s.multicast),
    ] {
        println!(
            "{:<22} {:>14} {:>10.3} J",
            name,
            fmt_latency(rep.latency_s),
            rep.energy_j
        );
    }
}

/// The shard a flag or the scheduler's environment names, or the whole study.
fn shard_of(args: &SimulateArgs) -> Result<Shard> {
    match &args.shard {
        Some(s) => Shard::parse(s),
        None => Ok(
            Shard::from_env(|k| std::env::var(k).ok(), args.shard_count)?.unwrap_or(Shard::WHOLE),
        ),
    }
}

fn simulate(args: SimulateArgs) -> Result<()> {
    let study = Study::load(&args.study)?.with_counts(args.trials, args.realizations)?;
    let shard = shard_of(&args)?;
    let choice = args.backend.map_or(study.file.study.backend, Into::into);
    let backend = open(choice)?;
    let reporter = Reporter::new(Mode::from_quiet(args.quiet));
    let out = with_threads(args.threads, || {
        mba::study::simulate(&study, backend.as_ref(), &args.output, shard, &reporter)
    })??;
    if args.quiet {
        return Ok(());
    }
    if out.skipped {
        eprintln!("{} already done; reused", out.part_path.display());
    }
    match &out.rows {
        Some(_) => eprintln!(
            "wrote {} (results.csv, results.json, plots, manifest.json) in {:.1} s",
            args.output.display(),
            out.wall_s
        ),
        None => eprintln!(
            "wrote {} in {:.1} s; when every shard is done: mba merge {}",
            out.part_path.display(),
            out.wall_s,
            args.output.display()
        ),
    }
    Ok(())
}

fn merge(args: MergeArgs) -> Result<()> {
    let out = mba::study::merge(&args.dirs, args.output.as_deref())?;
    eprintln!(
        "merged {} shards into {} ({} rows)",
        out.shards,
        out.out.display(),
        out.rows.len()
    );
    Ok(())
}

fn reproduce(args: ReproduceArgs) -> Result<()> {
    let backend = open(mba::study::BackendChoice::Auto)?;
    let reporter = Reporter::new(Mode::from_quiet(args.quiet));
    let report = with_threads(args.threads, || {
        mba::study::reproduce::reproduce(&args.output, args.quick, backend.as_ref(), &reporter)
    })??;
    println!("{}", report.summary_md);
    eprintln!(
        "wrote {} (fig6, fig7, fig8, fig9, fig9_total, regime, summary.md) in {:.1} s",
        args.output.display(),
        report.wall_s
    );
    Ok(())
}

/// Most realizations one `mba bench` measurement may ask for: its outcomes are held in memory
/// (a few GB at this count), and beyond it a run takes hours.
const MAX_BENCH_REALIZATIONS: u64 = 100_000_000;

fn bench(args: BenchArgs) -> Result<()> {
    if let Some(r) = args.realizations
        && !(1..=MAX_BENCH_REALIZATIONS).contains(&r)
    {
        return Err(MbaError::flag(
            "--realizations",
            format!("{r} is out of range: need 1 <= realizations <= 1e8"),
        ));
    }
    let report = run_bench(args.backend, args.realizations, args.compare)?;
    if args.json {
        println!("{}", to_json(&report)?);
    } else {
        print_bench(&report);
    }
    Ok(())
}

fn print_bench(r: &BenchReport) {
    println!(
        "CPU threads: {}; GPU adapter: {}",
        r.cpu_threads,
        r.gpu_adapter.as_deref().unwrap_or("none")
    );
    println!(
        "{:<28} {:<44} {:>10} {:>14} {:>16} {:>10} {:>16} {:>16}",
        "scale",
        "backend",
        "reals",
        "reals/s",
        "kernel reals/s",
        "/kernel",
        "readback reals/s",
        "greedy trials/s"
    );
    let opt = |x: Option<f64>, f: fn(f64) -> String| x.map_or("-".into(), f);
    for row in &r.rows {
        println!(
            "{:<28} {:<44} {:>10} {:>14.4e} {:>16} {:>10} {:>16} {:>16.4e}",
            row.scale,
            row.backend,
            row.realizations,
            row.realizations_per_s,
            opt(row.kernel_realizations_per_s, |x| format!("{x:.4e}")),
            opt(row.end_to_end_over_kernel, |x| format!("{:.0}%", 100.0 * x)),
            opt(row.readback_realizations_per_s, |x| format!("{x:.4e}")),
            row.greedy_trials_per_s
        );
    }
    if let Some(peer) = &r.peer {
        print_peer(r, peer);
    }
}

/// The peer's rows: its rate, mba's CPU rate over it, and how far its answers are from mba's.
fn print_peer(r: &BenchReport, peer: &crate::peer::PeerReport) {
    println!(
        "peer: benches/peer_numba.py, Python {}, numpy {}, numba {}",
        peer.python,
        peer.numpy,
        peer.numba.as_deref().unwrap_or("none")
    );
    println!(
        "{:<28} {:<20} {:>10} {:>14} {:>12} {:>22}",
        "scale", "peer", "reals", "reals/s", "mba cpu / it", "max rel diff vs mba"
    );
    for p in &peer.rows {
        let mba_cpu = r
            .rows
            .iter()
            .find(|row| row.scale == p.scale && row.backend.starts_with("cpu"))
            .map(|row| format!("{:.2}", row.realizations_per_s / p.realizations_per_s));
        let worst = p
            .vs_mba
            .values()
            .map(|e| e.max_rel_error)
            .fold(0.0, f64::max);
        let mismatches: u64 = p.vs_mba.values().map(|e| e.outage_mismatches).sum();
        println!(
            "{:<28} {:<20} {:>10} {:>14.4e} {:>12} {:>14.1e} ({} outage mismatches)",
            p.scale,
            format!("{} ({} thr)", p.variant, p.threads),
            p.realizations,
            p.realizations_per_s,
            mba_cpu.unwrap_or("-".into()),
            worst,
            mismatches
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The flags' defaults are the library's: with no flag given, `apply` changes nothing and
    /// every displayed default parses back to the library default.
    #[test]
    fn generator_flag_defaults_are_the_library_defaults() {
        let m = Cli::command().get_matches_from(["mba", "generate"]);
        let cli = Cli::from_arg_matches(&m).unwrap();
        let Command::Generate(args) = cli.command else {
            panic!("generate")
        };
        let sub = m.subcommand_matches("generate").unwrap();
        let d = GeneratorParams::default();
        assert_eq!(args.params.apply(sub, d), d);
        assert_eq!(merged_generator(&args, sub).unwrap(), d);
        assert_eq!(args.params.models, d.models);
        assert_eq!(args.params.intra_similarity, d.intra_similarity);
        assert_eq!(args.params.popularity.0, d.popularity);
    }

    #[test]
    fn generator_flags_override_only_what_is_given() {
        let m = Cli::command().get_matches_from([
            "mba",
            "generate",
            "--devices",
            "5",
            "--popularity",
            "zipf",
            "--sharing",
            "0.25",
        ]);
        let cli = Cli::from_arg_matches(&m).unwrap();
        let Command::Generate(args) = cli.command else {
            panic!("generate")
        };
        let base = GeneratorParams {
            models: 40,
            devices: 9,
            ..GeneratorParams::default()
        };
        let p = args
            .params
            .apply(m.subcommand_matches("generate").unwrap(), base);
        assert_eq!((p.models, p.devices, p.sharing), (40, 5, 0.25));
        assert_eq!(p.popularity, mba::library::generate::Popularity::Zipf);
        assert_eq!(p.qos_ratio, base.qos_ratio);
    }

    #[test]
    fn key_errors_name_the_flag() {
        assert!(
            as_flag("time_limit_s", "x".into())
                .to_string()
                .contains("--time-limit")
        );
        assert!(
            as_flag("intra_similarity", "x".into())
                .to_string()
                .contains("--intra-similarity")
        );
    }
}
