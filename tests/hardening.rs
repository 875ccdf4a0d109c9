//! Extreme and boundary numbers (1e308, 5e-324, NaN, inf, 0, negative, u64::MAX) and sizes
//! through the library and the `mba` binary: never a panic or a hang, exit code 0 or 2 only, and
//! on success no NaN or infinity in the results and no zero latency for sent blocks. Then one
//! explicit test per class of issue 15: resource limits, flags, HiGHS scales, part files and
//! plots, temporary files.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ::mba::library::generate::{GeneratorParams, generate_instance};
use ::mba::library::instance::InstanceFile;
use ::mba::library::{Instance, size_error};
use ::mba::power::SystemParams;
use ::mba::solve::{PsMethod, SelectOptions, SolveReport, device_gains, select, solve_with_gains};
use ::mba::study::{Metric, Row, Shard, Study};
use common::{mba, scratch};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;

/// Values a user or a script can produce that break naive numerics.
fn extreme() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            1e308,
            f64::MAX,
            5e-324,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            -1.0,
            1e-300,
            1e300,
            1e15,
            1e-15,
            u64::MAX as f64,
            1.0,
        ]),
        (-330i32..330).prop_map(|e| 10f64.powi(e)),
    ]
}

/// Whole numbers at and beyond every limit, as a flag or key would spell them; `big` adds the
/// ones that are valid but large (fast to reject as library sizes, minutes to run as trial or
/// realization counts).
fn extreme_count(big: bool) -> impl Strategy<Value = String> {
    let mut counts = vec![
        "0",
        "1",
        "2",
        "-1",
        "1000000001",
        "18446744073709551615",
        "18446744073709551616",
        "1.5",
    ];
    if big {
        counts.extend(["1000000", "1000001", "10000001"]);
    }
    prop::sample::select(counts.into_iter().map(String::from).collect::<Vec<_>>())
}

/// TOML spelling of an f64 (`nan`, `inf` and `-inf` are TOML's words).
fn toml_f64(v: f64) -> String {
    match v {
        _ if v.is_nan() => "nan".into(),
        f64::INFINITY => "inf".into(),
        f64::NEG_INFINITY => "-inf".into(),
        _ => format!("{v:?}"),
    }
}

/// JSON has no NaN or infinity; a script writing one produces these texts.
fn json_f64(v: f64) -> String {
    match v {
        _ if v.is_nan() => "NaN".into(),
        f64::INFINITY => "1e999".into(),
        f64::NEG_INFINITY => "-1e999".into(),
        _ => format!("{v:?}"),
    }
}

/// `cases` per property, or `PROPTEST_CASES` when set (a longer search than the suite's). The
/// cases come from a fixed seed (`PROPTEST_SEED` picks another), so the suite runs the same
/// inputs on every machine and run.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: env_number("PROPTEST_CASES").unwrap_or(cases),
        rng_seed: RngSeed::Fixed(env_number("PROPTEST_SEED").unwrap_or(20_261_202)),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Every null in a solve's JSON is an Option the report allows (serde_json writes NaN and
/// infinity as null, so any other null is a non-finite number): a scheme's latency and block
/// times only under an outage, and the selection's optional statistics.
fn check_solution_json(v: &Value) -> Result<(), String> {
    for (name, s) in v["schemes"].as_object().ok_or("no schemes")? {
        let outage = s["outage"].as_bool().ok_or("no outage flag")?;
        let ok_null = |path: &str| outage && (path == "latency_s" || path == "blocks[].time_s");
        nulls(s, "", &mut |p| {
            (ok_null(p)).then_some(()).ok_or(format!("{name}.{p}"))
        })?;
        if !outage {
            let latency = s["latency_s"].as_f64().ok_or(format!("{name}: latency"))?;
            let sent = s["blocks"].as_array().is_none_or(|b| !b.is_empty());
            if sent && (latency.is_nan() || latency <= 0.0) {
                return Err(format!("{name}: latency {latency} for sent blocks"));
            }
        }
    }
    let optional = ["chain_order", "stopped_by", "nodes", "lp_solves", "work"];
    nulls(&v["ps"], "", &mut |p| {
        optional.contains(&p).then_some(()).ok_or(format!("ps.{p}"))
    })?;
    nulls(&v["gains"], "gains", &mut |p| Err(p.to_string()))
}

fn nulls(
    v: &Value,
    path: &str,
    f: &mut dyn FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    match v {
        Value::Null => f(path),
        Value::Array(xs) => xs
            .iter()
            .try_for_each(|x| nulls(x, &format!("{path}[]"), f)),
        Value::Object(m) => m.iter().try_for_each(|(k, x)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            nulls(x, &p, f)
        }),
        _ => Ok(()),
    }
}

fn check_report(r: &SolveReport) -> Result<(), String> {
    check_solution_json(&serde_json::to_value(r).map_err(|e| e.to_string())?)
}

fn small_params() -> GeneratorParams {
    GeneratorParams {
        models: 3,
        blocks: 3,
        devices: 2,
        ..GeneratorParams::default()
    }
}

/// The small instance as a JSON value, one number of it replaced by `text`.
fn instance_with(field: usize, text: &str) -> String {
    let inst = generate_instance(&small_params(), 1);
    let mut v = serde_json::to_value(inst.to_file()).unwrap();
    let slot = match field {
        0 => &mut v["library"]["scores"][0][1][2],
        1 => &mut v["library"]["scores"][2][2][0],
        2 => &mut v["devices"][0]["qos"],
        _ => &mut v["devices"][field % 2]["gain"],
    };
    *slot = Value::String("@".into());
    v.to_string().replace("\"@\"", text)
}

fn methods() -> impl Strategy<Value = PsMethod> {
    prop::sample::select(vec![
        PsMethod::Greedy,
        PsMethod::Bnb,
        PsMethod::Mip,
        PsMethod::Lagrangian,
    ])
}

fn quick_opts() -> SelectOptions {
    let mut o = SelectOptions::default();
    o.exact.work_limit = 1.0;
    o
}

proptest! {
    #![proptest_config(config(256))]

    /// An instance with one extreme score, QoS or gain is rejected as bad input or solved to
    /// finite numbers (or a reported outage) by every selection method.
    #[test]
    fn library_instances_with_extreme_numbers(field in 0usize..6, v in extreme(), ps in methods()) {
        let text = instance_with(field, &json_f64(v));
        let Ok(file) = serde_json::from_str::<InstanceFile>(&text) else {
            return Ok(()); // NaN and infinity are not JSON: a parse error, exit 2
        };
        let Ok(inst) = file.validate() else { return Ok(()) };
        let sel = select(&inst, ps, &quick_opts());
        let sel = match sel {
            Ok(s) => s,
            Err(e) => {
                prop_assert_eq!(e.exit_code(), 2, "{:?} failed: {}", ps, e);
                return Ok(());
            }
        };
        let system = SystemParams::default();
        let gains = device_gains(&inst, system.path_loss, 0);
        let report = solve_with_gains(&inst, &system, sel, gains);
        prop_assert!(check_report(&report).is_ok(), "{:?}: {:?}", check_report(&report), text);
    }

    /// Extreme system values are rejected by validation or give finite numbers or an outage,
    /// with drawn and with fixed gains.
    #[test]
    fn library_systems_with_extreme_numbers(
        vals in prop::collection::vec(prop::option::weighted(0.4, extreme()), 7),
        gain in prop::option::of(extreme()),
    ) {
        let mut s = SystemParams::default();
        let fields = [&mut s.bandwidth_hz, &mut s.block_bits, &mut s.energy_j, &mut s.path_loss];
        for (f, v) in fields.into_iter().zip(&vals) {
            if let Some(v) = v { *f = *v; }
        }
        (s.noise_w, s.noise_psd_w_per_hz, s.constant_power_w) = (vals[4], vals[5], vals[6]);
        if s.validate("system.").is_err() { return Ok(()); }
        let text = instance_with(3, &json_f64(gain.unwrap_or(1e-3)));
        let Ok(file) = serde_json::from_str::<InstanceFile>(&text) else { return Ok(()) };
        let Ok(mut inst) = file.validate() else { return Ok(()) };
        if gain.is_none() {
            inst.devices.iter_mut().for_each(|d| d.gain = None);
        }
        let sel = select(&inst, PsMethod::Greedy, &quick_opts()).unwrap();
        let gains = device_gains(&inst, s.path_loss, 3);
        let report = solve_with_gains(&inst, &s, sel, gains);
        prop_assert!(check_report(&report).is_ok(), "{:?}: {:?}", check_report(&report), s);
    }
}

const SYSTEM_KEYS: [&str; 7] = [
    "bandwidth_hz",
    "noise_w",
    "noise_psd_w_per_hz",
    "block_bits",
    "energy_j",
    "path_loss",
    "constant_power_w",
];

/// Exit code 0 or 2, never a panic (101), a signal or a hang.
fn code_of(out: &std::process::Output) -> Result<i32, String> {
    match out.status.code() {
        Some(c @ (0 | 2)) => Ok(c),
        other => Err(format!(
            "exit {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// `mba solve` with one extreme value in the instance and one in the settings.
    #[test]
    fn cli_solve_with_extreme_numbers(
        field in 0usize..6, v in extreme(), key in 0usize..7, w in extreme(), ps in methods(),
    ) {
        let dir = scratch(&format!("solve-{field}-{key}"));
        let inst = dir.join("i.json");
        std::fs::write(&inst, instance_with(field, &json_f64(v))).unwrap();
        let cfg = dir.join("c.toml");
        let text = format!("[system]\n{} = {}\n[exact]\nwork_limit = 1.0\n", SYSTEM_KEYS[key], toml_f64(w));
        std::fs::write(&cfg, text).unwrap();
        let ps = format!("{ps:?}").to_lowercase();
        let args = ["solve", path(&inst), "--config", path(&cfg), "--ps", &ps, "--json"];
        let out = mba(&args);
        let code = code_of(&out).map_err(|e| TestCaseError::fail(format!("{args:?}: {e}")))?;
        if code == 0 {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            prop_assert!(check_solution_json(&v).is_ok(), "{:?}", check_solution_json(&v));
        }
    }

    /// `mba generate` with one flag at an extreme value: exit 0 or 2, and the flag named.
    #[test]
    fn cli_generate_with_extreme_flags(flag in 0usize..12, v in extreme(), n in extreme_count(true)) {
        let counts = ["--models", "--blocks", "--devices", "--clusters"];
        let floats = [
            "--intra-similarity", "--inter-similarity", "--similarity-jitter", "--depth-decay",
            "--score-spread", "--block-noise", "--sharing", "--zipf-exponent",
        ];
        let (name, value) = if flag < counts.len() {
            (counts[flag], n)
        } else {
            (floats[flag - counts.len()], format!("{v:?}"))
        };
        let dir = scratch(&format!("gen-{flag}"));
        let file = dir.join("g.json");
        let out = mba(&["generate", name, &value, "-o", path(&file), "--gain-path-loss", "1e-3"]);
        let code = code_of(&out).map_err(|e| TestCaseError::fail(format!("{name} {value}: {e}")))?;
        let err = String::from_utf8_lossy(&out.stderr);
        if code == 2 {
            // The flag itself, or the one it conflicts with (`--models 1` with 21 devices).
            let named = err.contains(name) || err.contains("field `--devices`");
            prop_assert!(named, "{} {}: {}", name, value, err);
        } else {
            prop_assert!(Instance::load(&file).is_ok());
        }
    }

    /// `mba simulate` with one extreme value in a tiny study: exit 0 or 2, and on success no
    /// NaN or infinity in the results.
    #[test]
    fn cli_simulate_with_extreme_numbers(key in 0usize..11, v in extreme(), n in extreme_count(false)) {
        let dir = scratch(&format!("sim-{key}"));
        let (section, name, value) = match key {
            0 => ("study", "trials", n),
            1 => ("study", "realizations", n),
            2..=8 => ("system", SYSTEM_KEYS[key - 2], toml_f64(v)),
            9 => ("generator", "qos_ratio", toml_f64(v)),
            _ => ("sweep", "values", format!("[{}]", toml_f64(v))),
        };
        let study = dir.join("s.toml");
        std::fs::write(&study, tiny_study(&[(section, name, &value)])).unwrap();
        let out_dir = dir.join("out");
        let out = mba(&["simulate", path(&study), "-o", path(&out_dir), "--quiet", "--threads", "1"]);
        let code = code_of(&out).map_err(|e| TestCaseError::fail(format!("{name} = {value}: {e}")))?;
        if code == 0 {
            let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
            let lower = csv.to_lowercase();
            prop_assert!(!lower.contains("nan") && !lower.contains("inf"), "{}", csv);
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A study of one point, one trial and two realizations on a 3-model library, with `set`
/// overriding keys (`(section, key, value text)`).
fn tiny_study(set: &[(&str, &str, &str)]) -> String {
    let mut sections: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "study",
            vec![
                ("trials".into(), "1".into()),
                ("realizations".into(), "2".into()),
                (
                    "schemes".into(),
                    r#"["mba_greedy", "mba_constant_power", "unicast"]"#.into(),
                ),
                ("backend".into(), r#""cpu""#.into()),
            ],
        ),
        ("system", vec![]),
        (
            "generator",
            vec![
                ("models".into(), "3".into()),
                ("blocks".into(), "2".into()),
                ("devices".into(), "2".into()),
            ],
        ),
        (
            "sweep",
            vec![
                ("parameter".into(), r#""energy_j""#.into()),
                ("values".into(), "[250.0]".into()),
            ],
        ),
    ];
    for (section, key, value) in set {
        let keys = &mut sections.iter_mut().find(|s| s.0 == *section).unwrap().1;
        keys.retain(|(k, _)| k != key);
        keys.push((key.to_string(), value.to_string()));
    }
    sections
        .iter()
        .map(|(s, keys)| {
            let body: String = keys.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
            format!("[{s}]\n{body}")
        })
        .collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2 with every `needle` in the message.
fn assert_bad_input(out: &std::process::Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}

// ---- class 1: sizes, checked before allocation ----

#[test]
fn sizes_beyond_the_limits_are_bad_input_before_allocation() {
    let out = mba(&["generate", "--models", "18446744073709551615"]);
    assert_bad_input(
        &out,
        &[
            "`--models`",
            "18446744073709551615",
            "need 1 <= models <= 1000000",
        ],
    );
    let out = mba(&["generate", "--models", "100000", "--blocks", "1"]);
    assert_bad_input(&out, &["`--models`", "M^2 N = 1e10", "2.5e8"]);
    let out = mba(&[
        "generate",
        "--devices",
        "1000000",
        "--popularity",
        "uniform",
        "--blocks",
        "1000",
    ]);
    assert_bad_input(&out, &["`--devices`", "K N = 1e9"]);
    let out = mba(&["generate", "--blocks", "1000000"]);
    assert_bad_input(
        &out,
        &["`--blocks`", "M = 21 models and N = 1000000 blocks"],
    );
    assert_eq!(size_error(3, 2, 1), None);
    assert_eq!(size_error(0, 2, 1).unwrap().0, "models");
    assert_eq!(size_error(15_812, 1_000, 1).unwrap().0, "models");
    assert_eq!(size_error(1, 1, usize::MAX).unwrap().0, "devices");
    // The same limit in a study: a swept size is named by its sweep value.
    let dir = scratch("sizes");
    let study = dir.join("s.toml");
    let text = tiny_study(&[
        ("sweep", "parameter", r#""models""#),
        ("sweep", "values", "[3.0, 20000.0]"),
        ("generator", "devices", "2"),
    ]);
    std::fs::write(&study, text).unwrap();
    let out = mba(&[
        "simulate",
        path(&study),
        "-o",
        path(&dir.join("o")),
        "--quiet",
    ]);
    assert_bad_input(
        &out,
        &["s.toml", "`sweep.values[1]`", "models = 20000", "M^2 N"],
    );
}

#[test]
fn trial_realization_and_thread_flags_get_the_study_files_checks() {
    let dir = scratch("counts");
    let study = dir.join("s.toml");
    std::fs::write(&study, tiny_study(&[])).unwrap();
    let o = dir.join("o");
    let run = |extra: &[&str]| {
        let mut args = vec!["simulate", path(&study), "-o", path(&o), "--quiet"];
        args.extend(extra);
        mba(&args)
    };
    assert_bad_input(
        &run(&["--trials", "100000000"]),
        &["`--trials`", "need 1 <= trials <= 1e7"],
    );
    assert_bad_input(
        &run(&["--trials", "0"]),
        &["`--trials`", "need 1 <= trials"],
    );
    assert_bad_input(
        &run(&["--realizations", "18446744073709551615"]),
        &["`--realizations`", "need 1 <= realizations <= 1e9"],
    );
    assert_bad_input(
        &run(&["--threads", "100000000"]),
        &["`--threads`", "need 1 <= threads <= 1024"],
    );
    let bench = [
        "bench",
        "--backend",
        "cpu",
        "--realizations",
        "18446744073709551615",
    ];
    assert_bad_input(
        &mba(&bench),
        &["`--realizations`", "need 1 <= realizations <= 1e8"],
    );
    std::fs::write(&study, tiny_study(&[("study", "trials", "100000000")])).unwrap();
    assert_bad_input(
        &run(&[]),
        &["s.toml", "`study.trials`", "need 1 <= trials <= 1e7"],
    );
    std::fs::write(
        &study,
        tiny_study(&[("study", "realizations", "1000000000")]),
    )
    .unwrap();
    let mut file = Study::load(&study).unwrap();
    file.file.study.trials = 10_000;
    let e = file.with_counts(None, Some(1_000_000_000)).unwrap_err();
    assert!(
        e.to_string().contains("`--realizations`: 1e13 samples"),
        "{e}"
    );
}

// ---- class 2: flags ----

#[test]
fn negative_and_extreme_flag_values_name_the_flag_and_its_range() {
    let out = mba(&["generate", "--sharing", "-1"]);
    assert_bad_input(&out, &["`--sharing`", "-1 must be in [0, 1]"]);
    let out = mba(&["generate", "--intra-similarity", "-inf"]);
    assert_bad_input(&out, &["`--intra-similarity`", "-inf"]);
    let out = mba(&["generate", "--models", "-1"]);
    assert_bad_input(&out, &["'--models <MODELS>'", "need a whole number from 0"]);
    let dir = scratch("flags");
    let inst = dir.join("i.json");
    generate_instance(&small_params(), 2).save(&inst).unwrap();
    let solve = |extra: &[&str]| {
        let mut args = vec!["solve", path(&inst), "--ps", "bnb"];
        args.extend(extra);
        mba(&args)
    };
    assert_bad_input(
        &solve(&["--time-limit", "-1"]),
        &["`--time-limit`", "-1 is out of range"],
    );
    assert_bad_input(
        &solve(&["--time-limit", "1e20"]),
        &["`--time-limit`", "1e20", "1e9"],
    );
    assert_bad_input(
        &solve(&["--work-limit", "1e300"]),
        &["`--work-limit`", "1e300", "1e6"],
    );
    assert_bad_input(&solve(&["--work-limit", "-5e-324"]), &["`--work-limit`"]);
    assert_bad_input(
        &solve(&["--node-limit", "-3"]),
        &["'--node-limit <NODE_LIMIT>'"],
    );
    assert_bad_input(
        &solve(&["--channel-seed", "-3"]),
        &["'--channel-seed <CHANNEL_SEED>'"],
    );
    // The smallest positive budget and the largest safety net are valid: a solve, no panic.
    for extra in [["--work-limit", "5e-324"], ["--time-limit", "1e9"]] {
        let out = solve(&extra);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
    }
}

#[test]
fn a_slurm_index_below_its_minimum_names_the_environment_variable() {
    let env = |pairs: &'static [(&str, &str)]| {
        move |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string())
    };
    let below = env(&[
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "3"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]);
    let e = Shard::from_env(below, None).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.to_string(),
        "command line: field `SLURM_ARRAY_TASK_ID`: 1 is below SLURM_ARRAY_TASK_MIN = 3"
    );
    let past = env(&[
        ("SLURM_ARRAY_TASK_ID", "7"),
        ("SLURM_ARRAY_TASK_MIN", "3"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]);
    let e = Shard::from_env(past, None).unwrap_err();
    assert!(e.to_string().contains("`SLURM_ARRAY_TASK_ID`: 4/4"), "{e}");
    let dir = scratch("slurm");
    let study = dir.join("s.toml");
    std::fs::write(&study, tiny_study(&[])).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mba"))
        .args([
            "simulate",
            path(&study),
            "-o",
            path(&dir.join("o")),
            "--quiet",
        ])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_MIN", "3")
        .env("SLURM_ARRAY_TASK_COUNT", "4")
        .output()
        .unwrap();
    assert_bad_input(
        &out,
        &["`SLURM_ARRAY_TASK_ID`", "below SLURM_ARRAY_TASK_MIN = 3"],
    );
}

// ---- class 3: HiGHS at any score scale ----

/// Scores and QoS multiplied by one factor are the same problem: `bnb` and `mip` find the same
/// number of blocks at 1 and 1e15..1e200 (HiGHS rejected entries >= 1e15 before).
#[test]
fn exact_selection_is_scale_free() {
    let dir = scratch("scale");
    let base = generate_instance(
        &GeneratorParams {
            models: 6,
            blocks: 4,
            devices: 4,
            ..GeneratorParams::default()
        },
        2,
    );
    let mut want = None;
    for factor in [1.0, 1e15, 1e16, 1e100, 1e200] {
        let mut file = serde_json::to_value(base.to_file()).unwrap();
        scale_numbers(&mut file["library"]["scores"], factor);
        for d in file["devices"].as_array_mut().unwrap() {
            scale_numbers(&mut d["qos"], factor);
        }
        let inst = dir.join(format!("x{factor:e}.json"));
        std::fs::write(&inst, file.to_string()).unwrap();
        for ps in ["bnb", "mip"] {
            let out = mba(&["solve", path(&inst), "--ps", ps, "--json"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{ps} x{factor:e}: {}",
                stderr(&out)
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            let blocks = v["ps"]["blocks"].as_u64().unwrap();
            assert_eq!(v["ps"]["optimal"], true, "{ps} x{factor:e}");
            assert_eq!(*want.get_or_insert(blocks), blocks, "{ps} x{factor:e}");
        }
    }
    assert_eq!(want, Some(14));
}

fn scale_numbers(v: &mut Value, factor: f64) {
    match v {
        Value::Number(x) => *v = Value::from(x.as_f64().unwrap() * factor),
        Value::Array(xs) => xs.iter_mut().for_each(|x| scale_numbers(x, factor)),
        _ => {}
    }
}

#[test]
fn values_outside_what_power_control_computes_are_bad_input() {
    let dir = scratch("ranges");
    let inst = dir.join("i.json");
    std::fs::write(&inst, instance_with(3, "1e299")).unwrap();
    let out = mba(&["solve", path(&inst)]);
    assert_bad_input(
        &out,
        &[
            "`devices[1].gain`",
            "1e299 is out of range",
            "1e-30 <= gain <= 10000",
        ],
    );
    std::fs::write(&inst, instance_with(0, "1e308")).unwrap();
    assert_bad_input(
        &mba(&["solve", path(&inst)]),
        &["`library.scores[0][1][2]`", "<= 1e300"],
    );
    std::fs::write(&inst, instance_with(3, "1e-3")).unwrap();
    for (key, value, range) in [
        ("noise_w", "5e-324", "1e-24 <= noise_w <= 1"),
        ("path_loss", "1e300", "path_loss <= 100"),
        ("energy_j", "1e300", "energy_j <= 1e9"),
        ("bandwidth_hz", "1e308", "bandwidth_hz <= 1e12"),
        ("block_bits", "1e-300", "1 <= block_bits"),
        ("constant_power_w", "1e308", "constant_power_w <= 1e9"),
        (
            "noise_psd_w_per_hz",
            "2",
            "1e-36 <= noise_psd_w_per_hz <= 1",
        ),
        // 1e-5 W/Hz over the default 100 MHz is 1000 W of noise.
        (
            "noise_psd_w_per_hz",
            "1e-5",
            "makes a noise power of 1000.0000000000001 W, out of range: need 1e-24 <= noise power <= 1 W",
        ),
    ] {
        let cfg = dir.join("c.toml");
        std::fs::write(&cfg, format!("[system]\n{key} = {value}\n")).unwrap();
        let out = mba(&["solve", path(&inst), "--config", path(&cfg)]);
        assert_bad_input(&out, &["c.toml", &format!("`system.{key}`"), value, range]);
    }
}

// ---- class 4: part files, plots and temporary files ----

/// A finished tiny study's folder and its part file as JSON.
fn finished_study(name: &str) -> (PathBuf, Value) {
    let dir = scratch(name);
    let study = dir.join("s.toml");
    std::fs::write(&study, tiny_study(&[("study", "trials", "2")])).unwrap();
    let out = mba(&[
        "simulate",
        path(&study),
        "-o",
        path(&dir.join("run")),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let part = dir.join("run/parts/shard-0-of-1.json");
    (
        dir,
        serde_json::from_str(&std::fs::read_to_string(part).unwrap()).unwrap(),
    )
}

/// Merge `part` from a folder of its own, within a deadline (a spinning merge fails the test).
fn merge_part(dir: &Path, name: &str, part: &Value) -> std::process::Output {
    let bad = dir.join(name);
    std::fs::create_dir_all(bad.join("parts")).unwrap();
    std::fs::write(bad.join("parts/shard-0-of-1.json"), part.to_string()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mba"))
        .args(["merge", path(&bad)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("mba merge {name} still runs after 30 s");
}

/// A change to one accumulator `[count, sum bits, sum-of-squares bits, outages]`.
type Edit<'a> = dyn Fn(&mut Value) + 'a;

fn bits(v: f64) -> Value {
    Value::from(v.to_bits())
}

#[test]
fn merge_rejects_parts_with_non_finite_sums_or_contradictory_counts() {
    let (dir, part) = finished_study("parts");
    let realizations = part["realizations"].as_u64().unwrap();
    let cases: [(&str, &Edit<'_>, &str); 6] = [
        ("inf", &|a| a[1] = bits(f64::INFINITY), "sum inf"),
        ("nan", &|a| a[1] = bits(f64::NAN), "sum NaN"),
        ("outages", &|a| a[3] = Value::from(99), "99 outages among"),
        (
            "count",
            &|a| a[0] = Value::from(realizations + 1),
            "samples in one work unit",
        ),
        (
            "empty",
            &|a| {
                a[0] = Value::from(0);
                a[3] = Value::from(0);
            },
            "cannot come from 0 samples",
        ),
        ("schwarz", &|a| a[2] = bits(0.0), "cannot come from"),
    ];
    for (name, edit, reason) in cases {
        let mut p = part.clone();
        edit(&mut p["units"][0]["accs"][0]);
        let out = merge_part(&dir, name, &p);
        let file = format!("{name}/parts/shard-0-of-1.json");
        assert_bad_input(&out, &[&file, "`units[0].accs[0]`", reason]);
    }
    let mut p = part.clone();
    p["realizations"] = Value::from(realizations + 1);
    assert_bad_input(
        &merge_part(&dir, "header", &p),
        &["`trials`", "but the study it holds has"],
    );
}

/// Units at the edge of what consistent sums allow (sums of squares near f64::MAX, which
/// overflow when pooled): the merge finishes promptly with finite numbers and its plots.
#[test]
fn merge_of_huge_consistent_sums_finishes_with_finite_numbers() {
    let (dir, mut part) = finished_study("huge");
    for u in part["units"].as_array_mut().unwrap() {
        let a = &mut u["accs"][0];
        let (n, x) = (a[0].as_u64().unwrap() as f64, 9e153);
        a[3] = Value::from(0);
        a[1] = bits(n * x);
        a[2] = bits(n * x * x);
    }
    let out = merge_part(&dir, "huge", &part);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.join("huge/results.csv")).unwrap();
    let first = csv.lines().nth(1).unwrap();
    assert!(first.contains(",9e153,0e0,"), "{first}");
    assert!(
        !csv.to_lowercase().contains("inf") && !csv.contains("NaN"),
        "{csv}"
    );
    assert!(dir.join("huge/latency_s.png").exists());
}

/// A latency row of `scheme` at sweep point `point` (value `x`) with `mean` and CI `ci95`.
fn latency_row(point: usize, x: f64, scheme: &str, mean: f64, ci95: f64) -> Row {
    Row {
        point,
        parameter: "energy_j".into(),
        value: x,
        scheme: scheme.into(),
        metric: "latency_s".into(),
        group: String::new(),
        mean: Some(mean),
        ci95: Some(ci95),
        count: 2,
        outages: 0,
    }
}

/// Plot `rows` into `out` on another thread; it must succeed within 30 s.
fn plots_promptly(out: PathBuf, study: &Study, rows: Vec<Row>) {
    std::fs::create_dir_all(&out).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let s = study.clone();
    let what = format!("{rows:?}");
    std::thread::spawn(move || {
        let _ = tx.send(::mba::study::plot::plot_metric(
            &out,
            &s,
            &rows,
            Metric::LatencyS,
        ));
    });
    let done = rx.recv_timeout(Duration::from_secs(30));
    assert!(matches!(done, Ok(Ok(()))), "plot of {what}: {done:?}");
}

/// Plots of any finite or non-finite value return promptly (the tick loop once spun on +inf).
#[test]
fn plots_of_extreme_values_never_hang() {
    let (dir, _) = finished_study("plots");
    let study = Study::load(&dir.join("s.toml")).unwrap();
    for (i, means) in [
        [1e300, 1.7e308, 0.5],
        [f64::INFINITY, f64::NAN, -f64::INFINITY],
        [1e300, 1e300 * (1.0 + f64::EPSILON), 1e300],
        [5e-324, 0.0, -5e-324],
        [-1.7e308, 1.7e308, 0.0],
    ]
    .into_iter()
    .enumerate()
    {
        let rows = means
            .iter()
            .zip(["mba_greedy", "mba_constant_power", "unicast"])
            .map(|(&m, scheme)| latency_row(0, 250.0, scheme, m, m.abs()))
            .collect();
        plots_promptly(dir.join(format!("plot{i}")), &study, rows);
    }
    // Sweep values over many decades get a log axis (up to 200 decades), which must not
    // overflow or spin either.
    let sweeps = [
        [1e-300, 1e300],
        [5e-324, 1.7e308],
        [1e-300, 1e-100],
        [1e-10, 1e10],
    ];
    for (i, xs) in sweeps.into_iter().enumerate() {
        let rows = (0..2)
            .map(|p| latency_row(p, xs[p], "mba_greedy", 1.0, 0.5))
            .collect();
        plots_promptly(dir.join(format!("log{i}")), &study, rows);
    }
}

#[test]
fn a_failed_write_leaves_no_temporary_files() {
    let dir = scratch("tmp");
    let study = dir.join("s.toml");
    std::fs::write(&study, tiny_study(&[])).unwrap();
    let out_dir = dir.join("o");
    // A folder where results.csv goes: the rename fails after the temporary file is written.
    std::fs::create_dir_all(out_dir.join("results.csv/blocker")).unwrap();
    let out = mba(&["simulate", path(&study), "-o", path(&out_dir), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("results.csv"), "{}", stderr(&out));
    let left: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
