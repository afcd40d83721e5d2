//! Scoring layouts: how a fitted forest is laid out in memory to score rows, and how to choose one.
//!
//! Fitting gives a list of trees; scoring walks millions of rows through them, so the trees are
//! compiled once into a layout built for the walk. Three exist, and they take the same branches
//! and add path lengths in the same order, so **every layout gives the same scores, bit for bit**
//! — the choice changes speed only:
//!
//! | layout | runs on | how |
//! |---|---|---|
//! | `portable` | every CPU | heap-ordered trees, rows walked in lockstep, plain Rust |
//! | `avx2` | x86-64 with AVX2 and BMI2 | the portable walk compiled for those instructions |
//! | `avx512` | x86-64 with AVX-512 F and BW; trees ≤ 8 deep, ≤ 16 features | thresholds as 16-bit ranks, 32 rows per register, in-register table lookups |
//!
//! By default ([`LayoutChoice::Auto`]) a forest takes the fastest layout this CPU and this forest
//! allow. The environment variable `ANOMALY_KIT_LAYOUT` (`portable`, `avx2`, `avx512` or `auto`)
//! overrides that for a whole process — so a benchmark or a test run can measure and check the
//! portable path on a machine that has AVX-512 — and [`IsolationForest::with_layout`] does the
//! same for one forest. Asking for a layout the CPU or the forest cannot use is an error naming
//! why, never a silent fallback.
//!
//! ```
//! use anomaly_kit::forest::{IsolationForest, IsolationForestParams, Layout, LayoutChoice};
//! use linfa::ParamGuard;
//! use ndarray::Array2;
//! let x = Array2::from_shape_fn((500, 3), |(i, j)| ((i * 7 + j * 3) % 101) as f64);
//! let params = IsolationForestParams::new().seed(1).check()?;
//! let forest = IsolationForest::fit_array(&params, x.view())?;
//! let portable = forest.clone().with_layout(LayoutChoice::Only(Layout::Portable))?;
//! assert_eq!(portable.scoring_layout()?, Layout::Portable);
//! let reference = portable.score_samples(x.view())?;
//! for layout in Layout::ALL {
//!     match layout.missing_on_this_cpu() {
//!         Some(why) => println!("{layout} skipped: {why}"),
//!         None => {
//!             let forced = forest.clone().with_layout(LayoutChoice::Only(layout))?;
//!             assert_eq!(forced.score_samples(x.view())?, reference);
//!         }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`IsolationForest::with_layout`]: super::IsolationForest::with_layout

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The environment variable that picks the scoring layout for a whole process.
pub const LAYOUT_ENV: &str = "ANOMALY_KIT_LAYOUT";

/// A scoring layout: the form a fitted forest is compiled into for scoring, one per kind of CPU
/// (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Heap-ordered trees walked in lockstep, in plain Rust: every CPU.
    Portable,
    /// The portable walk compiled for AVX2 and BMI2 (x86-64).
    Avx2,
    /// Thresholds as ranks, 32 rows per AVX-512 register (x86-64 with AVX-512 F and BW).
    Avx512,
}

impl Layout {
    /// Every layout, slowest first.
    pub const ALL: [Layout; 3] = [Layout::Portable, Layout::Avx2, Layout::Avx512];

    /// The layout's name, as `ANOMALY_KIT_LAYOUT` and benchmark reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Portable => "portable",
            Layout::Avx2 => "avx2",
            Layout::Avx512 => "avx512",
        }
    }

    /// What this CPU lacks to run the layout, or `None` if it can. A forest's shape can still
    /// rule a layout out (see [`LayoutError::Unsupported`]).
    pub fn missing_on_this_cpu(self) -> Option<&'static str> {
        match self {
            Layout::Portable => None,
            Layout::Avx2 => (!super::avx2::cpu_supported())
                .then_some("this CPU lacks AVX2 or BMI2 (x86-64 only)"),
            Layout::Avx512 => (!super::ranked::cpu_supported())
                .then_some("this CPU lacks AVX-512 F or BW (x86-64 only)"),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = LayoutError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layout::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| LayoutError::Unknown {
                value: s.to_owned(),
            })
    }
}

/// Which layout a forest scores with: the fastest one allowed, or exactly one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayoutChoice {
    /// The fastest layout this CPU and this forest allow: `avx512`, else `avx2`, else `portable`.
    #[default]
    Auto,
    /// This layout, or an error if the CPU or the forest cannot use it.
    Only(Layout),
}

impl LayoutChoice {
    /// The choice `ANOMALY_KIT_LAYOUT` makes: [`LayoutChoice::Auto`] when it is unset or empty,
    /// an error naming the variable when it holds anything but a layout's name or `auto`.
    pub fn from_env() -> Result<Self, LayoutError> {
        match std::env::var(LAYOUT_ENV) {
            Err(std::env::VarError::NotPresent) => Ok(LayoutChoice::Auto),
            Err(std::env::VarError::NotUnicode(v)) => Err(LayoutError::Env {
                value: v.to_string_lossy().into_owned(),
            }),
            Ok(v) if v.trim().is_empty() => Ok(LayoutChoice::Auto),
            Ok(v) => v
                .trim()
                .parse()
                .map_err(|_| LayoutError::Env { value: v.clone() }),
        }
    }
}

impl FromStr for LayoutChoice {
    type Err = LayoutError;

    /// `auto` or a layout's name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(LayoutChoice::Auto);
        }
        s.parse().map(LayoutChoice::Only)
    }
}

impl fmt::Display for LayoutChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutChoice::Auto => f.write_str("auto"),
            LayoutChoice::Only(layout) => layout.fmt(f),
        }
    }
}

/// Why a scoring layout could not be chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A name that is no layout.
    #[error("{value:?} is not a scoring layout: expected portable, avx2, avx512 or auto")]
    Unknown {
        /// The name given.
        value: String,
    },
    /// `ANOMALY_KIT_LAYOUT` holds something that is no layout.
    #[error(
        "{LAYOUT_ENV}={value:?} is not a scoring layout: expected portable, avx2, avx512 or auto (or unset)"
    )]
    Env {
        /// The variable's value.
        value: String,
    },
    /// The layout was asked for, but this CPU or this forest cannot use it.
    #[error("the {layout} scoring layout cannot be used: {reason}")]
    Unsupported {
        /// The layout asked for.
        layout: Layout,
        /// What rules it out: a CPU feature, or the forest's shape.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_named() {
        for layout in Layout::ALL {
            assert_eq!(layout.name().parse::<Layout>().unwrap(), layout);
            assert_eq!(
                layout.to_string().parse::<LayoutChoice>().unwrap(),
                LayoutChoice::Only(layout)
            );
        }
        assert_eq!("auto".parse::<LayoutChoice>().unwrap(), LayoutChoice::Auto);
        let err = "avx-512".parse::<LayoutChoice>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"avx-512\" is not a scoring layout: expected portable, avx2, avx512 or auto"
        );
    }

    #[test]
    fn the_portable_layout_runs_everywhere() {
        assert_eq!(Layout::Portable.missing_on_this_cpu(), None);
    }
}
