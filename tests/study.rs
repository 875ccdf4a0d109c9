//! Monte Carlo studies: reproducibility across threads, shards and merges; confidence intervals;
//! outages; bad study files; sharding from scheduler environments; `mba reproduce --quick`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{mba, scratch};
use mba::backend::{Backend, CpuBackend, Outcome, PowerJob, PowerSettings};
use mba::channel::{Purpose, exp1, stream_rng};
use mba::library::{Device, Library};
use mba::selection::Selection;
use mba::selection::greedy::GreedyOptions;
use mba::study::stats::Acc;
use mba::study::{Row, Shard, Silent, Study, results, run_part};

/// A small study exercising two sweep points, per-trial libraries and shared blocks.
const SMALL: &str = r#"
[study]
name = "small"
seed = 11
trials = 5
realizations = 9
library_per_trial = true
schemes = ["mba_greedy", "mba_constant_power", "unicast"]

[generator]
models = 8
blocks = 6
clusters = 2
sharing = 0.3
depth_decay = 1.5

[sweep]
parameter = "devices"
values = [2, 7]
"#;

fn small() -> Study {
    Study::from_text("small.toml", SMALL).expect("valid study")
}

/// Run `f` on a rayon pool of `n` threads.
fn with_threads<T: Send>(
    n: usize,
    f: impl FnOnce() -> T + Send,
) -> Result<T, rayon::ThreadPoolBuildError> {
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()?
        .install(f))
}

fn rows_of(study: &Study, backend: &dyn Backend, shards: u64) -> Vec<Row> {
    let parts: Vec<_> = (0..shards)
        .map(|i| run_part(study, backend, Shard::new(i, shards).unwrap(), &Silent).unwrap())
        .collect();
    results(study, &parts).unwrap().0
}

/// `(value, mean, ci95, count, outages)` with floats as bit patterns.
type RowBits = (u64, Option<u64>, Option<u64>, u64, u64);

/// Bit patterns of every number in the rows, so the comparison is exact.
fn bits(rows: &[Row]) -> Vec<RowBits> {
    rows.iter()
        .map(|r| {
            (
                r.value.to_bits(),
                r.mean.map(f64::to_bits),
                r.ci95.map(f64::to_bits),
                r.count,
                r.outages,
            )
        })
        .collect()
}

#[test]
fn one_and_two_threads_and_three_shards_give_identical_numbers() {
    let study = small();
    let one = with_threads(1, || rows_of(&study, &CpuBackend, 1)).unwrap();
    let two = with_threads(2, || rows_of(&study, &CpuBackend, 1)).unwrap();
    let sharded = with_threads(2, || rows_of(&study, &CpuBackend, 3)).unwrap();
    assert_eq!(one.len(), 2 * 3 * 4);
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(bits(&one), bits(&sharded));
    // Real numbers: every latency is served and MBA never needs more blocks than unicast;
    // unicast selects nothing, so its gap cell has no sample.
    for r in &one {
        assert_eq!(r.outages, 0, "{r:?}");
        if r.scheme == "unicast" && r.metric == "gap" {
            assert_eq!((r.count, r.mean), (0, None), "{r:?}");
        } else {
            assert!(r.mean.unwrap() > 0.0, "{r:?}");
        }
    }
    let blocks = |scheme: &str, p: usize| {
        one.iter()
            .find(|r| r.scheme == scheme && r.metric == "blocks" && r.point == p)
            .unwrap()
            .mean
            .unwrap()
    };
    assert!(blocks("mba_greedy", 1) < blocks("unicast", 1));
    assert_eq!(blocks("unicast", 1), 7.0 * 6.0);
    // The shared-library path (one library per point, batched greedy) as well.
    let shared = Study::from_text(
        "shared.toml",
        &SMALL.replace("library_per_trial = true", "library_per_trial = false"),
    )
    .unwrap();
    let one = with_threads(1, || rows_of(&shared, &CpuBackend, 1)).unwrap();
    let two = with_threads(2, || rows_of(&shared, &CpuBackend, 2)).unwrap();
    assert_eq!(bits(&one), bits(&two));
}

/// Exact selection under a work budget: a study with `mba_bnb` whose solves stop by work (not
/// proven) writes byte-identical `results.csv` with 1, 2 and 4 threads and with 3 shards merged.
#[test]
fn a_study_with_exact_selection_is_identical_for_any_threads_and_shards() {
    let dir = scratch("bnb-threads");
    let file = dir.join("bnb.toml");
    std::fs::write(
        &file,
        r#"
[study]
name = "bnb"
seed = 3
trials = 2
realizations = 4
schemes = ["mba_greedy", "mba_bnb", "mba_lagrangian"]

[generator]
models = 21
blocks = 24

[exact]
work_limit = 0.5

[sweep]
parameter = "devices"
values = [8, 12]
"#,
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let run = |name: &str, extra: &[&str]| -> std::path::PathBuf {
        let out = dir.join(name);
        let mut args = vec!["simulate", f, "--quiet", "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = mba(&args);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        out
    };
    let read = |d: &Path, n: &str| std::fs::read_to_string(d.join(n)).unwrap();
    let one = run("t1", &["--threads", "1"]);
    let csv = read(&one, "results.csv");
    for (name, threads) in [("t2", "2"), ("t4", "4")] {
        let d = run(name, &["--threads", threads]);
        assert_eq!(read(&d, "results.csv"), csv, "{threads} threads");
    }
    let split = dir.join("split");
    for i in 0..3 {
        let shard = format!("{i}/3");
        run("split", &["--shard", &shard]);
    }
    let merged = mba(&["merge", split.to_str().unwrap()]);
    assert_eq!(merged.status.code(), Some(0), "{merged:?}");
    assert_eq!(read(&split, "results.csv"), csv, "3 shards");
    // The solves really stopped by their budget, none by the clock.
    let manifest: serde_json::Value = serde_json::from_str(&read(&one, "manifest.json")).unwrap();
    let unproven: u64 = manifest["bnb_unproven"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(unproven >= 1, "{manifest}");
    assert_eq!(manifest["reproducible"], true);
    // Lagrangian selection sends no more blocks than greedy at any point.
    let one_rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let blocks = |scheme: &str, p: &str| -> f64 {
        let row = one_rows
            .iter()
            .find(|r| r[0] == p && r[3] == scheme && r[4] == "blocks")
            .unwrap();
        row[5].parse().unwrap()
    };
    for p in ["0", "1"] {
        assert!(
            blocks("mba_lagrangian", p) <= blocks("mba_greedy", p),
            "point {p}"
        );
        assert!(
            blocks("mba_lagrangian", p) < 0.8 * blocks("mba_greedy", p),
            "point {p}"
        );
    }
}

/// A backend that delegates to the CPU and counts its calls: studies run on any `&dyn Backend`.
struct Counting(AtomicUsize);

impl Backend for Counting {
    fn name(&self) -> String {
        "counting cpu".into()
    }
    fn greedy_batch(
        &self,
        library: &Arc<Library>,
        trials: &[Vec<Device>],
        opts: &GreedyOptions,
    ) -> mba::Result<Vec<Selection>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        CpuBackend.greedy_batch(library, trials, opts)
    }
    fn power_batch(&self, s: &PowerSettings, jobs: &[PowerJob]) -> mba::Result<Vec<Outcome>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        CpuBackend.power_batch(s, jobs)
    }
}

#[test]
fn a_study_runs_on_any_backend_with_the_same_numbers() {
    let study = small();
    let counting = Counting(AtomicUsize::new(0));
    let a = rows_of(&study, &counting, 1);
    let b = rows_of(&study, &CpuBackend, 1);
    assert!(counting.0.load(Ordering::Relaxed) > 0);
    assert_eq!(bits(&a), bits(&b));
}

/// Zipf-popular tasks (repeats) on one library per point, plain multicast beside unicast and MBA.
const MULTICAST: &str = r#"
[study]
name = "multicast"
seed = 4
trials = 4
realizations = 7
schemes = ["unicast", "multicast", "mba_greedy"]

[generator]
models = 6
blocks = 5
clusters = 2
popularity = "zipf"

[sweep]
parameter = "devices"
values = [3, 6]
"#;

fn multicast_study(popularity: &str) -> Study {
    let text = MULTICAST.replace("\"zipf\"", &format!("\"{popularity}\""));
    Study::from_text("multicast.toml", &text).expect("valid study")
}

/// The `multicast` scheme: the same numbers for 1 and 2 threads and 3 shards; `N` blocks per
/// distinct requested task (by hand from the trials' task draws) and no gap sample; never slower
/// than unicast on the same draws, and equal to it bit for bit when every task is distinct.
#[test]
fn a_multicast_study_is_reproducible_and_never_slower_than_unicast() {
    use mba::library::generate::draw_tasks;
    let study = multicast_study("zipf");
    let one = with_threads(1, || rows_of(&study, &CpuBackend, 1)).unwrap();
    let two = with_threads(2, || rows_of(&study, &CpuBackend, 1)).unwrap();
    let sharded = with_threads(2, || rows_of(&study, &CpuBackend, 3)).unwrap();
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(bits(&one), bits(&sharded));
    let cell = |rows: &[Row], scheme: &str, metric: &str, p: usize| {
        rows.iter()
            .find(|r| r.scheme == scheme && r.metric == metric && r.point == p)
            .unwrap()
            .clone()
    };
    let f = &study.file;
    let mut repeated = 0;
    for p in 0..f.points() {
        let pt = f.point(p);
        let distinct: Vec<usize> = (0..f.study.trials)
            .map(|t| {
                let mut rng = stream_rng(4, p as u64, t, Purpose::Tasks, 0);
                let mut tasks = draw_tasks(&pt.generator, &mut rng);
                tasks.sort();
                tasks.dedup();
                tasks.len()
            })
            .collect();
        repeated += distinct
            .iter()
            .filter(|&&d| d < pt.generator.devices)
            .count();
        let want = 5.0 * distinct.iter().sum::<usize>() as f64 / f.study.trials as f64;
        let blocks = cell(&one, "multicast", "blocks", p);
        assert_eq!(blocks.count, f.study.trials);
        assert!(
            (blocks.mean.unwrap() - want).abs() <= 1e-12 * want,
            "point {p}"
        );
        let gap = cell(&one, "multicast", "gap", p);
        assert_eq!((gap.count, gap.mean), (0, None));
        for metric in ["latency_s", "latency_per_device_s"] {
            let (m, u) = (
                cell(&one, "multicast", metric, p),
                cell(&one, "unicast", metric, p),
            );
            assert_eq!((m.count, m.outages), (4 * 7, 0));
            assert!(m.mean.unwrap() <= u.mean.unwrap(), "{metric} point {p}");
        }
    }
    assert!(
        repeated >= 4,
        "Zipf draws repeat tasks in most trials: {repeated}"
    );
    let m6 = cell(&one, "multicast", "latency_s", 1).mean.unwrap();
    let u6 = cell(&one, "unicast", "latency_s", 1).mean.unwrap();
    assert!(
        m6 < 0.9 * u6,
        "K = 6 with repeats: multicast {m6} vs unicast {u6}"
    );
    // Distinct tasks: multicast is unicast, every number.
    let distinct = rows_of(&multicast_study("distinct"), &CpuBackend, 1);
    let of = |scheme: &str| -> Vec<Row> {
        distinct
            .iter()
            .filter(|r| r.scheme == scheme)
            .cloned()
            .collect()
    };
    assert_eq!(bits(&of("multicast")), bits(&of("unicast")));
}

#[test]
fn sharded_cli_runs_merge_to_the_unsharded_files() {
    let dir = scratch("study-shards");
    let file = dir.join("small.toml");
    std::fs::write(&file, SMALL).unwrap();
    let f = file.to_str().unwrap();
    let whole = dir.join("whole");
    let out = mba(&["simulate", f, "-o", whole.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let split = dir.join("split");
    for i in 0..3 {
        let shard = format!("{i}/3");
        let out = mba(&[
            "simulate",
            f,
            "--shard",
            &shard,
            "-o",
            split.to_str().unwrap(),
            "--threads",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(split.join(format!("parts/shard-{i}-of-3.json")).is_file());
        assert!(
            !split.join("results.csv").exists(),
            "a shard alone is not a result"
        );
    }
    // A finished shard is skipped on rerun.
    let again = mba(&[
        "simulate",
        f,
        "--shard",
        "1/3",
        "-o",
        split.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already done"));
    let merged = mba(&["merge", split.to_str().unwrap()]);
    assert_eq!(merged.status.code(), Some(0), "{merged:?}");
    let read = |d: &Path, n: &str| std::fs::read_to_string(d.join(n)).unwrap();
    assert_eq!(read(&whole, "results.csv"), read(&split, "results.csv"));
    assert_eq!(read(&whole, "results.json"), read(&split, "results.json"));
    // Outputs: tidy CSV header, plots in both formats, a manifest naming the shards.
    assert!(read(&whole, "results.csv").starts_with(
        "point,parameter,value,scheme,metric,mean,ci95,count,outages,group\n0,devices,2,mba_greedy,"
    ));
    for m in ["latency_s", "latency_per_device_s", "blocks", "gap"] {
        assert!(read(&whole, &format!("{m}.svg")).contains("MBA, greedy selection"));
        let png = std::fs::read(whole.join(format!("{m}.png"))).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
    }
    let manifest: serde_json::Value = serde_json::from_str(&read(&split, "manifest.json")).unwrap();
    assert_eq!(manifest["shards"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["seed"], 11);
    assert!(
        manifest["study_text"]
            .as_str()
            .unwrap()
            .contains("library_per_trial")
    );
    // Parts of another study do not merge.
    let other = dir.join("other.toml");
    std::fs::write(&other, SMALL.replace("seed = 11", "seed = 12")).unwrap();
    let odir = dir.join("other");
    let out = mba(&[
        "simulate",
        other.to_str().unwrap(),
        "--shard",
        "0/3",
        "-o",
        odir.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let bad = mba(&["merge", split.to_str().unwrap(), odir.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("spec_hash"));
    // Missing shards are named.
    let bad = mba(&["merge", odir.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("shards 1, 2 of 3 are missing"));
}

/// A damaged part file is bad input (exit 2) naming the part and the field: a sum that is not
/// finite, more outages than samples, a unit of another shard, a unit left out, an edited study.
#[test]
fn damaged_part_files_exit_2_naming_the_part() {
    let dir = scratch("damaged-parts");
    let file = dir.join("small.toml");
    std::fs::write(&file, SMALL).unwrap();
    let good = dir.join("good");
    for i in 0..2 {
        let shard = format!("{i}/2");
        let (f, o) = (file.to_str().unwrap(), good.to_str().unwrap());
        let out = mba(&["simulate", f, "--shard", &shard, "-o", o, "--quiet"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    let part = |i: u64| good.join(format!("parts/shard-{i}-of-2.json"));
    let load = |i: u64| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(part(i)).unwrap()).unwrap()
    };
    // An accumulator is `[count, sum bits, sum-of-squares bits, outages]`.
    type Damage = fn(&mut serde_json::Value, &serde_json::Value);
    let cases: [(&str, Damage, &str); 6] = [
        (
            "inf",
            |p, _| p["units"][0]["accs"][0][1] = f64::INFINITY.to_bits().into(),
            "units[0].accs[0]",
        ),
        (
            "outages",
            |p, _| p["units"][1]["accs"][2][3] = 1_000_000.into(),
            "outages",
        ),
        (
            "nan",
            |p, _| p["units"][0]["accs"][1][2] = f64::NAN.to_bits().into(),
            "units[0].accs[1]",
        ),
        (
            "foreign",
            |p, other| p["units"][0] = other["units"][0].clone(),
            "units[0].point",
        ),
        (
            "missing",
            |p, _| {
                p["units"].as_array_mut().unwrap().pop();
            },
            "units",
        ),
        (
            "edited",
            |p, _| {
                let t = p["spec_toml"]
                    .as_str()
                    .unwrap()
                    .replace("seed = 11", "seed = 13");
                p["spec_toml"] = t.into();
            },
            "spec_toml",
        ),
    ];
    for (name, damage, field) in cases {
        let case = dir.join(name);
        std::fs::create_dir_all(case.join("parts")).unwrap();
        let mut p1 = load(1);
        damage(&mut p1, &load(0));
        std::fs::write(case.join("parts/shard-1-of-2.json"), p1.to_string()).unwrap();
        std::fs::copy(part(0), case.join("parts/shard-0-of-2.json")).unwrap();
        let out = mba(&["merge", case.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("shard-1-of-2.json"), "{name}: {err}");
        assert!(err.contains(field), "{name}: {err}");
        assert!(!case.join("results.csv").exists(), "{name}: merged anyway");
    }
    // The undamaged parts merge.
    let out = mba(&["merge", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn confidence_interval_shrinks_as_one_over_sqrt_n() {
    // Exp(1) draws from the study's own streams: true mean 1, true standard deviation 1.
    let acc = |n: u64| {
        let mut rng = stream_rng(5, 0, 0, Purpose::Channel, 0);
        let mut a = Acc::default();
        for _ in 0..n {
            a.push(exp1(&mut rng));
        }
        a.summary()
    };
    let (s1, s4) = (acc(2_000), acc(8_000));
    let (c1, c4) = (s1.ci95.unwrap(), s4.ci95.unwrap());
    assert!((c1 / c4 - 2.0).abs() < 0.1, "ratio {}", c1 / c4);
    for (s, n) in [(s1, 2_000.0), (s4, 8_000.0)] {
        let c = s.ci95.unwrap();
        assert!(
            (c / (1.96 / f64::sqrt(n)) - 1.0).abs() < 0.1,
            "ci {c} at n {n}"
        );
        assert!((s.mean.unwrap() - 1.0).abs() < 1.5 * c, "mean {:?}", s.mean);
    }
    // Student t for small n: 3 samples 0, 1, 2 have s = 1, so ci = 4.303 / sqrt(3).
    let mut a = Acc::default();
    [0.0, 1.0, 2.0].iter().for_each(|&x| a.push(x));
    assert!((a.summary().ci95.unwrap() - 4.303 / 3f64.sqrt()).abs() < 1e-12);
}

#[test]
fn outages_are_counted_and_never_averaged() {
    let text = SMALL
        .replace("parameter = \"devices\"", "parameter = \"energy_j\"")
        .replace("values = [2, 7]", "values = [1e-12, 250]")
        .replace("[generator]", "[generator]\ndevices = 4");
    let study = Study::from_text("outage.toml", &text).unwrap();
    let rows = rows_of(&study, &CpuBackend, 1);
    let samples = 5 * 9;
    for r in &rows {
        let latency = r.metric.starts_with("latency");
        let starved = r.point == 0 && latency;
        let per_trial = if r.metric == "gap" && r.scheme == "unicast" {
            0
        } else {
            5
        };
        assert_eq!(r.count, if latency { samples } else { per_trial }, "{r:?}");
        assert_eq!(r.outages, if starved { samples } else { 0 }, "{r:?}");
        assert_eq!(r.mean.is_none(), starved || per_trial == 0, "{r:?}");
        assert!(r.mean.is_none_or(f64::is_finite));
    }
    // In the files: an empty CSV cell and a JSON null, never NaN or inf.
    let dir = scratch("study-outage");
    let file = dir.join("outage.toml");
    std::fs::write(&file, &text).unwrap();
    let out = mba(&[
        "simulate",
        file.to_str().unwrap(),
        "-o",
        dir.join("o").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let csv = std::fs::read_to_string(dir.join("o/results.csv")).unwrap();
    assert!(csv.contains("0,energy_j,0.000000000001,mba_greedy,latency_s,,,45,45,\n"));
    assert!(!csv.contains("NaN") && !csv.contains("inf"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("o/results.json")).unwrap())
            .unwrap();
    assert!(json["rows"][0]["mean"].is_null());
    assert_eq!(json["rows"][0]["outages"], 45);
}

/// A noise spectral density gives the numbers of its noise power `N0 * B`, given in `[system]`
/// or swept; and they are not the default noise's numbers.
#[test]
fn noise_psd_studies_equal_noise_power_studies() {
    let bandwidth = 20e6;
    let psd = [1e-17, 3e-16];
    let study = |system: &str, parameter: &str, values: &[f64]| {
        let text = SMALL
            .replace(
                "[generator]",
                &format!("[system]\nbandwidth_hz = {bandwidth:?}\n{system}\n[generator]"),
            )
            .replace(
                "parameter = \"devices\"",
                &format!("parameter = \"{parameter}\""),
            )
            .replace("values = [2, 7]", &format!("values = {values:?}"))
            .replace("[generator]\n", "[generator]\ndevices = 4\n");
        bits(&rows_of(
            &Study::from_text("noise.toml", &text).unwrap(),
            &CpuBackend,
            1,
        ))
    };
    let power = psd.map(|n| n * bandwidth);
    // Swept, the values themselves differ (W/Hz against W); every number else is the same.
    let numbers = |rows: Vec<RowBits>| {
        rows.into_iter()
            .map(|r| (r.1, r.2, r.3, r.4))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        numbers(study("", "noise_psd_w_per_hz", &psd)),
        numbers(study("", "noise_w", &power))
    );
    let fixed = |noise: &str| study(noise, "energy_j", &[200.0, 320.0]);
    let by_psd = fixed(&format!("noise_psd_w_per_hz = {:?}", psd[1]));
    assert_eq!(by_psd, fixed(&format!("noise_w = {:?}", power[1])));
    assert_ne!(by_psd, fixed(""));
}

fn assert_bad_study(name: &str, text: &str, extra: &[&str], needles: &[&str]) {
    let dir = scratch(name);
    let file = dir.join("bad.toml");
    std::fs::write(&file, text).unwrap();
    let mut args = vec!["simulate", file.to_str().unwrap(), "--quiet", "-o"];
    let out_dir = dir.join("out");
    args.push(out_dir.to_str().unwrap());
    args.extend(extra);
    let out = mba(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {err}");
    assert!(!err.contains("panicked"), "{name}: {err}");
    for n in needles {
        assert!(err.contains(n), "{name}: `{n}` not in: {err}");
    }
}

#[test]
fn bad_study_files_exit_2_naming_file_and_field() {
    let ok = "[sweep]\nparameter = \"devices\"\nvalues = [2]\n";
    assert_bad_study(
        "unknown-key",
        &format!("[study]\ntrails = 3\n{ok}"),
        &[],
        &["bad.toml", "study", "trails"],
    );
    assert_bad_study(
        "empty-sweep",
        "[sweep]\nparameter = \"devices\"\nvalues = []\n",
        &[],
        &["bad.toml", "sweep.values", "empty"],
    );
    assert_bad_study(
        "negative-energy",
        &format!("[system]\nenergy_j = -5.0\n{ok}"),
        &[],
        &["bad.toml", "system.energy_j"],
    );
    assert_bad_study(
        "negative-swept-energy",
        "[sweep]\nparameter = \"energy_j\"\nvalues = [250, -1]\n",
        &[],
        &["bad.toml", "sweep.values[1]", "system.energy_j"],
    );
    assert_bad_study(
        "too-many-distinct",
        "[generator]\nmodels = 5\ndevices = 8\n[sweep]\nparameter = \"energy_j\"\nvalues = [250]\n",
        &[],
        &["bad.toml", "generator.devices", "distinct"],
    );
    assert_bad_study(
        "too-many-distinct-swept",
        "[generator]\nmodels = 5\n[sweep]\nparameter = \"devices\"\nvalues = [2, 6]\n",
        &[],
        &["bad.toml", "sweep.values[1]", "distinct"],
    );
    assert_bad_study(
        "unknown-parameter",
        "[sweep]\nparameter = \"colour\"\nvalues = [1]\n",
        &[],
        &["bad.toml", "sweep.parameter"],
    );
    assert_bad_study(
        "fractional-devices",
        "[sweep]\nparameter = \"devices\"\nvalues = [2.5]\n",
        &[],
        &["sweep.values[0]", "whole number"],
    );
    assert_bad_study(
        "bad-shard",
        ok,
        &["--shard", "3/3"],
        &["--shard", "0-based"],
    );
    assert_bad_study("zero-trials", ok, &["--trials", "0"], &["--trials"]);
    assert_bad_study(
        "both-noise-keys",
        &format!("[system]\nnoise_w = 0.05\nnoise_psd_w_per_hz = 0.5e-9\n{ok}"),
        &[],
        &[
            "bad.toml",
            "system.noise_w",
            "system.noise_psd_w_per_hz",
            "not both",
        ],
    );
    assert_bad_study(
        "noise-swept-and-given",
        "[system]\nnoise_psd_w_per_hz = 0.5e-9\n[sweep]\nparameter = \"noise_w\"\nvalues = [1e-9]\n",
        &[],
        &[
            "bad.toml",
            "system.noise_psd_w_per_hz",
            "the sweep sets noise_w",
        ],
    );
}

/// docs/gpu.md: the same study on the GPU backend (lavapipe in CI) matches the CPU reference within
/// the stated tolerance: relative latency error <= 1e-4 and identical block counts and outages.
/// No adapter is a failure unless `MBA_SKIP_GPU=1` is set explicitly.
#[test]
fn cpu_and_gpu_backends_give_the_same_study_within_tolerance() {
    if std::env::var("MBA_SKIP_GPU").as_deref() == Ok("1") {
        eprintln!("MBA_SKIP_GPU=1: skipping the CPU-vs-GPU study comparison");
        return;
    }
    let gpu = mba::gpu::GpuBackend::new(true).unwrap_or_else(|e| {
        panic!("no usable wgpu adapter ({e}); install mesa-vulkan-drivers or set MBA_SKIP_GPU=1")
    });
    // Also several tiles of the device reduction per trial, two jobs per trial (greedy and
    // Lagrangian) and one library per point.
    let larger = SMALL
        .replace("realizations = 9", "realizations = 700")
        .replace("library_per_trial = true", "library_per_trial = false")
        .replace("\"unicast\"]", "\"unicast\", \"mba_lagrangian\"]");
    let larger = Study::from_text("larger.toml", &larger).unwrap();
    for study in [small(), larger, multicast_study("zipf")] {
        assert_backends_agree(&study, &gpu);
    }
}

/// Every row of `study` on the GPU: block counts and outages as on the CPU, means to 1e-4.
fn assert_backends_agree(study: &Study, gpu: &dyn Backend) {
    let cpu_rows = rows_of(study, &CpuBackend, 1);
    let gpu_rows = rows_of(study, gpu, 1);
    assert_eq!(cpu_rows.len(), gpu_rows.len());
    for (c, g) in cpu_rows.iter().zip(&gpu_rows) {
        assert_eq!(
            (c.point, &c.scheme, &c.metric),
            (g.point, &g.scheme, &g.metric)
        );
        assert_eq!(
            (c.count, c.outages),
            (g.count, g.outages),
            "{} {}",
            c.scheme,
            c.metric
        );
        if c.count == 0 {
            continue; // unicast's and multicast's gap: no sample on either backend
        }
        let (cm, gm) = (c.mean.unwrap(), g.mean.unwrap());
        let rel = (cm - gm).abs() / cm.abs().max(1e-300);
        if c.metric == "blocks" || c.metric == "gap" {
            assert_eq!(cm, gm, "block counts at point {}", c.point);
        } else {
            assert!(
                rel <= 1e-4,
                "{} {} point {}: cpu {cm} gpu {gm} rel {rel:e}",
                c.scheme,
                c.metric,
                c.point
            );
        }
    }
}

#[test]
fn scheduler_environments_pick_the_shard() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let slurm = env(&[
        ("SLURM_ARRAY_TASK_ID", "4"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]);
    assert_eq!(
        Shard::from_env(slurm, None).unwrap(),
        Some(Shard { index: 3, count: 4 })
    );
    let k8s = env(&[("JOB_COMPLETION_INDEX", "2"), ("MBA_SHARD_COUNT", "3")]);
    assert_eq!(
        Shard::from_env(k8s, None).unwrap(),
        Some(Shard { index: 2, count: 3 })
    );
    let k8s_flag = env(&[("JOB_COMPLETION_INDEX", "2")]);
    assert!(Shard::from_env(k8s_flag, None).is_err());
    assert_eq!(
        Shard::from_env(k8s_flag, Some(5)).unwrap(),
        Some(Shard { index: 2, count: 5 })
    );
    assert_eq!(Shard::from_env(env(&[]), None).unwrap(), None);
    // Round robin: every unit in exactly one of N shards.
    let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
    for u in 0..20 {
        assert_eq!(shards.iter().filter(|s| s.owns(u)).count(), 1);
    }
}

#[test]
fn reproduce_quick_writes_figures_and_summary() {
    let dir = scratch("study-reproduce");
    let out = mba(&[
        "reproduce",
        "--quick",
        "--quiet",
        "-o",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for fig in ["fig6", "fig7", "fig8"] {
        assert!(dir.join(fig).join("results.csv").is_file(), "{fig}");
        assert!(dir.join(fig).join("latency_s.png").is_file(), "{fig}");
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert_eq!(summary.trim(), stdout.trim());
    assert!(summary.contains("| MBA / unicast latency, E = 200–320 J"));
    assert!(summary.contains("greedy / optimal blocks at K = 17"));
    // Fig. 6 also reports each selection's gap to its proven bound, as a table and a plot.
    assert!(
        summary.contains("(gap; ± is the 95% CI half-width)"),
        "{summary}"
    );
    assert!(dir.join("fig6").join("gap.png").is_file());
    // Every latency ratio is a measured number here (the quick run keeps E = 200 and 320 J).
    assert!(summary.contains("constant-power MBA / MBA latency at E = 200 J | 1.20 | 1."));
    // The regime study, once per power-control claim, and where each claim holds.
    for run in ["e200", "e320", "k20"] {
        let run = dir.join("regime").join(run);
        assert!(run.join("results.csv").is_file(), "{run:?}");
        assert!(run.join("latency_s.png").is_file(), "{run:?}");
    }
    assert!(summary.contains("## Where the power-control claims hold: the regime study"));
    assert!(summary.contains("| MBA / constant-power MBA latency per device at K = 20 | 0.85 | E = 250 J, K = 20 | 1.0"), "{summary}");
    // Figures for a reader: what is plotted, schemes in words, whole-number ticks for devices
    // and a log axis for the noise.
    let svg = std::fs::read_to_string(dir.join("fig8/latency_per_device_s.svg")).unwrap();
    assert!(svg.contains("Downloading latency per device vs number of devices"));
    assert!(svg.contains("MBA, constant power") && !svg.contains("mba_constant_power"));
    assert!(svg.contains("latency per device (s)") && svg.contains("devices K"));
    let ticks = x_ticks(&svg);
    assert!(
        ticks.len() >= 5 && ticks.iter().all(|t| t.parse::<u32>().is_ok()),
        "{ticks:?}"
    );
    let svg = std::fs::read_to_string(dir.join("regime/e200/latency_s.svg")).unwrap();
    assert!(svg.contains("Total downloading latency vs noise power"));
    assert!(svg.contains("K = 21 devices, E = 200 J"));
    let ticks = x_ticks(&svg);
    assert!(ticks.contains(&"1e-9".to_string()), "{ticks:?}");
    assert!(ticks.iter().all(|t| t.starts_with("1e-")), "{ticks:?}");
}

/// The x tick labels of a plot's SVG: the largest set of centred labels on one line.
fn x_ticks(svg: &str) -> Vec<String> {
    let mut lines = svg.lines();
    let mut by_y: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    while let Some(line) = lines.next() {
        if line.starts_with("<text") && line.contains("text-anchor=\"middle\"") {
            let y = line
                .split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let text = lines.next().unwrap().trim().to_string();
            by_y.entry(y.into()).or_default().push(text);
        }
    }
    by_y.into_values().max_by_key(Vec::len).unwrap_or_default()
}

#[test]
fn realizations_beyond_one_batch_are_chunked_in_order() {
    use mba::backend::PowerJob;
    use mba::library::Instance;
    use mba::library::generate::{draw_tasks, generate_library};
    use mba::power::Link;
    use mba::selection::greedy::greedy;
    let r = mba::study::run::BATCH_SAMPLES + 3;
    let text = format!(
        "[study]\nseed = 4\ntrials = 1\nrealizations = {r}\nschemes = [\"mba_greedy\"]\n\
         [generator]\nmodels = 3\nblocks = 3\n[sweep]\nparameter = \"devices\"\nvalues = [2]\n"
    );
    let study = Study::from_text("chunks.toml", &text).unwrap();
    let row = rows_of(&study, &CpuBackend, 1)
        .into_iter()
        .find(|r| r.metric == "latency_s")
        .unwrap();
    // The same trial by hand, all realizations in one backend call.
    let pt = study.file.point(0);
    let library = Arc::new(generate_library(&pt.generator, 4));
    let mut rng = stream_rng(4, 0, 0, Purpose::Tasks, 0);
    let devices = draw_tasks(&pt.generator, &mut rng)
        .into_iter()
        .map(|task| Device {
            task,
            qos: pt.generator.qos_ratio * library.own_score(task),
            gain: None,
            backup: None,
        })
        .collect();
    let inst = Instance { library, devices };
    let sel = greedy(&inst, &GreedyOptions::default()).unwrap().selection;
    let job = PowerJob {
        seed: 4,
        realizations: r,
        ..PowerJob::from_selection(&sel, 3)
    };
    let settings = PowerSettings {
        link: Link::from(&pt.system),
        path_loss: pt.system.path_loss,
        constant_power_w: None,
    };
    let mut acc = Acc::default();
    for o in CpuBackend.power_batch(&settings, &[job]).unwrap() {
        acc.push(o.mba);
    }
    assert_eq!(row.count, r);
    assert_eq!(
        row.mean.map(f64::to_bits),
        acc.summary().mean.map(f64::to_bits)
    );
}

/// The `gap` metric: per trial, `(|Y| - lower bound) / |Y|` of each scheme's selection against
/// its method's proven bound (greedy's is the trivial `N`; unicast has none), averaged over the
/// trials. Checked against the same trials solved by hand, bit for bit, at a point where every
/// exact solve is proven (gap 0) and at one where the work budget leaves some unproven.
#[test]
fn the_gap_metric_is_each_selections_gap_to_its_proven_bound() {
    use mba::library::Instance;
    use mba::library::generate::{draw_tasks, generate_library};
    use mba::selection::gap;
    use mba::selection::greedy::greedy;
    use mba::selection::lagrangian::lagrangian;
    use mba::solve::{ExactMethod, exact_from_best_start};
    let text = r#"
[study]
seed = 5
trials = 3
realizations = 2
schemes = ["mba_greedy", "mba_bnb", "mba_lagrangian", "unicast"]

[generator]
models = 21
blocks = 24

[exact]
work_limit = 0.5

[sweep]
parameter = "devices"
values = [3, 12]
"#;
    let study = Study::from_text("gap.toml", text).unwrap();
    let parts = |threads: usize, shards: u64| {
        with_threads(threads, || {
            (0..shards)
                .map(|i| run_part(&study, &CpuBackend, Shard::new(i, shards).unwrap(), &Silent))
                .collect::<mba::Result<Vec<_>>>()
                .unwrap()
        })
        .unwrap()
    };
    let (rows, manifest) = results(&study, &parts(1, 1)).unwrap();
    assert_eq!(bits(&rows), bits(&results(&study, &parts(2, 1)).unwrap().0));
    assert_eq!(bits(&rows), bits(&results(&study, &parts(2, 3)).unwrap().0));
    let f = &study.file;
    // Each trial by hand: its instance, the three selections and their bounds.
    let mut positive = 0;
    for p in 0..f.points() {
        let pt = f.point(p);
        let library = Arc::new(generate_library(&pt.generator, 5));
        let mut sums = [0.0; 3];
        let mut proven = 0;
        for t in 0..f.study.trials {
            let mut rng = stream_rng(5, p as u64, t, Purpose::Tasks, 0);
            let devices = draw_tasks(&pt.generator, &mut rng)
                .into_iter()
                .map(|task| Device {
                    task,
                    qos: pt.generator.qos_ratio * library.own_score(task),
                    gain: None,
                    backup: None,
                })
                .collect();
            let inst = Instance {
                library: library.clone(),
                devices,
            };
            let g = greedy(&inst, &f.greedy).unwrap().selection;
            let l = lagrangian(&inst, &f.lagrangian, &f.greedy).unwrap();
            let (b, _) =
                exact_from_best_start(&inst, ExactMethod::Bnb, &f.exact, g.clone(), &l, &|_| {})
                    .unwrap();
            let bnb_gap = gap(b.selection.num_blocks(), b.lower_bound);
            assert_eq!(bnb_gap == 0.0, b.optimal, "point {p} trial {t}");
            proven += usize::from(b.optimal);
            sums[0] += gap(g.num_blocks(), 24);
            sums[1] += bnb_gap;
            sums[2] += gap(l.selection.num_blocks(), l.lower_bound);
        }
        assert_eq!(
            manifest.bnb_unproven[p],
            f.study.trials - proven as u64,
            "point {p}"
        );
        let cell = |scheme: &str| {
            rows.iter()
                .find(|r| r.point == p && r.scheme == scheme && r.metric == "gap")
                .unwrap()
        };
        for (scheme, sum) in ["mba_greedy", "mba_bnb", "mba_lagrangian"].iter().zip(sums) {
            let want = sum / f.study.trials as f64;
            let r = cell(scheme);
            assert_eq!(r.count, f.study.trials, "{scheme} point {p}");
            assert_eq!(
                r.mean.map(f64::to_bits),
                Some(want.to_bits()),
                "{scheme} point {p}"
            );
            positive += usize::from(want > 0.0 && *scheme != "mba_greedy");
        }
        assert_eq!((cell("unicast").count, cell("unicast").mean), (0, None));
    }
    // K = 3: every exact solve proven, gap 0; K = 12: the budget leaves some open.
    assert_eq!(manifest.bnb_unproven[0], 0);
    assert!(manifest.bnb_unproven[1] >= 1, "{:?}", manifest.bnb_unproven);
    assert!(
        positive >= 1,
        "no point with a positive exact or Lagrangian gap"
    );
}
