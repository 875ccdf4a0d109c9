//! The `mba` command line: parses flags, calls the library, prints. No solving happens here.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::bench::{BenchBackend, BenchReport, run_bench};
use crate::error::{MbaError, Result};
use crate::library::generate::{GeneratorParams, generate_instance};
use crate::library::{Instance, Settings};
use crate::selection::greedy::{ChainOrder, DeviceOrder, ForeignPool};
use crate::solve::{PsMethod, SolveReport, device_gains, select, solve_with_gains};
use crate::study::{BackendChoice, ProgressMode, Shard, Study};

#[derive(Parser, Debug)]
#[command(
    name = "mba",
    version,
    about = "Multi-user AI model downloading by model broadcasting and assembling"
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
    /// Reproduce the paper's Figs. 6-8 and summarise them beside its claims.
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
    #[arg(long)]
    pub realizations: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Study file (TOML): `[study]`, `[system]`, `[generator]`, `[greedy]`, `[exact]`, `[sweep]`.
    pub study: PathBuf,
    /// Backend (overrides the study file's `study.backend`).
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// Trials (task draws) per sweep point (overrides the study file).
    #[arg(long)]
    pub trials: Option<u64>,
    /// Channel realizations per trial (overrides the study file).
    #[arg(long)]
    pub realizations: Option<u64>,
    /// Run shard I of N (0-based, `I/N`); also taken from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX when set.
    #[arg(long)]
    pub shard: Option<String>,
    /// Shard count for JOB_COMPLETION_INDEX (Kubernetes) or to override SLURM_ARRAY_TASK_COUNT.
    #[arg(long)]
    pub shard_count: Option<u64>,
    /// Output folder.
    #[arg(short, long, default_value = "results")]
    pub output: PathBuf,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
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
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub params: GeneratorParams,
    /// Seed of the library, task draws and gains.
    #[arg(long, default_value_t = 0)]
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
    /// Instance file (JSON, SPEC §6).
    pub instance: PathBuf,
    /// Settings (TOML): `[system]`, `[greedy]`, `[exact]`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Parameter-selection algorithm.
    #[arg(long, value_enum, default_value_t = PsMethod::Greedy)]
    pub ps: PsMethod,
    /// Seed for gains the instance does not fix.
    #[arg(long, default_value_t = 0)]
    pub channel_seed: u64,
    /// Print the solution as JSON.
    #[arg(long)]
    pub json: bool,
    /// Greedy chain order (overrides the config).
    #[arg(long, value_enum)]
    pub chain_order: Option<ChainOrder>,
    /// Greedy device order (overrides the config).
    #[arg(long, value_enum)]
    pub device_order: Option<DeviceOrder>,
    /// Where greedy replacement blocks come from (overrides the config).
    #[arg(long, value_enum)]
    pub foreign: Option<ForeignPool>,
    /// Time limit for `bnb` and `mip`, seconds (overrides the config).
    #[arg(long)]
    pub time_limit: Option<f64>,
    /// Node limit for `bnb` and `mip` (overrides the config).
    #[arg(long)]
    pub node_limit: Option<u64>,
}

/// Parse the process arguments and run; the error carries the exit code.
pub fn run_from_args() -> Result<()> {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.exit())?;
    let sub = matches.subcommand().map(|(_, m)| m);
    match cli.command {
        Command::Generate(args) => generate(args, sub.expect("subcommand")),
        Command::Solve(args) => solve(args),
        Command::Simulate(args) => simulate(args),
        Command::Merge(args) => merge(args),
        Command::Reproduce(args) => reproduce(args),
        Command::Bench(args) => bench(args),
    }
}

fn load_settings(path: Option<&PathBuf>) -> Result<Settings> {
    match path {
        Some(p) => Settings::load(p),
        None => Ok(Settings::default()),
    }
}

/// Config `[generator]` values, with flags given on the command line taking precedence.
fn merged_generator(args: &GenerateArgs, m: &ArgMatches) -> Result<GeneratorParams> {
    let Some(path) = &args.config else {
        return Ok(args.params);
    };
    let base = Settings::load(path)?.generator;
    let mut merged = serde_json::to_value(base).expect("params serialise");
    let flags = serde_json::to_value(args.params).expect("params serialise");
    for (key, value) in flags.as_object().expect("object") {
        if m.value_source(key) == Some(ValueSource::CommandLine) {
            merged[key] = value.clone();
        }
    }
    Ok(serde_json::from_value(merged).expect("same shape"))
}

fn generate(args: GenerateArgs, m: &ArgMatches) -> Result<()> {
    let params = merged_generator(&args, m)?;
    params
        .validate("--")
        .map_err(|e| MbaError::flag(&e.field, e.reason))?;
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
        None => println!(
            "{}",
            serde_json::to_string_pretty(&inst.to_file()).expect("serialises")
        ),
    }
    Ok(())
}

fn solve(args: SolveArgs) -> Result<()> {
    let mut settings = load_settings(args.config.as_ref())?;
    settings.greedy.chain_order = args.chain_order.unwrap_or(settings.greedy.chain_order);
    settings.greedy.device_order = args.device_order.unwrap_or(settings.greedy.device_order);
    settings.greedy.foreign = args.foreign.unwrap_or(settings.greedy.foreign);
    if let Some(t) = args.time_limit {
        settings.exact.time_limit_s = t;
    }
    if args.node_limit.is_some() {
        settings.exact.node_limit = args.node_limit;
    }
    settings.exact.validate("--").map_err(|e| {
        // The flag is `--time-limit`, the config key `time_limit_s`.
        let flag = e
            .field
            .replace("time_limit_s", "time_limit")
            .replace('_', "-");
        MbaError::flag(&flag, e.reason)
    })?;
    let inst = Instance::load(&args.instance)?;
    let ps = select(&inst, &settings, args.ps)?;
    let gains = device_gains(&inst, &settings, args.channel_seed);
    let report = solve_with_gains(&inst, &settings, ps, gains);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialises")
        );
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
    ] {
        println!(
            "{:<22} {:>14} {:>10.3} J",
            name,
            fmt_latency(rep.latency_s),
            rep.energy_j
        );
    }
}

fn progress_mode(quiet: bool) -> ProgressMode {
    if quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    }
}

fn simulate(args: SimulateArgs) -> Result<()> {
    let study = Study::load(&args.study)?.with_counts(args.trials, args.realizations)?;
    let shard = match &args.shard {
        Some(s) => Shard::parse(s)?,
        None => {
            Shard::from_env(|k| std::env::var(k).ok(), args.shard_count)?.unwrap_or(Shard::WHOLE)
        }
    };
    let backend = args.backend.unwrap_or(study.file.study.backend);
    let progress = progress_mode(args.quiet);
    let out = crate::study::simulate(&study, &args.output, backend, shard, args.threads, progress)?;
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
    let out = crate::study::merge(&args.dirs, args.output.as_deref())?;
    eprintln!(
        "merged {} shards into {} ({} rows)",
        out.shards,
        out.out.display(),
        out.rows.len()
    );
    Ok(())
}

fn reproduce(args: ReproduceArgs) -> Result<()> {
    let report = crate::study::reproduce::reproduce(
        &args.output,
        args.quick,
        args.threads,
        progress_mode(args.quiet),
    )?;
    println!("{}", report.summary_md);
    eprintln!(
        "wrote {} (fig6, fig7, fig8, summary.md) in {:.1} s",
        args.output.display(),
        report.wall_s
    );
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    let report = run_bench(args.backend, args.realizations)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialises")
        );
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
        "{:<28} {:<44} {:>10} {:>14} {:>16} {:>16}",
        "scale", "backend", "reals", "reals/s", "kernel reals/s", "greedy trials/s"
    );
    for row in &r.rows {
        println!(
            "{:<28} {:<44} {:>10} {:>14.4e} {:>16} {:>16.4e}",
            row.scale,
            row.backend,
            row.realizations,
            row.realizations_per_s,
            row.kernel_realizations_per_s
                .map_or("-".into(), |x| format!("{x:.4e}")),
            row.greedy_trials_per_s
        );
    }
}
