//! The portable scoring layout: plain Rust that every CPU runs, several times faster than a walk
//! over linked nodes. It takes what makes the AVX-512 layout ([`super::ranked`]) fast into code
//! the compiler vectorises for any target: 16-bit ranks instead of `f64` thresholds, compact
//! trees in heap order that stay in L1, many rows in lockstep, no data-dependent branch.
//!
//! Scoring is where the time goes (every row visits ~100 trees × ~8 levels), and a row's walk
//! down one tree is a chain of dependent loads: node → feature value → next node. Walking one
//! row at a time leaves the CPU waiting on that chain. Here a block of 256 rows goes down one
//! tree together:
//!
//! * **Codes and ranks** ([`super::codes`]): values and thresholds become 16-bit integers that
//!   compare exactly as the `f64`s do, so a block's values (2.5 KB at 5 features) and a tree's
//!   ranks fit in L1 together.
//! * **Heap order.** A tree at most 8 levels deep (256 samples give 8) is stored as a complete
//!   binary tree: node `h`'s children are `2h` and `2h + 1`, so a step is
//!   `h = 2h + (code[feature[h]] > rank[h])` — no child pointer to load. A leaf above the last
//!   level is padded with nodes that always go left (rank 65,535, above every code), so every row
//!   takes exactly `depth` steps. Tables are arrays of 256 indexed by a byte: no bounds checks.
//! * **The top levels by vector compares.** Every row visits the root, one of 2 nodes at level
//!   1, one of 4 at level 2 and one of 8 at level 3: for these 15 nodes it is cheaper to compare
//!   *every* row of the block with each of them and let each row's own answers pick its path (the
//!   answer at level 1 is the one of node 2 or 3 as the root's answer says, and so on down a tree
//!   of selects) — straight-line code over arrays of 16 lanes that the compiler turns into
//!   vector compares and blends (SSE2, AVX2, NEON alike), with no dependent load at all.
//! * **The rest in eight independent chains.** Below, eight rows walk in lockstep, each step a
//!   handful of scalar instructions; their chains overlap in the CPU.
//!
//! Forests the ranks cannot hold (trees deeper than 8 levels, from a `max_samples` above 256;
//! more than 256 features; a feature with 65,535 distinct thresholds or more) are walked over
//! linked `f64` nodes instead, slower but of any shape.
//!
//! A row still sums its trees' path lengths in tree order, so scores are bit-identical to a
//! row-by-row walk, whatever the block size, the number of threads or the walk.
//!
//! The same code, compiled for AVX2 and BMI2, is the `avx2` layout (`super::avx2`).

use super::codes::{BLOCK, Cuts, PAD_RANK};
use super::tree::IsolationTree;

/// Deepest tree the heap tables hold: 255 internal nodes, 256 leaves.
const HEAP_DEPTH: usize = 8;
/// Entries of a heap table (index 0 unused for nodes).
const SLOTS: usize = 1 << HEAP_DEPTH;
/// Most features the one-byte feature index holds.
const HEAP_FEATURES: usize = 256;
/// Levels walked by comparing every row of the block with every node of the level (1 + 2 + 4
/// + 8 nodes). Measured on gen 1M: three levels, and five (31 nodes), were slower.
const TOP_LEVELS: u32 = 4;
/// Rows walked together below the top levels, their node indices held in registers.
const GROUP: usize = 8;
/// Lanes compared together in the top levels; a block walks a multiple of it (so of [`GROUP`]
/// too): a 10-row request walks 16.
const LANES: usize = 16;
const _: () = assert!(LANES.is_multiple_of(GROUP) && BLOCK.is_multiple_of(LANES));

/// One tree in heap order, over ranks.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub(crate) struct HeapTree {
    /// The node's threshold as a rank ([`PAD_RANK`] below a shallow leaf); `code > rank` goes
    /// right (to `2h + 1`). Index 0 unused.
    rank: [u16; SLOTS],
    /// The node's feature. Index 0 unused.
    feature: [u8; SLOTS],
    /// Path length by leaf index at the tree's last level (`h - 2^depth`).
    leaf: [f64; SLOTS],
    depth: u32,
}

impl HeapTree {
    /// The tree in heap order, or `None` if it is deeper than [`HEAP_DEPTH`].
    fn new(tree: &IsolationTree, cuts: &Cuts) -> Option<Self> {
        let depth = tree.depth();
        if depth > HEAP_DEPTH {
            return None;
        }
        let mut heap = Self {
            rank: [PAD_RANK; SLOTS],
            feature: [0; SLOTS],
            leaf: [0.0; SLOTS],
            depth: depth as u32,
        };
        // (node, heap index, level)
        let mut todo = vec![(0usize, 1usize, 0usize)];
        while let Some((i, h, level)) = todo.pop() {
            match tree.split(i) {
                Some((feature, threshold, left)) => {
                    heap.rank[h] = cuts.rank(feature as usize, threshold);
                    heap.feature[h] = u8::try_from(feature).ok()?;
                    todo.push((left as usize, 2 * h, level + 1));
                    todo.push((left as usize + 1, 2 * h + 1, level + 1));
                }
                // the padding below goes left: the leaf's leftmost descendant at the last level
                None => heap.leaf[(h << (depth - level)) - (1 << depth)] = tree.leaf_value(i),
            }
        }
        Some(heap)
    }

    /// Adds the tree's path lengths of the block's first `acc.len()` rows (a multiple of
    /// [`LANES`]) to `acc`. `codes` is the block's codes (`codes[f * BLOCK + r]`) and `at` room
    /// for each row's node.
    #[inline(always)]
    fn walk(&self, codes: &BlockCodes, at: &mut [u16; BLOCK], acc: &mut [f64]) {
        let lanes = acc.len();
        let at = &mut at[..lanes];
        let top = self.depth.min(TOP_LEVELS);
        if top == TOP_LEVELS {
            self.top_four(codes, at);
        } else {
            self.top_few(codes, at, top);
        }
        // the rest: GROUP rows in lockstep; `h` stays below 256 until the last step, so the
        // byte is `h` itself; a feature (a byte) and a row (below 256) make a 16-bit index
        // into the 65,536 codes, which needs no bounds check
        let leaf_mask = (1usize << self.depth) - 1;
        for (g, (acc, at)) in acc
            .chunks_exact_mut(GROUP)
            .zip(at.chunks_exact(GROUP))
            .enumerate()
        {
            let lane0 = g * GROUP;
            let mut h: [usize; GROUP] = std::array::from_fn(|k| usize::from(at[k]));
            for _ in top..self.depth {
                for (k, h) in h.iter_mut().enumerate() {
                    let node = usize::from(*h as u8);
                    let feature = self.feature[node];
                    let code = codes[usize::from(feature_row(feature, lane0 + k))];
                    *h = twice_plus(*h, code > self.rank[node]);
                }
            }
            for (a, &h) in acc.iter_mut().zip(&h) {
                *a += self.leaf[usize::from((h & leaf_mask) as u8)];
            }
        }
    }

    /// The first four levels of a tree at least four deep, for every lane: each of the 15 nodes
    /// compares every lane, and the lane's own path picks its answers (a tree of selects).
    #[inline(always)]
    fn top_four(&self, codes: &BlockCodes, at: &mut [u16]) {
        let column: [usize; 16] = std::array::from_fn(|n| usize::from(self.feature[n]) * BLOCK);
        let rank: [u16; 16] = std::array::from_fn(|n| self.rank[n]);
        for (c, at) in at.chunks_exact_mut(LANES).enumerate() {
            let lane0 = c * LANES;
            let right = |n: usize| -> [bool; LANES] {
                let col: &[u16; LANES] = codes[column[n] + lane0..][..LANES]
                    .try_into()
                    .expect("LANES long");
                std::array::from_fn(|i| col[i] > rank[n])
            };
            let pick = |m: &[bool; LANES], a: [bool; LANES], b: [bool; LANES]| -> [bool; LANES] {
                std::array::from_fn(|i| if m[i] { b[i] } else { a[i] })
            };
            let b0 = right(1);
            let b1 = pick(&b0, right(2), right(3));
            let b2 = pick(
                &b0,
                pick(&b1, right(4), right(5)),
                pick(&b1, right(6), right(7)),
            );
            let b3 = pick(
                &b0,
                pick(
                    &b1,
                    pick(&b2, right(8), right(9)),
                    pick(&b2, right(10), right(11)),
                ),
                pick(
                    &b1,
                    pick(&b2, right(12), right(13)),
                    pick(&b2, right(14), right(15)),
                ),
            );
            for i in 0..LANES {
                at[i] = 16
                    + 8 * u16::from(b0[i])
                    + 4 * u16::from(b1[i])
                    + 2 * u16::from(b2[i])
                    + u16::from(b3[i]);
            }
        }
    }

    /// The first `top` levels, for a tree less than four deep.
    fn top_few(&self, codes: &BlockCodes, at: &mut [u16], top: u32) {
        let lanes = at.len();
        // every row against every node of the level, keeping the answer of the rows standing
        // at that node
        at.fill(1);
        for level in 0..top {
            for node in (1usize << level)..(2usize << level) {
                let column = &codes[usize::from(feature_row(self.feature[node], 0))..][..lanes];
                let rank = self.rank[node];
                let node = node as u16;
                for (h, &code) in at.iter_mut().zip(column) {
                    let next = 2 * node + u16::from(code > rank);
                    *h = if *h == node { next } else { *h };
                }
            }
        }
    }
}

/// `2h + bit`, the step to a child. On x86-64 it is written as an add-with-carry
/// (`_addcarry_u64`, part of every x86-64 CPU, no target feature), which LLVM compiles to
/// `cmp; adc h, h`, taking the comparison's carry flag as the bit: written as `2 * h + bit` it
/// became `xor; cmp; setb; lea`, and the flags held over eight rows cost register spills.
/// Scoring gen 1M took 0.36 s instead of 0.42 s through `avx2` and 0.39 s instead of 0.46 s
/// through `portable` (`anomaly-kit --threads 1 benchmark`, median of five interleaved runs on
/// a Zen 4). Elsewhere the plain sum.
#[inline(always)]
fn twice_plus(h: usize, bit: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let mut out = 0u64;
        let _ = std::arch::x86_64::_addcarry_u64(u8::from(bit), h as u64, h as u64, &mut out);
        out as usize
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        2 * h + usize::from(bit)
    }
}

/// A block's codes: room for every feature a byte can name, 256 rows each (128 KB, allocated
/// once per thread; only the pages of the forest's features are ever touched).
pub(crate) type BlockCodes = [u16; HEAP_FEATURES * BLOCK];

/// The index of row `row`'s code for `feature` in [`BlockCodes`].
#[inline(always)]
fn feature_row(feature: u8, row: usize) -> u16 {
    u16::from(feature) << 8 | u16::from(row as u8)
}

/// Adds the path lengths of the block's first `acc.len()` rows over `trees`, in order, to `acc`:
/// the hot loop, `#[inline(always)]` so that each caller compiles it for its own CPU features
/// and keeps its registers to itself.
#[inline(always)]
pub(crate) fn walk_trees(
    trees: &[HeapTree],
    codes: &BlockCodes,
    at: &mut [u16; BLOCK],
    acc: &mut [f64],
) {
    for tree in trees {
        tree.walk(codes, at, acc);
    }
}

/// [`walk_trees`] for every CPU.
#[inline(never)]
fn walk_trees_baseline(
    trees: &[HeapTree],
    codes: &BlockCodes,
    at: &mut [u16; BLOCK],
    acc: &mut [f64],
) {
    walk_trees(trees, codes, at, acc);
}

/// A node of the linked walk, for forests the ranks cannot hold.
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

/// Every tree in one flat array of linked nodes, padded to a power of two.
#[derive(Clone, Debug)]
struct LinkedForest {
    nodes: Vec<Node>,
    /// Path length of a row that ends at node `i` (only meaningful for leaves).
    leaf_value: Vec<f64>,
    trees: Vec<TreeRange>,
}

impl LinkedForest {
    fn new(trees: &[IsolationTree]) -> Self {
        let total: usize = trees.iter().map(IsolationTree::n_nodes).sum();
        let mut nodes = Vec::with_capacity(total);
        let mut leaf_value = Vec::with_capacity(total);
        let mut ranges = Vec::with_capacity(trees.len());
        for tree in trees {
            let base = nodes.len() as u32;
            for i in 0..tree.n_nodes() {
                let (node, value) = match tree.split(i) {
                    Some((feature, threshold, left)) => (
                        Node {
                            threshold,
                            feature,
                            left: base + left,
                        },
                        0.0,
                    ),
                    None => (
                        Node {
                            threshold: f64::INFINITY,
                            feature: 0,
                            left: base + i as u32,
                        },
                        tree.leaf_value(i),
                    ),
                };
                nodes.push(node);
                leaf_value.push(value);
            }
            ranges.push(TreeRange {
                root: base,
                depth: tree.depth() as u32,
            });
        }
        // pad to a power of two so that scoring can mask indices instead of checking them
        let padded = nodes.len().next_power_of_two();
        let pad = Node {
            threshold: f64::INFINITY,
            feature: 0,
            left: 0,
        };
        nodes.resize(padded, pad);
        leaf_value.resize(padded, 0.0);
        Self {
            nodes,
            leaf_value,
            trees: ranges,
        }
    }

    /// Adds the path lengths of the block's `acc.len()` rows (a multiple of [`GROUP`]) to `acc`.
    /// `x` holds the block's values feature-major (row `r`'s feature `f` at `f * BLOCK + r`),
    /// its length a power of two.
    #[inline(always)]
    fn walk_block(&self, x: &[f64], acc: &mut [f64]) {
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
                        let value = x[(node.feature as usize * BLOCK + lane0 + k) & x_mask];
                        *at = node.left + u32::from(value > node.threshold);
                    }
                }
                for (a, &leaf) in acc.iter_mut().zip(&at) {
                    *a += self.leaf_value[leaf as usize & node_mask];
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * size_of::<Node>()
            + self.leaf_value.capacity() * size_of::<f64>()
            + self.trees.capacity() * size_of::<TreeRange>()
    }
}

/// How the portable layout walks this forest.
#[derive(Clone, Debug)]
enum Walk {
    /// Codes, ranks and heap-ordered trees: every tree at most 8 deep, at most 256 features,
    /// fewer than 65,535 distinct thresholds per feature.
    Ranked { cuts: Cuts, trees: Vec<HeapTree> },
    /// Anything else: linked `f64` nodes.
    Linked(LinkedForest),
}

/// The portable scoring layout of a forest. Built from the fitted trees; never stored.
#[derive(Clone, Debug)]
pub(crate) struct PortableForest {
    walk: Walk,
    n_features: usize,
}

impl PortableForest {
    pub(crate) fn new(trees: &[IsolationTree], n_features: usize) -> Self {
        let ranked = (n_features <= HEAP_FEATURES)
            .then(|| Cuts::new(trees, n_features).ok())
            .flatten()
            .and_then(|cuts| {
                let heap: Option<Vec<_>> = trees.iter().map(|t| HeapTree::new(t, &cuts)).collect();
                Some(Walk::Ranked { trees: heap?, cuts })
            });
        Self {
            walk: ranked.unwrap_or_else(|| Walk::Linked(LinkedForest::new(trees))),
            n_features,
        }
    }

    /// Which walk scores: `"ranked"` or `"linked"` (for tests).
    #[cfg(test)]
    fn walk_name(&self) -> &'static str {
        match self.walk {
            Walk::Ranked { .. } => "ranked",
            Walk::Linked(_) => "linked",
        }
    }

    /// Bytes held by the portable layout (for the memory budget).
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.walk {
            Walk::Ranked { cuts, trees } => {
                cuts.heap_bytes() + trees.capacity() * size_of::<HeapTree>()
            }
            Walk::Linked(linked) => linked.heap_bytes(),
        }
    }

    /// Adds each row's summed path length over all trees to `out` (one entry per row of `rows`,
    /// which is row-major with `n_features` columns). `scratch` is reused between calls.
    pub(crate) fn sum_path_lengths(&self, rows: &[f64], out: &mut [f64], scratch: &mut Scratch) {
        self.sum_path_lengths_with(rows, out, scratch, walk_trees_baseline);
    }

    /// [`Self::sum_path_lengths`], with `walk` running [`walk_trees`] for each block: the
    /// `avx2` layout passes it compiled for AVX2.
    pub(crate) fn sum_path_lengths_with(
        &self,
        rows: &[f64],
        out: &mut [f64],
        scratch: &mut Scratch,
        walk: impl Fn(&[HeapTree], &BlockCodes, &mut [u16; BLOCK], &mut [f64]),
    ) {
        let d = self.n_features;
        assert_eq!(
            rows.len(),
            out.len() * d,
            "rows must hold n_features values per output"
        );
        scratch.prepare(self);
        for (block_rows, block_out) in rows.chunks(BLOCK * d).zip(out.chunks_mut(BLOCK)) {
            // whole vectors of rows: a 10-row request walks 16 lanes, not 256
            let lanes = block_out.len().next_multiple_of(LANES);
            let acc = &mut scratch.acc[..lanes];
            acc.fill(0.0);
            match &self.walk {
                Walk::Ranked { cuts, trees } => {
                    let codes = scratch.codes.as_mut();
                    cuts.code_block(block_rows, lanes, codes);
                    walk(trees, codes, &mut scratch.at, acc);
                }
                Walk::Linked(linked) => {
                    // feature-major: value of (row r, feature f) at f * BLOCK + r; lanes past
                    // the last row keep whatever finite values they had (never reported)
                    let x = scratch.x.as_mut_slice();
                    for (r, row) in block_rows.chunks_exact(d).enumerate() {
                        for (f, &v) in row.iter().enumerate() {
                            x[f * BLOCK + r] = v;
                        }
                    }
                    linked.walk_block(x, acc);
                }
            }
            for (o, a) in block_out.iter_mut().zip(acc.iter()) {
                *o += a;
            }
        }
    }
}

/// Per-thread buffers for [`PortableForest::sum_path_lengths`]; allocated once, reused per block.
pub(crate) struct Scratch {
    /// The block's codes (ranked walk), feature-major.
    codes: Box<BlockCodes>,
    /// The block's values (linked walk), feature-major, a power of two long.
    x: Vec<f64>,
    /// Each row's node after the top levels.
    at: [u16; BLOCK],
    /// Per-row sums for the block.
    acc: [f64; BLOCK],
}

impl Default for Scratch {
    fn default() -> Self {
        let codes = vec![0u16; HEAP_FEATURES * BLOCK].into_boxed_slice();
        Self {
            codes: codes.try_into().expect("the length is the array's"),
            x: Vec::new(),
            at: [0; BLOCK],
            acc: [0.0; BLOCK],
        }
    }
}

impl Scratch {
    fn prepare(&mut self, forest: &PortableForest) {
        if let Walk::Linked(_) = forest.walk {
            // a power of two, so the linked walk can mask its indices
            let slots = forest.n_features.next_power_of_two() * BLOCK;
            if self.x.len() < slots {
                self.x.resize(slots, 0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::{IsolationForest, IsolationForestParams, MaxSamples};
    use linfa::ParamGuard;
    use ndarray::Array2;

    /// The portable walks must give the same bits as walking each row down each tree: on rows
    /// inside and outside the training range, for small and large blocks, and for both the heap
    /// walk (trees up to 8 deep) and the linked one (deeper trees).
    #[test]
    fn portable_scoring_equals_the_plain_walk() {
        for (n_rows, n_cols, max_samples, walk) in [
            (2, 1, 2, "ranked"),
            (7, 3, 7, "ranked"),
            (300, 5, 256, "ranked"),
            (3000, 9, 256, "ranked"),
            (500, 16, 256, "ranked"),
            (300, 40, 256, "ranked"),
            (300, 256, 256, "ranked"),
            (300, 257, 256, "linked"),
            (700, 2, 700, "linked"),
            (2000, 5, 1000, "linked"),
        ] {
            let x = Array2::from_shape_fn((n_rows, n_cols), |(i, j)| {
                (((i * 7919 + j * 613) % 1009) as f64).sin() * 100.0
            });
            let p = IsolationForestParams::new()
                .max_samples(MaxSamples::Count(max_samples))
                .seed(9)
                .check()
                .unwrap();
            let forest = IsolationForest::fit_array(&p, x.view()).unwrap();
            let portable = PortableForest::new(forest.trees(), n_cols);
            assert_eq!(
                portable.walk_name(),
                walk,
                "{n_rows}x{n_cols}, {max_samples}"
            );
            // score more rows than were trained on, including rows outside the training range,
            // and every block size from one row up
            let probe = Array2::from_shape_fn((n_rows + 300, n_cols), |(i, j)| {
                ((i * 31 + j * 17) % 257) as f64 - 128.0
            });
            let flat = probe.as_slice().unwrap();
            let mut scratch = Scratch::default();
            for take in [1, 9, probe.nrows()] {
                let mut out = vec![0.0; take];
                portable.sum_path_lengths(&flat[..take * n_cols], &mut out, &mut scratch);
                for (i, row) in probe.rows().into_iter().take(take).enumerate() {
                    let plain =
                        IsolationTree::plain_path_sum(forest.trees(), row.as_slice().unwrap());
                    assert_eq!(
                        out[i].to_bits(),
                        plain.to_bits(),
                        "row {i} of {take}, {n_rows}x{n_cols}, {walk}"
                    );
                }
            }
        }
    }
}
