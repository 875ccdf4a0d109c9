//! Command-line names of the library's choice enums. The library's enums know nothing of clap;
//! each gets a thin wrapper here whose names must equal the enum's serde names (tested), so a
//! flag and a config key accept the same words.

use clap::ValueEnum;
use clap::builder::PossibleValue;
use mba::library::generate::Popularity;
use mba::selection::greedy::{ChainOrder, DeviceOrder, ForeignPool};
use mba::solve::PsMethod;
use mba::study::BackendChoice;

macro_rules! choice {
    ($(#[$doc:meta])* $wrapper:ident($ty:ty) { $($name:literal => $variant:path, $help:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $wrapper(pub $ty);

        impl ValueEnum for $wrapper {
            fn value_variants<'a>() -> &'a [Self] {
                const ALL: &[$wrapper] = &[$($wrapper($variant)),+];
                ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                $(if self.0 == $variant {
                    return Some(PossibleValue::new($name).help($help));
                })+
                None
            }
        }

        impl std::fmt::Display for $wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let name = self.to_possible_value().map(|v| v.get_name().to_string());
                f.write_str(name.as_deref().unwrap_or("?"))
            }
        }

        impl From<$ty> for $wrapper {
            fn from(x: $ty) -> Self {
                $wrapper(x)
            }
        }

        impl From<$wrapper> for $ty {
            fn from(x: $wrapper) -> Self {
                x.0
            }
        }

        impl $wrapper {
            /// Compile-time check that every variant has a name here.
            #[allow(dead_code)]
            fn exhaustive(x: $ty) {
                match x {
                    $($variant => {})+
                }
            }

            #[cfg(test)]
            /// Every name is the serde name of its variant.
            fn assert_serde_names() {
                $(assert_eq!(
                    serde_json::to_string(&$variant).unwrap(),
                    format!("\"{}\"", $name),
                    "{} `{}`", stringify!($ty), $name
                );)+
            }
        }
    };
}

choice!(
    /// `--ps`.
    PsArg(PsMethod) {
        "greedy" => PsMethod::Greedy, "Algorithm 1 (greedy)";
        "bnb" => PsMethod::Bnb, "Exact: staged branch and bound (class bound, HiGHS MIP, Algorithm 2)";
        "mip" => PsMethod::Mip, "Exact: a plain HiGHS MIP of (P2.1)";
        "lagrangian" => PsMethod::Lagrangian, "Near-optimal at any scale, with a lower bound";
    }
);

choice!(
    /// `--chain-order`.
    ChainOrderArg(ChainOrder) {
        "paper" => ChainOrder::Paper, "The seed's highest-scoring position first (the paper's)";
        "min-loss" => ChainOrder::MinLoss, "Smallest loss against the best foreign block first";
        "best" => ChainOrder::Best, "Run both orders and keep the smaller broadcast set";
    }
);

choice!(
    /// `--device-order`.
    DeviceOrderArg(DeviceOrder) {
        "index" => DeviceOrder::Index, "Device index order (the paper's)";
        "reverse" => DeviceOrder::Reverse, "Highest device index first";
        "qos-descending" => DeviceOrder::QosDescending, "Highest QoS first (ties by index)";
    }
);

choice!(
    /// `--foreign`.
    ForeignArg(ForeignPool) {
        "requested" => ForeignPool::Requested, "Models of the other requested tasks (the paper's)";
        "library" => ForeignPool::Library, "Every other model in the library";
    }
);

choice!(
    /// `--popularity`.
    PopularityArg(Popularity) {
        "distinct" => Popularity::Distinct, "Distinct tasks, as in the paper (needs devices <= models)";
        "uniform" => Popularity::Uniform, "Uniform over tasks, with repeats";
        "zipf" => Popularity::Zipf, "Zipf over tasks with exponent --zipf-exponent";
    }
);

choice!(
    /// `--backend` of `mba simulate`.
    BackendArg(BackendChoice) {
        "auto" => BackendChoice::Auto, "A hardware GPU adapter when there is one, else the CPU";
        "cpu" => BackendChoice::Cpu, "The f64 CPU reference";
        "gpu" => BackendChoice::Gpu, "wgpu on any adapter, software Vulkan included";
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_are_the_config_names() {
        PsArg::assert_serde_names();
        ChainOrderArg::assert_serde_names();
        DeviceOrderArg::assert_serde_names();
        ForeignArg::assert_serde_names();
        PopularityArg::assert_serde_names();
        BackendArg::assert_serde_names();
    }
}
