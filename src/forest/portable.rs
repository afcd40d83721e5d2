//! The portable scoring layout: every tree in one flat array, walked by blocks of rows. It scores
//! wherever the faster AVX-512 layout ([`super::ranked`]) cannot: other CPUs, trees deeper than 8
//! levels, more than 16 features, a feature with 65,535 distinct thresholds or more.
//!
//! Scoring is where the time goes (every row visits ~100 trees × ~8 levels), and a row's walk
//! down one tree is a chain of dependent loads: node → feature value → next node. Walking one
//! row at a time leaves the CPU waiting on that chain. Here a whole block of rows goes down one
//! tree *in lockstep*, level by level, so the walks of different rows are independent and overlap:
//!
//! * A leaf points to itself with threshold +∞, so a row that reaches a leaf early simply stays
//!   there; every row takes exactly `depth` steps per tree and the step has no branch.
//! * A node is 16 bytes (`threshold`, `feature`, `left`; the right child is `left + 1`).
//! * The block's values are stored feature-major in a small buffer (`feature << shift | row`), so
//!   the tree (≈1 KB) and the block (≤ 16 KB for 8 features) stay in L1 while all trees pass over it.
//! * Leaf values (depth + c(size)) sit in their own array, read once per row and tree.
//!
//! A row still sums its trees' path lengths in tree order, so scores are bit-identical to a
//! row-by-row walk, whatever the block size or the number of threads.

use super::tree::IsolationTree;

/// Rows per block; a power of two so that the feature-major address is a shift and an `or`.
const MAX_BLOCK: usize = 256;

/// Rows walked together through one tree, their node indices held in registers.
const GROUP: usize = 8;

#[derive(Clone, Copy, Debug)]
struct Node {
    /// `x > threshold` goes right; +∞ in a leaf, so a leaf never moves.
    threshold: f64,
    feature: u32,
    /// Left child; the right child is `left + 1`. A leaf's `left` is its own index.
    left: u32,
}

#[derive(Clone, Debug)]
struct TreeRange {
    root: u32,
    depth: u32,
}

/// The portable scoring layout: a forest laid out for the blocked walk every CPU runs. Built
/// from the fitted trees; never stored.
#[derive(Clone, Debug)]
pub(crate) struct PortableForest {
    nodes: Vec<Node>,
    /// Path length of a row that ends at node `i` (only meaningful for leaves).
    leaf_value: Vec<f64>,
    trees: Vec<TreeRange>,
    n_features: usize,
    /// `n_features` rounded up to a power of two (the block buffer's feature slots).
    feature_slots: usize,
}

impl PortableForest {
    pub(crate) fn new(trees: &[IsolationTree], n_features: usize) -> Self {
        let total: usize = trees.iter().map(IsolationTree::n_nodes).sum();
        let mut nodes = Vec::with_capacity(total);
        let mut leaf_value = Vec::with_capacity(total);
        let mut ranges = Vec::with_capacity(trees.len());
        for tree in trees {
            let base = nodes.len() as u32;
            for i in 0..tree.n_nodes() {
                match tree.split(i) {
                    Some((feature, threshold, left)) => {
                        nodes.push(Node {
                            threshold,
                            feature,
                            left: base + left,
                        });
                        leaf_value.push(0.0);
                    }
                    None => {
                        nodes.push(Node {
                            threshold: f64::INFINITY,
                            feature: 0,
                            left: base + i as u32,
                        });
                        leaf_value.push(tree.leaf_value(i));
                    }
                }
            }
            ranges.push(TreeRange {
                root: base,
                depth: tree.depth() as u32,
            });
        }
        // pad to a power of two so that scoring can mask indices instead of checking them
        let padded = nodes.len().next_power_of_two();
        nodes.resize(
            padded,
            Node {
                threshold: f64::INFINITY,
                feature: 0,
                left: 0,
            },
        );
        leaf_value.resize(padded, 0.0);
        Self {
            nodes,
            leaf_value,
            trees: ranges,
            n_features,
            feature_slots: n_features.next_power_of_two(),
        }
    }

    /// Bytes held by the portable layout (for the memory budget).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.leaf_value.capacity() * std::mem::size_of::<f64>()
            + self.trees.capacity() * std::mem::size_of::<TreeRange>()
    }

    /// Adds each row's summed path length over all trees to `out` (one entry per row of `rows`,
    /// which is row-major with `n_features` columns). `scratch` is reused between calls.
    pub(crate) fn sum_path_lengths(&self, rows: &[f64], out: &mut [f64], scratch: &mut Scratch) {
        let d = self.n_features;
        debug_assert_eq!(rows.len(), out.len() * d);
        for (block_rows, block_out) in rows.chunks(MAX_BLOCK * d).zip(out.chunks_mut(MAX_BLOCK)) {
            self.sum_block(block_rows, block_out, scratch);
        }
    }

    fn sum_block(&self, rows: &[f64], out: &mut [f64], scratch: &mut Scratch) {
        let n = out.len();
        let d = self.n_features;
        // the smallest power of two that holds the block (at least one group): a 10-row request
        // walks 16 lanes, not 256
        let lanes = n.next_power_of_two().max(GROUP);
        let shift = lanes.trailing_zeros();
        scratch.prepare(lanes, self.feature_slots);
        // transpose to feature-major: value of (row r, feature f) at (f << shift) | r
        for (r, row) in rows.chunks_exact(d).enumerate() {
            for (f, &v) in row.iter().enumerate() {
                scratch.x[(f << shift) | r] = v;
            }
        }
        let x = &scratch.x[..self.feature_slots << shift];
        let acc = &mut scratch.acc[..lanes];
        acc.fill(0.0);
        // Both lengths are powers of two, so masking keeps every index in bounds without a
        // branch (and the masks never change a valid index).
        let x_mask = x.len() - 1;
        let nodes = self.nodes.as_slice();
        let node_mask = nodes.len() - 1;
        for tree in &self.trees {
            for (g, acc) in acc.chunks_exact_mut(GROUP).enumerate() {
                let lane0 = g * GROUP;
                let mut at = [tree.root; GROUP];
                for _ in 0..tree.depth {
                    for (k, at) in at.iter_mut().enumerate() {
                        let node = nodes[*at as usize & node_mask];
                        let value = x[(((node.feature as usize) << shift) | (lane0 + k)) & x_mask];
                        *at = node.left + u32::from(value > node.threshold);
                    }
                }
                for (a, &leaf) in acc.iter_mut().zip(&at) {
                    *a += self.leaf_value[leaf as usize & node_mask];
                }
            }
        }
        for (o, a) in out.iter_mut().zip(acc.iter()) {
            *o += a;
        }
    }
}

/// Per-thread buffers for [`PortableForest::sum_path_lengths`]; allocated once, reused per block.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The block's values, feature-major, `feature_slots << shift` long.
    x: Vec<f64>,
    /// Per-lane sums for the block.
    acc: Vec<f64>,
}

impl Scratch {
    fn prepare(&mut self, lanes: usize, feature_slots: usize) {
        // padding lanes keep whatever finite values they had: they are walked but never reported
        let slots = feature_slots * lanes;
        if self.x.len() < slots {
            self.x.resize(slots, 0.0);
        }
        if self.acc.len() < lanes {
            self.acc.resize(lanes, 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::{IsolationForest, IsolationForestParams};
    use linfa::ParamGuard;
    use ndarray::Array2;

    /// The portable, blocked walk must give the same bits as walking each row down each tree.
    #[test]
    fn portable_scoring_equals_the_plain_walk() {
        for (n_rows, n_cols, max_samples) in [
            (2, 1, 2),
            (7, 3, 7),
            (300, 5, 256),
            (3000, 9, 256),
            (700, 2, 700),
        ] {
            let x = Array2::from_shape_fn((n_rows, n_cols), |(i, j)| {
                (((i * 7919 + j * 613) % 1009) as f64).sin() * 100.0
            });
            let p = IsolationForestParams::new()
                .max_samples(crate::forest::MaxSamples::Count(max_samples))
                .seed(9)
                .check()
                .unwrap();
            let forest = IsolationForest::fit_array(&p, x.view()).unwrap();
            let portable = PortableForest::new(forest.trees(), n_cols);
            // score more rows than were trained on, including rows outside the training range
            let probe = Array2::from_shape_fn((n_rows + 300, n_cols), |(i, j)| {
                ((i * 31 + j * 17) % 257) as f64 - 128.0
            });
            let flat = probe.as_slice().unwrap();
            let mut out = vec![0.0; probe.nrows()];
            portable.sum_path_lengths(flat, &mut out, &mut Scratch::default());
            for (i, row) in probe.rows().into_iter().enumerate() {
                let plain = IsolationTree::plain_path_sum(forest.trees(), row.as_slice().unwrap());
                assert_eq!(
                    out[i].to_bits(),
                    plain.to_bits(),
                    "row {i} of {n_rows}x{n_cols}"
                );
            }
        }
    }
}
