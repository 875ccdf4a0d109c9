//! The settings aggregate: everything `mba solve --config` and `mba generate --config` read
//! from one TOML file. Each section is the settings struct of the code it configures, with its
//! defaults and its validation there; this file only puts them side by side.

use std::path::Path;

use mba::error::{FieldError, Result, parse_toml, read_input};
use mba::latency::LatencyOptions;
use mba::library::generate::GeneratorParams;
use mba::power::SystemParams;
use mba::selection::exact::ExactOptions;
use mba::selection::greedy::GreedyOptions;
use mba::selection::lagrangian::LagrangianOptions;
use serde::{Deserialize, Serialize};

/// A settings file (`configs/paper.toml`); every section is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub system: SystemParams,
    pub greedy: GreedyOptions,
    pub exact: ExactOptions,
    pub lagrangian: LagrangianOptions,
    pub latency: LatencyOptions,
    pub generator: GeneratorParams,
}

impl Settings {
    /// Read and validate `path`; errors name the file and the field.
    pub fn load(path: &Path) -> Result<Settings> {
        let text = read_input(path)?;
        let s: Settings = parse_toml(path, &text)?;
        s.validate().map_err(|e| e.in_file(path))?;
        Ok(s)
    }

    /// The file, or the defaults without one.
    pub fn load_or_default(path: Option<&Path>) -> Result<Settings> {
        path.map_or_else(|| Ok(Settings::default()), Settings::load)
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        self.system.validate("system.")?;
        self.exact.validate("exact.")?;
        self.lagrangian.validate("lagrangian.")?;
        self.latency.validate("latency.")?;
        self.generator.validate("generator.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mba::power::DEFAULT_NOISE_W;

    /// `configs/paper.toml` states the library defaults for `[system]` (the default noise
    /// power given explicitly), `[greedy]` and `[exact]`, and differs from them only in the
    /// paper-like library.
    #[test]
    fn the_paper_config_is_the_defaults_but_for_the_library() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/paper.toml");
        let s = Settings::load(&path).unwrap();
        let d = Settings::default();
        let system = SystemParams {
            noise_w: Some(DEFAULT_NOISE_W),
            ..d.system
        };
        assert_eq!((s.system, s.greedy, s.exact), (system, d.greedy, d.exact));
        assert_eq!(s.lagrangian, d.lagrangian);
        assert_eq!(s.latency, d.latency);
        assert_ne!(s.generator, d.generator);
        assert_eq!(s.generator.sharing, 0.2);
    }

    #[test]
    fn a_bad_value_names_file_and_field() {
        let dir = std::env::temp_dir().join(format!("mba-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[system]\nenergy_j = -1.0\n").unwrap();
        let e = Settings::load(&path).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(
            msg.contains("bad.toml") && msg.contains("system.energy_j"),
            "{msg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
