//! The `avx2` scoring layout: the portable walk ([`super::portable`]) compiled for AVX2 and BMI2.
//!
//! The walk itself is the same Rust; compiling it for these instructions lets the compiler use
//! three-operand shifts (BMI2) and 256-bit moves for the block's transpose and sums. Its trees,
//! its order of additions and so its scores are the portable layout's, bit for bit. Forests the
//! ranks cannot hold (trees deeper than 8, more than 256 features) are walked over linked nodes
//! exactly as in the portable layout, by the same baseline code: only the ranked walk is compiled
//! for AVX2, so for those forests `avx2` is the portable layout under another name.

use super::codes::BLOCK;
use super::portable::{self, BlockCodes, HeapTree, PortableForest, Scratch};
use super::tree::IsolationTree;

/// The portable walk, run through code compiled for AVX2 and BMI2. Built only on a CPU that has
/// them; never stored.
#[derive(Clone, Debug)]
pub(crate) struct Avx2Forest(PortableForest);

impl Avx2Forest {
    /// The layout of `trees`, or `None` if this CPU lacks AVX2 or BMI2.
    pub(crate) fn new(trees: &[IsolationTree], n_features: usize) -> Option<Self> {
        cpu_supported().then(|| Self(PortableForest::new(trees, n_features)))
    }

    /// Bytes held by the layout (for the memory budget).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }

    /// [`PortableForest::sum_path_lengths`], its walk compiled for AVX2 and BMI2.
    pub(crate) fn sum_path_lengths(&self, rows: &[f64], out: &mut [f64], scratch: &mut Scratch) {
        self.0
            .sum_path_lengths_with(rows, out, scratch, |trees, codes, at, acc| {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `new` builds an `Avx2Forest` only when `cpu_supported()` found the
                // features `walk_trees_avx2` is compiled for.
                unsafe {
                    walk_trees_avx2(trees, codes, at, acc)
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (trees, codes, at, acc);
                    unreachable!("Avx2Forest::new declines on this architecture")
                }
            });
    }
}

/// [`portable::walk_trees`], compiled for AVX2 and BMI2. (FMA is not enabled: no operation
/// could be fused anyway, and leaving it out keeps every addition the portable layout's.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
fn walk_trees_avx2(trees: &[HeapTree], codes: &BlockCodes, at: &mut [u16; BLOCK], acc: &mut [f64]) {
    portable::walk_trees(trees, codes, at, acc);
}

/// Whether this CPU has AVX2 and BMI2.
#[cfg(target_arch = "x86_64")]
pub(crate) fn cpu_supported() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("popcnt")
}

/// Whether this CPU has AVX2 and BMI2: never, off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn cpu_supported() -> bool {
    false
}
