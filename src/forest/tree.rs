//! One isolation tree: grown on a row sample by random splits, stored as a flat array of nodes.
//!
//! Layout: `nodes[0]` is the root; a split's children sit next to each other at `left` and
//! `left + 1`. A leaf stores the path length a row collects when it ends there —
//! its depth plus `c(size)` for the training rows it still held — so scoring a row is a walk down
//! the array and one add, with no arithmetic beyond the comparisons.

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::average_path_length;
use crate::rng::KitRng;

/// Marks a leaf in [`Node::feature`].
const LEAF: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Node {
    /// Column to compare, or [`LEAF`].
    feature: u32,
    /// Index of the left child (the right child is `left + 1`); unused in a leaf.
    left: u32,
    /// Split threshold (`x <= value` goes left), or the leaf's path length.
    value: f64,
}

/// A fitted isolation tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TreeRecord", into = "TreeRecord")]
pub struct IsolationTree {
    nodes: Vec<Node>,
    /// Training rows that reached each node (kept for the artefact and for inspection).
    sizes: Vec<u32>,
}

impl IsolationTree {
    /// Grows a tree on the rows listed in `sample` (reordered in place), splitting on the columns
    /// in `features`, to at most `max_depth` levels.
    ///
    /// `x` is row-major with `n_cols` columns. At each node a feature is drawn at random among
    /// those not yet tried at that node; a feature that is constant over the node's rows is
    /// skipped (as scikit-learn's random splitter does) and the node becomes a leaf only when all
    /// are constant. The threshold is uniform between the node's minimum and maximum.
    pub(crate) fn grow(
        x: &[f64],
        n_cols: usize,
        sample: &mut [u32],
        features: &[u32],
        max_depth: usize,
        rng: &mut KitRng,
    ) -> Self {
        let mut nodes = vec![Node {
            feature: LEAF,
            left: 0,
            value: 0.0,
        }];
        let mut sizes = vec![sample.len() as u32];
        let mut order: Vec<u32> = features.to_vec();
        // (node, start, end, depth) still to be decided
        let mut todo = vec![(0usize, 0usize, sample.len(), 0usize)];
        while let Some((node, start, end, depth)) = todo.pop() {
            let rows = &mut sample[start..end];
            let split = if depth < max_depth && rows.len() > 1 {
                choose_split(x, n_cols, rows, &mut order, rng)
            } else {
                None
            };
            let Some((feature, threshold)) = split else {
                nodes[node].value = depth as f64 + average_path_length(rows.len());
                continue;
            };
            let n_left = partition(rows, |r| {
                x[r as usize * n_cols + feature as usize] <= threshold
            });
            let left = nodes.len();
            nodes[node] = Node {
                feature,
                left: left as u32,
                value: threshold,
            };
            nodes.push(Node {
                feature: LEAF,
                left: 0,
                value: 0.0,
            });
            nodes.push(Node {
                feature: LEAF,
                left: 0,
                value: 0.0,
            });
            sizes.push(n_left as u32);
            sizes.push((rows.len() - n_left) as u32);
            todo.push((left + 1, start + n_left, end, depth + 1));
            todo.push((left, start, start + n_left, depth + 1));
        }
        Self { nodes, sizes }
    }

    /// Path length of one row (`row` has all the forest's columns): the plain walk. The reference
    /// the scoring layouts are tested against, and the online detector's walk (one row
    /// at a time, where compiling a layout would not pay).
    pub(crate) fn path_length(&self, row: &[f64]) -> f64 {
        let nodes = self.nodes.as_slice();
        let mut node = nodes[0];
        while node.feature != LEAF {
            let go_right = usize::from(row[node.feature as usize] > node.value);
            node = nodes[node.left as usize + go_right];
        }
        node.value
    }

    /// A row's path lengths summed over `trees` in order, by the plain walk: the sum both scoring
    /// layouts must reproduce bit for bit.
    #[cfg(test)]
    pub(crate) fn plain_path_sum(trees: &[IsolationTree], row: &[f64]) -> f64 {
        trees.iter().fold(0.0, |acc, t| acc + t.path_length(row))
    }

    /// `(feature, threshold, left child)` of node `i` if it splits, `None` for a leaf.
    pub(crate) fn split(&self, i: usize) -> Option<(u32, f64, u32)> {
        let n = self.nodes[i];
        (n.feature != LEAF).then_some((n.feature, n.value, n.left))
    }

    /// Path length a row collects at leaf `i`: its depth plus `c(training rows in it)`.
    pub(crate) fn leaf_value(&self, i: usize) -> f64 {
        self.nodes[i].value
    }

    /// Bytes of heap memory held by the tree.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.sizes.capacity() * std::mem::size_of::<u32>()
    }

    /// Training rows the tree was grown from (distinct rows, with bootstrap).
    pub fn n_samples(&self) -> usize {
        self.sizes[0] as usize
    }

    /// Nodes in the tree, splits and leaves together.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Leaves in the tree.
    pub fn n_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.feature == LEAF).count()
    }

    /// Highest column index used by a split, if any (for checking a loaded model).
    pub(crate) fn max_feature(&self) -> Option<u32> {
        self.nodes
            .iter()
            .filter(|n| n.feature != LEAF)
            .map(|n| n.feature)
            .max()
    }

    /// Depth of the deepest leaf.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut todo = vec![(0usize, 0usize)];
        while let Some((i, d)) = todo.pop() {
            let n = self.nodes[i];
            if n.feature == LEAF {
                deepest = deepest.max(d);
            } else {
                todo.push((n.left as usize, d + 1));
                todo.push((n.left as usize + 1, d + 1));
            }
        }
        deepest
    }
}

/// Picks a random non-constant feature and a threshold strictly inside its range on `rows`.
fn choose_split(
    x: &[f64],
    n_cols: usize,
    rows: &[u32],
    order: &mut [u32],
    rng: &mut KitRng,
) -> Option<(u32, f64)> {
    // Partial Fisher-Yates: each feature is tried at most once per node.
    for tried in 0..order.len() {
        let pick = rng.random_range(tried..order.len());
        order.swap(tried, pick);
        let feature = order[tried];
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &r in rows {
            let v = x[r as usize * n_cols + feature as usize];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi > lo {
            let u = rng.random::<f64>();
            let mut threshold = lo + (hi - lo) * u;
            if !threshold.is_finite() {
                // `hi - lo` overflows when the range spans more than `f64::MAX` (values near
                // both extremes); the convex form cannot, and is only needed then, so every
                // other split keeps its bits
                threshold = lo * (1.0 - u) + hi * u;
            }
            if threshold >= hi {
                // rounding can land on the maximum, which would send every row left
                threshold = lo;
            }
            return Some((feature, threshold));
        }
    }
    None
}

/// Moves the rows for which `goes_left` holds to the front; returns how many there are.
fn partition(rows: &mut [u32], goes_left: impl Fn(u32) -> bool) -> usize {
    let mut n_left = 0;
    for i in 0..rows.len() {
        if goes_left(rows[i]) {
            rows.swap(i, n_left);
            n_left += 1;
        }
    }
    n_left
}

/// The stored form of a tree: one entry per node in each array.
///
/// A node is a leaf when `left` is 0 (the root is nobody's child); otherwise it splits on column
/// `feature` at `threshold` and its children are `left` and `left + 1`. `size` is the number of
/// training rows that reached the node. Leaf path lengths are recomputed from depth and size on
/// load, so the file holds the tree itself, not a cache of it.
#[derive(Serialize, Deserialize)]
struct TreeRecord {
    feature: Vec<u32>,
    threshold: Vec<f64>,
    left: Vec<u32>,
    size: Vec<u32>,
}

impl From<IsolationTree> for TreeRecord {
    fn from(t: IsolationTree) -> Self {
        let is_split = |n: &Node| n.feature != LEAF;
        TreeRecord {
            feature: t
                .nodes
                .iter()
                .map(|n| if is_split(n) { n.feature } else { 0 })
                .collect(),
            threshold: t
                .nodes
                .iter()
                .map(|n| if is_split(n) { n.value } else { 0.0 })
                .collect(),
            left: t
                .nodes
                .iter()
                .map(|n| if is_split(n) { n.left } else { 0 })
                .collect(),
            size: t.sizes,
        }
    }
}

impl TryFrom<TreeRecord> for IsolationTree {
    type Error = String;

    /// Rebuilds a tree, refusing anything that is not one: mismatched lengths, children out of
    /// range or pointing backwards, nodes reached twice or never, sizes that do not add up.
    fn try_from(r: TreeRecord) -> Result<Self, Self::Error> {
        let n = r.size.len();
        if n == 0 {
            return Err("a tree has no nodes".into());
        }
        if r.feature.len() != n || r.threshold.len() != n || r.left.len() != n {
            return Err(format!(
                "tree arrays differ in length (feature {}, threshold {}, left {}, size {n})",
                r.feature.len(),
                r.threshold.len(),
                r.left.len()
            ));
        }
        let mut nodes = vec![
            Node {
                feature: LEAF,
                left: 0,
                value: 0.0
            };
            n
        ];
        let mut reached = vec![false; n];
        reached[0] = true;
        let mut todo = vec![(0usize, 0usize)];
        while let Some((i, depth)) = todo.pop() {
            let left = r.left[i] as usize;
            if left == 0 {
                if r.size[i] == 0 {
                    return Err(format!("leaf {i} holds no training rows"));
                }
                nodes[i].value = depth as f64 + average_path_length(r.size[i] as usize);
                continue;
            }
            if left <= i || left + 1 >= n {
                return Err(format!(
                    "node {i} points to children {left} and {} outside the tree",
                    left + 1
                ));
            }
            if reached[left] || reached[left + 1] {
                return Err(format!("node {i}'s children are reached twice: not a tree"));
            }
            if r.feature[i] == LEAF {
                return Err(format!("node {i} splits on an impossible column"));
            }
            if !r.threshold[i].is_finite() {
                return Err(format!("node {i} has a non-finite threshold"));
            }
            if r.size[left] as u64 + r.size[left + 1] as u64 != r.size[i] as u64 {
                return Err(format!(
                    "node {i}'s size {} is not the sum of its children's",
                    r.size[i]
                ));
            }
            reached[left] = true;
            reached[left + 1] = true;
            nodes[i] = Node {
                feature: r.feature[i],
                left: left as u32,
                value: r.threshold[i],
            };
            todo.push((left, depth + 1));
            todo.push((left + 1, depth + 1));
        }
        if let Some(orphan) = reached.iter().position(|&seen| !seen) {
            return Err(format!("node {orphan} is not reachable from the root"));
        }
        Ok(IsolationTree {
            nodes,
            sizes: r.size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    fn grow(x: &[f64], n_cols: usize) -> IsolationTree {
        let mut sample: Vec<u32> = (0..(x.len() / n_cols) as u32).collect();
        let features: Vec<u32> = (0..n_cols as u32).collect();
        IsolationTree::grow(x, n_cols, &mut sample, &features, 8, &mut rng::seeded(1))
    }

    #[test]
    fn two_distinct_rows_split_once() {
        // one split separates them; each leaf has depth 1 and c(1) = 0
        let t = grow(&[0.0, 1.0], 1);
        assert_eq!(t.n_nodes(), 3);
        assert_eq!(t.path_length(&[0.0]), 1.0);
        assert_eq!(t.path_length(&[1.0]), 1.0);
        assert_eq!(t.path_length(&[-5.0]), 1.0);
    }

    /// A range wider than `f64::MAX` (values near both extremes) still splits at a finite
    /// threshold strictly between them.
    #[test]
    fn a_range_wider_than_f64_max_splits_finitely() {
        let t = grow(&[-f64::MAX, f64::MAX], 1);
        assert_eq!(t.n_nodes(), 3);
        let (_, threshold, _) = t.split(0).expect("the root splits");
        assert!(threshold.is_finite() && threshold < f64::MAX, "{threshold}");
        assert_eq!(t.path_length(&[-f64::MAX]), 1.0);
        assert_eq!(t.path_length(&[f64::MAX]), 1.0);
    }

    #[test]
    fn constant_data_is_one_leaf_with_c_of_n() {
        let t = grow(&[3.0; 10], 1);
        assert_eq!(t.n_nodes(), 1);
        assert_eq!(t.path_length(&[3.0]), average_path_length(10));
    }

    #[test]
    fn depth_limit_holds_and_sizes_add_up() {
        let x: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1000) as f64).collect();
        let mut sample: Vec<u32> = (0..1000).collect();
        let t = IsolationTree::grow(&x, 1, &mut sample, &[0], 4, &mut rng::seeded(3));
        assert!(t.depth() <= 4);
        assert_eq!(t.sizes[0], 1000);
        let leaf_total: u32 = t
            .nodes
            .iter()
            .zip(&t.sizes)
            .filter(|(n, _)| n.feature == LEAF)
            .map(|(_, s)| *s)
            .sum();
        assert_eq!(leaf_total, 1000);
    }

    #[test]
    fn record_round_trip_is_exact() {
        let x: Vec<f64> = (0..300).map(|i| ((i * 31) % 97) as f64 * 0.37).collect();
        let t = grow(&x, 3);
        let back = IsolationTree::try_from(TreeRecord::from(t.clone())).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn broken_records_are_refused() {
        let good = || TreeRecord::from(grow(&[0.0, 1.0, 2.0, 5.0], 1));
        let mut r = good();
        r.left[0] = 0x7fff;
        assert!(IsolationTree::try_from(r).unwrap_err().contains("outside"));
        let mut r = good();
        r.size.pop();
        assert!(IsolationTree::try_from(r).unwrap_err().contains("length"));
        let mut r = good();
        r.size[0] += 1;
        assert!(IsolationTree::try_from(r).unwrap_err().contains("sum"));
        let mut r = good();
        r.feature[0] = LEAF;
        assert!(
            IsolationTree::try_from(r)
                .unwrap_err()
                .contains("impossible column")
        );
        let mut r = good();
        r.threshold[0] = f64::NAN;
        assert!(
            IsolationTree::try_from(r)
                .unwrap_err()
                .contains("non-finite")
        );
    }
}
