//! The `mba` command line: generate and solve end to end, and every bad input of the core issue
//! giving exit code 2 with the file and field named, never a panic.

mod common;

use ::mba::library::Instance;
use ::mba::library::generate::{GeneratorParams, generate_instance};
use common::{mba, scratch};

const GOOD: &str = r#"{
  "library": {
    "blocks": 2,
    "tasks": ["cifar10", "svhn"],
    "scores": [[[0.50, 0.40], [0.45, 0.10]],
               [[0.30, 0.05], [0.35, 0.60]]]
  },
  "devices": [
    {"task": 0, "qos": 0.85, "gain": 1.3e-3},
    {"task": 1, "qos_ratio": 0.9}
  ]
}"#;

/// Solve `text` as an instance (and `config` as its TOML when given); return (code, stderr).
fn solve_text(name: &str, text: &str, config: Option<&str>) -> (Option<i32>, String, String) {
    let dir = scratch(name);
    let inst = dir.join("instance.json");
    std::fs::write(&inst, text).unwrap();
    let mut args = vec!["solve".to_string(), inst.display().to_string()];
    if let Some(c) = config {
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, c).unwrap();
        args.extend(["--config".into(), cfg.display().to_string()]);
    }
    let out = mba(&args.iter().map(String::as_str).collect::<Vec<_>>());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn assert_bad(name: &str, text: &str, config: Option<&str>, needles: &[&str]) {
    let (code, err, _) = solve_text(name, text, config);
    assert_eq!(code, Some(2), "{name}: expected exit 2, stderr: {err}");
    assert!(!err.contains("panicked"), "{name}: panicked: {err}");
    let file = if config.is_some() && needles.iter().any(|n| n.starts_with("system")) {
        "config.toml"
    } else {
        ""
    };
    assert!(err.contains(file), "{name}: file not named: {err}");
    for n in needles {
        assert!(err.contains(n), "{name}: `{n}` not in: {err}");
    }
}

#[test]
fn good_instance_solves_with_table_and_json() {
    let (code, err, out) = solve_text("good", GOOD, None);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("mba") && out.contains("unicast"));
    let dir = scratch("good-json");
    let inst = dir.join("i.json");
    std::fs::write(&inst, GOOD).unwrap();
    let out = mba(&[
        "solve",
        inst.to_str().unwrap(),
        "--json",
        "--chain-order",
        "best",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ps"]["method"], "greedy");
    assert_eq!(v["ps"]["blocks"], 3);
    assert_eq!(v["ps"]["chain_order"], "min-loss");
    assert_eq!(v["ps"]["assignment"], serde_json::json!([[0, 0], [0, 1]]));
    assert_eq!(
        v["gains"][0], 1.3e-3,
        "an instance gain overrides the drawn one"
    );
    for s in ["mba", "mba_constant_power", "unicast", "multicast"] {
        let e = v["schemes"][s]["energy_j"].as_f64().unwrap();
        assert!((e - 250.0).abs() < 1e-6, "{s} uses the whole budget: {e}");
        assert_eq!(v["schemes"][s]["outage"], false);
    }
    // Distinct tasks: plain multicast is unicast.
    assert_eq!(v["schemes"]["multicast"], v["schemes"]["unicast"]);
}

/// Two devices of task 0 and one of task 1 (gains given): plain multicast sends task 0's model
/// once at the weaker gain, so it equals `power::multicast` and beats unicast; the text output
/// has its line.
#[test]
fn solve_reports_plain_multicast() {
    let text = GOOD.replace(
        r#"{"task": 1, "qos_ratio": 0.9}"#,
        r#"{"task": 1, "qos_ratio": 0.9, "gain": 2e-3},
    {"task": 0, "qos": 0.85, "gain": 4e-4}"#,
    );
    let (code, err, out) = solve_text("multicast", &text, None);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.lines().any(|l| l.starts_with("multicast ")), "{out}");
    let dir = scratch("multicast-json");
    let inst = dir.join("i.json");
    std::fs::write(&inst, &text).unwrap();
    let out = mba(&["solve", inst.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = ::mba::power::Link::from(&::mba::power::SystemParams::default());
    let gains = [1.3e-3, 2e-3, 4e-4];
    let want = ::mba::power::multicast(&link, &gains, &[0, 1, 0], 2);
    let m = &v["schemes"]["multicast"];
    assert_eq!(m["latency_s"].as_f64(), Some(want.latency_s));
    assert_eq!(m["outage"], false);
    assert!(m.get("blocks").is_none(), "same shape as unicast: {m}");
    let uni = v["schemes"]["unicast"]["latency_s"].as_f64().unwrap();
    assert!(want.latency_s < 0.8 * uni, "{} vs {uni}", want.latency_s);
}

#[test]
fn generate_then_solve_is_deterministic() {
    let dir = scratch("generate");
    let a = dir.join("a.json");
    let b = dir.join("b.json");
    for p in [&a, &b] {
        let out = mba(&[
            "generate",
            "--models",
            "8",
            "--blocks",
            "6",
            "--devices",
            "5",
            "--seed",
            "3",
            "-o",
            p.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let solve = |seed: &str| {
        let out = mba(&[
            "solve",
            a.to_str().unwrap(),
            "--json",
            "--channel-seed",
            seed,
        ]);
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["ps"]["seconds"] = serde_json::Value::Null; // the only field that may differ
        v
    };
    assert!(solve("4") == solve("4"), "same seeds, same solution");
    assert!(
        solve("4")["gains"] != solve("5")["gains"],
        "another channel seed draws other gains"
    );
    // Models > devices and shared tasks.
    let out = mba(&[
        "generate",
        "--models",
        "9",
        "--devices",
        "20",
        "--popularity",
        "zipf",
        "--seed",
        "1",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["devices"].as_array().unwrap().len(), 20);
}

#[test]
fn saved_instances_load_bit_for_bit() {
    // `mba generate` then `mba solve` must see the generator's numbers exactly: a float that
    // moves by one ulp sends HiGHS down another path (different times and proofs).
    let dir = scratch("roundtrip");
    let p = GeneratorParams {
        models: 21,
        blocks: 24,
        devices: 8,
        ..Default::default()
    };
    for seed in 0..4 {
        let inst = generate_instance(&p, seed);
        let path = dir.join(format!("s{seed}.json"));
        inst.save(&path).unwrap();
        let back = Instance::load(&path).unwrap();
        let lib = &inst.library;
        for t in 0..lib.models() {
            for i in 0..lib.models() {
                for n in 0..lib.blocks() {
                    let (a, b) = (lib.score(t, i, n), back.library.score(t, i, n));
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "seed {seed}: score[{t}][{i}][{n}]"
                    );
                }
            }
        }
        for (d, e) in inst.devices.iter().zip(&back.devices) {
            assert_eq!(d.qos.to_bits(), e.qos.to_bits(), "seed {seed}: qos");
            assert_eq!(d.gain.map(f64::to_bits), e.gain.map(f64::to_bits));
        }
    }
}

#[test]
fn generate_rejects_bad_flags_with_exit_2() {
    let out = mba(&["generate", "--devices", "30", "--models", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--devices"));
    let out = mba(&["generate", "--sharing", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sharing"));
}

#[test]
fn malformed_json() {
    assert_bad("malformed", "{\"library\": {", None, &["instance.json"]);
}

#[test]
fn unknown_key() {
    assert_bad(
        "unknown",
        &GOOD.replace("\"blocks\": 2,", "\"blocks\": 2, \"blokcs\": 3,"),
        None,
        &["library.blokcs", "unknown field"],
    );
    assert_bad(
        "unknown-device",
        &GOOD.replace("\"qos\": 0.85,", "\"qos\": 0.85, \"qoss\": 1,"),
        None,
        &["devices[0].qoss"],
    );
}

#[test]
fn wrong_dimensions() {
    let bad = GOOD.replace("[[0.30, 0.05], [0.35, 0.60]]", "[[0.30, 0.05], [0.35]]");
    assert_bad(
        "dims",
        &bad,
        None,
        &["library.scores[1][1]", "expected N = 2"],
    );
    let bad = GOOD.replace("\"blocks\": 2", "\"blocks\": 3");
    assert_bad("blocks", &bad, None, &["library.blocks"]);
    let bad = GOOD.replace(
        "\"tasks\": [\"cifar10\", \"svhn\"]",
        "\"tasks\": [\"cifar10\"]",
    );
    assert_bad("tasks", &bad, None, &["library.tasks"]);
}

#[test]
fn nan_infinite_and_negative_scores() {
    assert_bad(
        "nan",
        &GOOD.replace("0.45, 0.10", "NaN, 0.10"),
        None,
        &["library.scores"],
    );
    assert_bad(
        "inf",
        &GOOD.replace("0.45, 0.10", "1e999, 0.10"),
        None,
        &["library.scores", "out of range"],
    );
    assert_bad(
        "neg",
        &GOOD.replace("0.45, 0.10", "-0.45, 0.10"),
        None,
        &["library.scores[0][1][0]", "need 0 <= score <= 1e300"],
    );
}

#[test]
fn task_out_of_range() {
    assert_bad(
        "task",
        &GOOD.replace("\"task\": 1,", "\"task\": 7,"),
        None,
        &["devices[1].task", "out of range"],
    );
}

#[test]
fn both_qos_and_ratio() {
    assert_bad(
        "both",
        &GOOD.replace("\"qos_ratio\": 0.9", "\"qos_ratio\": 0.9, \"qos\": 0.1"),
        None,
        &["devices[1].qos", "not both"],
    );
}

#[test]
fn no_devices() {
    let text = GOOD.split("\"devices\"").next().unwrap().to_string() + "\"devices\": []}";
    assert_bad("nodev", &text, None, &["devices", "at least one device"]);
}

#[test]
fn negative_gain() {
    assert_bad(
        "gain",
        &GOOD.replace("1.3e-3", "-1.3e-3"),
        None,
        &["devices[0].gain", "need 0 (no link) or 1e-30 <= gain"],
    );
}

#[test]
fn zero_bandwidth_or_energy_and_bad_toml() {
    assert_bad(
        "bw",
        GOOD,
        Some("[system]\nbandwidth_hz = 0\n"),
        &["system.bandwidth_hz", "need 1 <= bandwidth_hz"],
    );
    assert_bad(
        "energy",
        GOOD,
        Some("[system]\nenergy_j = 0.0\n"),
        &["system.energy_j", "need 1e-15 <= energy_j"],
    );
    assert_bad(
        "toml-unknown",
        GOOD,
        Some("[system]\nenergy = 1\n"),
        &["system.energy", "unknown field"],
    );
    assert_bad("toml-malformed", GOOD, Some("[system\n"), &["config.toml"]);
}

/// The noise given as a spectral density `N0` (W/Hz) is the noise power `N0 * B`: the same
/// solution to the bit, and not the default noise's.
#[test]
fn noise_psd_is_noise_power_over_the_band() {
    let (psd, bandwidth) = (2e-15, 20e6);
    let solve = |name: &str, noise: &str| {
        let dir = scratch(name);
        let (inst, cfg) = (dir.join("i.json"), dir.join("c.toml"));
        std::fs::write(&inst, GOOD).unwrap();
        std::fs::write(
            &cfg,
            format!("[system]\nbandwidth_hz = {bandwidth:?}\n{noise}\n"),
        )
        .unwrap();
        let args = [
            "solve",
            inst.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--json",
        ];
        let out = mba(&args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["schemes"].clone()
    };
    let by_psd = solve("noise-psd", &format!("noise_psd_w_per_hz = {psd:?}"));
    let by_power = solve("noise-power", &format!("noise_w = {:?}", psd * bandwidth));
    let by_default = solve("noise-default", "");
    assert_eq!(by_psd, by_power);
    assert_ne!(by_psd["mba"]["latency_s"], by_default["mba"]["latency_s"]);
}

#[test]
fn both_noise_keys_are_bad_input() {
    assert_bad(
        "noise-both",
        GOOD,
        Some("[system]\nnoise_w = 0.05\nnoise_psd_w_per_hz = 0.5e-9\n"),
        &["system.noise_w", "system.noise_psd_w_per_hz", "not both"],
    );
}

#[test]
fn unreachable_qos_names_device_and_best_score() {
    let bad = GOOD.replace("\"qos\": 0.85", "\"qos\": 0.99");
    // Task 0's best assembly: max(0.50, 0.45) + max(0.40, 0.10) = 0.9.
    assert_bad("reach", &bad, None, &["devices[0].qos", "device 0", "0.9"]);
}

#[test]
fn missing_file_and_bad_flags() {
    let out = mba(&["solve", "/nonexistent/instance.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/instance.json"));
    let out = mba(&["solve", "x.json", "--ps", "magic"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn outage_is_reported_not_nan() {
    // A tiny budget: below E_min, every scheme is an outage with latency null.
    let (code, err, _) = solve_text("outage", GOOD, Some("[system]\nenergy_j = 1e-9\n"));
    assert_eq!(code, Some(0), "{err}");
    let dir = scratch("outage-json");
    let inst = dir.join("i.json");
    let cfg = dir.join("c.toml");
    std::fs::write(&inst, GOOD).unwrap();
    std::fs::write(&cfg, "[system]\nenergy_j = 1e-9\n").unwrap();
    let out = mba(&[
        "solve",
        inst.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in ["mba", "unicast", "multicast"] {
        assert_eq!(v["schemes"][s]["outage"], true, "{s}");
        assert!(v["schemes"][s]["latency_s"].is_null(), "{s}");
    }
    assert_eq!(
        v["schemes"]["mba"]["outage_reason"]["reason"],
        "budget_below_minimum"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NaN"));
}

#[test]
fn bench_compare_without_python_is_bad_input() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mba"))
        .args(["bench", "--backend", "cpu", "--compare", "numba"])
        .env("PATH", "")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--compare") && stderr.contains("numba"),
        "{stderr}"
    );
}
