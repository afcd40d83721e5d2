//! Thresholds as ranks, values as codes: what lets the `portable` and `avx512` layouts compare
//! 16-bit integers instead of `f64`s.
//!
//! Each feature's distinct split thresholds, over all trees, are sorted once. A row's value `x`
//! is replaced by its *code*, the number of thresholds below it (one binary search per row and
//! feature, shared by all trees); a node's threshold by its *rank*, its index in the same list.
//! For sorted thresholds `t`, `x > t[k]` exactly when `code(x) > k`, so a walk over codes takes
//! the same branches as the plain walk, bit for bit — including at `-0.0` and `0.0`, which `>`
//! treats as one threshold and which the list holds once.

use super::tree::IsolationTree;

/// Rows coded per block: codes and per-row sums stay in L1 while all trees pass over them.
pub(crate) const BLOCK: usize = 256;

/// Rank of a padding node: no code exceeds it, so a walk always goes left there.
pub(crate) const PAD_RANK: u16 = u16::MAX;

/// Each feature's distinct split thresholds, ascending.
#[derive(Clone, Debug)]
pub(crate) struct Cuts {
    /// Feature `f` owns `values[start[f]..start[f + 1]]`.
    values: Vec<f64>,
    start: Vec<usize>,
}

impl Cuts {
    /// The thresholds of `trees`, or why they cannot be ranked: a non-finite threshold (fitting
    /// and loading never make one, but ranks could not say where it sends a row), a split on a
    /// column past `n_features`, or a feature with 65,535 distinct thresholds or more.
    pub(crate) fn new(trees: &[IsolationTree], n_features: usize) -> Result<Self, String> {
        let mut by_feature = vec![Vec::new(); n_features];
        for tree in trees {
            for i in 0..tree.n_nodes() {
                if let Some((feature, threshold, _)) = tree.split(i) {
                    if !threshold.is_finite() {
                        return Err(format!("a threshold is {threshold}"));
                    }
                    let Some(thresholds) = by_feature.get_mut(feature as usize) else {
                        return Err(format!("a tree splits on column {feature}"));
                    };
                    thresholds.push(threshold);
                }
            }
        }
        let mut values = Vec::new();
        let mut start = vec![0];
        for (f, mut thresholds) in by_feature.into_iter().enumerate() {
            thresholds.sort_by(f64::total_cmp);
            // `==` merges -0.0 and 0.0, which `>` cannot tell apart either
            thresholds.dedup_by(|a, b| a == b);
            if thresholds.len() >= usize::from(PAD_RANK) {
                return Err(format!(
                    "feature {f} has {} distinct thresholds, more than 16-bit ranks hold",
                    thresholds.len()
                ));
            }
            values.extend(thresholds);
            start.push(values.len());
        }
        Ok(Self { values, start })
    }

    /// Feature `f`'s thresholds, ascending.
    pub(crate) fn of(&self, f: usize) -> &[f64] {
        &self.values[self.start[f]..self.start[f + 1]]
    }

    /// The rank of `threshold` among feature `f`'s thresholds (which hold it).
    pub(crate) fn rank(&self, f: usize, threshold: f64) -> u16 {
        self.of(f).partition_point(|&c| c < threshold) as u16
    }

    /// Bytes held (for the memory budget).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.values.capacity() * size_of::<f64>() + self.start.capacity() * size_of::<usize>()
    }

    /// Codes of a block's rows, feature-major: the code of row `r`'s feature `f` goes to
    /// `codes[f * BLOCK + r]`. `rows` is row-major with `n_features` columns and at most
    /// [`BLOCK`] rows; entries past the last row, up to `lanes`, get code 0 (they are walked but
    /// never reported).
    ///
    /// The searches of all rows advance in lockstep: each step halves every row's range the same
    /// way, so the steps of different rows are independent and overlap, where one search at a
    /// time would wait on each load. The result is `partition_point(|c| c < x)`.
    pub(crate) fn code_block(&self, rows: &[f64], lanes: usize, codes: &mut [u16]) {
        let d = self.start.len() - 1;
        let n = rows.len() / d;
        debug_assert!(n <= lanes && lanes <= BLOCK);
        let mut base = [0u32; BLOCK];
        for f in 0..d {
            let cuts = self.of(f);
            let codes = &mut codes[f * BLOCK..][..lanes];
            let value = |r: usize| rows[r * d + f];
            if cuts.is_empty() {
                codes.fill(0);
                continue;
            }
            let base = &mut base[..n];
            base.fill(0);
            let mut size = cuts.len();
            while size > 1 {
                let half = size / 2;
                for (r, base) in base.iter_mut().enumerate() {
                    // a conditional move, not a branch: the comparison goes either way half
                    // the time, and a branch on it would be mispredicted as often
                    let below = cuts[*base as usize + half] < value(r);
                    *base = std::hint::select_unpredictable(below, *base + half as u32, *base);
                }
                size -= half;
            }
            for (r, (code, &base)) in codes.iter_mut().zip(base.iter()).enumerate() {
                *code = (base + u32::from(cuts[base as usize] < value(r))) as u16;
            }
            codes[n..].fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The lockstep search agrees with `partition_point` on any sorted list and any values,
        /// thresholds themselves and signed zeros included.
        #[test]
        fn codes_count_the_thresholds_below(
            mut cuts in proptest::collection::vec(-100i32..100, 0..300),
            picks in proptest::collection::vec(0usize..400, 1..BLOCK),
        ) {
            let mut cuts: Vec<f64> = cuts.drain(..).map(|c| f64::from(c) / 4.0).collect();
            cuts.sort_by(f64::total_cmp);
            cuts.dedup();
            let values: Vec<f64> = picks
                .iter()
                .map(|&p| match p % 4 {
                    0 if !cuts.is_empty() => cuts[p % cuts.len()],
                    1 => -0.0,
                    _ => (p as f64 - 200.0) / 7.0,
                })
                .collect();
            let table = Cuts { start: vec![0, cuts.len()], values: cuts.clone() };
            let lanes = values.len().next_multiple_of(8).min(BLOCK);
            let mut codes = vec![7u16; BLOCK];
            table.code_block(&values, lanes, &mut codes);
            for (r, &v) in values.iter().enumerate() {
                prop_assert_eq!(usize::from(codes[r]), cuts.partition_point(|&c| c < v));
            }
            prop_assert!(codes[values.len()..lanes].iter().all(|&c| c == 0));
        }
    }
}
