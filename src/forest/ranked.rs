//! The fast scoring layout: thresholds replaced by their ranks, trees walked 32 rows at a time
//! with AVX-512 table lookups.
//!
//! Below its top levels the portable layout ([`super::portable`]) still makes two dependent
//! loads per row and level: the node's feature, then the row's code for it. This layout replaces
//! both with in-register table lookups:
//!
//! * **Ranks instead of thresholds.** Each feature's distinct split thresholds, over all trees, are
//!   sorted once. A row's value `x` is replaced by its *code*, the number of thresholds below it,
//!   found by one binary search per row and feature (shared by all trees); a node's threshold is
//!   replaced by its *rank* in the same list. For sorted thresholds `t`, `x > t[k]` exactly when
//!   `code(x) > k`, so the walk takes the same branches bit for bit, on 16-bit integers.
//! * **A tree as a few registers.** A tree at most 8 levels deep (256 samples give 8) is stored as
//!   a complete binary tree in heap order (root 1, children `2h` and `2h + 1`): 256 ranks and 256
//!   feature selectors of 16 bits, 16 vector registers in all. A leaf above the last level is
//!   padded with nodes of rank `u16::MAX` (no code is greater) whose walk always goes left. A
//!   level's lookup is one or two `vpermt2w` (a 64-entry table lookup in every lane) on those
//!   registers, whatever node each lane is at: no address depends on the previous level.
//! * **32 rows per register.** The 32 rows' codes of each feature sit in one register; a lane's
//!   code for its node's feature is picked with the same instruction (one `vpermt2w` per pair of
//!   features) and a tree of blends over the pairs — the main cost of a level at 16 features.
//! * **Four walks in flight.** One walk is a chain of dependent instructions; four independent
//!   ones (four groups of rows through one tree, or, for a small request, one group through four
//!   trees) keep the vector units busy.
//! * After the last level, each lane's leaf index reads the leaf's path length (depth + c(size),
//!   `f64`) with a gather, and rows add their trees' path lengths in tree order — so the sums, and
//!   the scores, are bit-identical to the plain walk and to the portable layout.
//!
//! The layout applies when the CPU has AVX-512 (F and BW), every tree is at most 8 deep, there
//! are at most 16 features and no feature has 65,535 distinct thresholds or more; otherwise
//! [`RankedForest::new`] declines, saying why: by default the `avx2` or `portable` layout then
//! scores, and a forced `avx512` is an error.

use super::codes::{BLOCK, Cuts, PAD_RANK};
use super::tree::IsolationTree;

/// Deepest tree the register tables hold: 255 internal nodes in heap order, 256 leaves.
const MAX_DEPTH: usize = 8;
/// Features the lane selector handles (pairs of code registers picked by permutes and blends).
const MAX_FEATURES: usize = 16;
/// Rows walked together: 16-bit lanes of a 512-bit register.
const LANES: usize = 32;

/// 256 heap-ordered 16-bit entries (index 0 unused): eight 512-bit registers, aligned so that
/// each is one aligned load.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Table([u16; 256]);

/// One tree's register tables.
#[derive(Clone, Debug)]
struct TreeTables {
    /// Rank of the node's threshold among its feature's thresholds, or [`PAD_RANK`].
    rank: Table,
    /// `feature * 32`: added to the lane number it indexes a pair of code registers, and its
    /// bits from 6 up pick the pair.
    select: Table,
}

/// A forest compiled to ranks for the AVX-512 walk. Built from the fitted trees; never stored.
#[derive(Clone, Debug)]
pub(crate) struct RankedForest {
    n_features: usize,
    /// Each feature's distinct thresholds, ascending.
    cuts: Cuts,
    tables: Vec<TreeTables>,
    depths: Vec<u32>,
    /// Tree `t`'s leaf path lengths by leaf index at its last level, from `leaf_start[t]`.
    leaves: Vec<f64>,
    leaf_start: Vec<usize>,
}

impl RankedForest {
    /// Compiles `trees`, or says why this forest's shape or this CPU cannot use the layout.
    /// The shape is checked first, so the reason is the same on every machine for a forest
    /// that cannot fit.
    pub(crate) fn new(trees: &[IsolationTree], n_features: usize) -> Result<Self, String> {
        if n_features == 0 || n_features > MAX_FEATURES {
            return Err(format!(
                "it holds 1 to {MAX_FEATURES} features, and the forest has {n_features}"
            ));
        }
        let depths: Vec<u32> = trees.iter().map(|t| t.depth() as u32).collect();
        if let Some(&deepest) = depths.iter().max()
            && deepest as usize > MAX_DEPTH
        {
            return Err(format!(
                "it holds trees at most {MAX_DEPTH} levels deep, and a tree has {deepest} (max_samples above 256)"
            ));
        }
        let cuts = Cuts::new(trees, n_features)?;
        if !cpu_supported() {
            return Err("this CPU lacks AVX-512 F or BW (x86-64 only)".into());
        }
        let mut forest = Self {
            n_features,
            cuts,
            tables: Vec::with_capacity(trees.len()),
            depths,
            leaves: Vec::new(),
            leaf_start: Vec::with_capacity(trees.len()),
        };
        for (tree, &depth) in trees.iter().zip(&forest.depths) {
            let mut tables = TreeTables {
                rank: Table([PAD_RANK; 256]),
                select: Table([0; 256]),
            };
            let start = forest.leaves.len();
            forest.leaves.resize(start + (1 << depth), 0.0);
            // (node, heap index, level)
            let mut todo = vec![(0usize, 1usize, 0u32)];
            while let Some((i, heap, level)) = todo.pop() {
                match tree.split(i) {
                    Some((feature, threshold, left)) => {
                        let f = feature as usize;
                        tables.rank.0[heap] = forest.cuts.rank(f, threshold);
                        tables.select.0[heap] = (f * LANES) as u16;
                        todo.push((left as usize, 2 * heap, level + 1));
                        todo.push((left as usize + 1, 2 * heap + 1, level + 1));
                    }
                    None => {
                        // padding below the leaf always goes left: its leftmost descendant
                        let last = heap << (depth - level);
                        forest.leaves[start + last - (1 << depth)] = tree.leaf_value(i);
                    }
                }
            }
            forest.tables.push(tables);
            forest.leaf_start.push(start);
        }
        Ok(forest)
    }

    /// Bytes held by the layout (for the memory budget).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.cuts.heap_bytes()
            + self.tables.capacity() * size_of::<TreeTables>()
            + self.depths.capacity() * size_of::<u32>()
            + self.leaves.capacity() * size_of::<f64>()
            + self.leaf_start.capacity() * size_of::<usize>()
    }

    /// Adds each row's summed path length over all trees to `out` (one entry per row of `rows`,
    /// which is row-major with `n_features` columns). `scratch` is reused between calls.
    pub(crate) fn sum_path_lengths(&self, rows: &[f64], out: &mut [f64], scratch: &mut Scratch) {
        let d = self.n_features;
        assert_eq!(
            rows.len(),
            out.len() * d,
            "rows must hold n_features values per output"
        );
        scratch.prepare(d);
        for (block_rows, block_out) in rows.chunks(BLOCK * d).zip(out.chunks_mut(BLOCK)) {
            let n = block_out.len();
            let lanes = n.div_ceil(LANES) * LANES;
            self.code_block(block_rows, lanes, scratch);
            scratch.acc[..lanes].fill(0.0);
            let pairs = d.div_ceil(2);
            // SAFETY: `new` only builds a `RankedForest` when `cpu_supported()` found AVX-512 F
            // and BW.
            unsafe {
                match pairs {
                    1 => self.walk_block::<1>(lanes, scratch),
                    2 => self.walk_block::<2>(lanes, scratch),
                    3 => self.walk_block::<3>(lanes, scratch),
                    4 => self.walk_block::<4>(lanes, scratch),
                    5 => self.walk_block::<5>(lanes, scratch),
                    6 => self.walk_block::<6>(lanes, scratch),
                    7 => self.walk_block::<7>(lanes, scratch),
                    8 => self.walk_block::<8>(lanes, scratch),
                    _ => unreachable!("`new` declines more than {MAX_FEATURES} features"),
                }
            }
            for (o, a) in block_out.iter_mut().zip(&scratch.acc) {
                *o += a;
            }
        }
    }

    /// Codes of the block's rows, feature-major (`codes[f * BLOCK + r]`); lanes past the last
    /// row get code 0 and are walked but never reported.
    fn code_block(&self, rows: &[f64], lanes: usize, scratch: &mut Scratch) {
        self.cuts.code_block(rows, lanes, &mut scratch.codes);
    }
}

/// Whether this CPU has AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
pub(crate) fn cpu_supported() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

/// Whether this CPU has AVX-512 F and BW: never, off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn cpu_supported() -> bool {
    false
}

/// Per-thread buffers for [`RankedForest::sum_path_lengths`]; allocated once, reused per block.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The block's codes, feature-major; room for an even number of features.
    codes: Vec<u16>,
    /// Per-lane sums for the block.
    acc: Vec<f64>,
}

impl Scratch {
    fn prepare(&mut self, n_features: usize) {
        let slots = n_features.div_ceil(2) * 2 * BLOCK;
        if self.codes.len() < slots {
            self.codes.resize(slots, 0);
        }
        if self.acc.len() < BLOCK {
            self.acc.resize(BLOCK, 0.0);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{BLOCK, LANES, RankedForest, Scratch, Table, TreeTables};

    /// One tree, as the walk sees it.
    struct Tree<'a> {
        tables: &'a TreeTables,
        depth: u32,
        /// Path lengths by leaf index at the tree's last level.
        leaves: &'a [f64],
    }

    /// Walks in flight at once: four independent chains of lookups keep the vector units busy
    /// (measured: 2 → 4 is +20 %, 8 is slower than 4 as registers run out).
    const SLOTS: usize = 4;

    impl RankedForest {
        /// Tree `t` for the walk.
        fn tree(&self, t: usize) -> Tree<'_> {
            let depth = self.depths[t];
            Tree {
                tables: &self.tables[t],
                depth,
                leaves: &self.leaves[self.leaf_start[t]..][..1 << depth],
            }
        }

        /// Walks the first `lanes` rows of the coded block through every tree and adds their
        /// path lengths to `scratch.acc`. `PAIRS` is `ceil(n_features / 2)`.
        ///
        /// Whole sets of four groups go down one tree together; what is left (a small request,
        /// or the tail of a large one) goes down four trees together, one group at a time. Each
        /// row still adds its trees' path lengths in tree order.
        ///
        /// `scratch` must be prepared for this forest and `lanes` a multiple of [`LANES`] no
        /// larger than [`BLOCK`] (slicing checks the bound; a partial group is not walked).
        ///
        /// # Safety
        /// The CPU must support AVX-512 F and BW.
        #[target_feature(enable = "avx512f,avx512bw")]
        pub(super) unsafe fn walk_block<const PAIRS: usize>(
            &self,
            lanes: usize,
            scratch: &mut Scratch,
        ) {
            debug_assert!(lanes.is_multiple_of(LANES) && lanes <= BLOCK);
            let wide = lanes / (SLOTS * LANES) * (SLOTS * LANES);
            if wide > 0 {
                for t in 0..self.tables.len() {
                    let tree = self.tree(t);
                    for group in (0..wide).step_by(SLOTS * LANES) {
                        let groups = std::array::from_fn(|s| group + s * LANES);
                        let at = walk_groups::<PAIRS, SLOTS>(&tree, groups, &scratch.codes);
                        for (s, at) in at.into_iter().enumerate() {
                            add_leaves(at, tree.leaves, &mut scratch.acc, group + s * LANES);
                        }
                    }
                }
            }
            for group in (wide..lanes).step_by(LANES) {
                let mut t = 0;
                while t + SLOTS <= self.tables.len() {
                    let trees: [Tree; SLOTS] = std::array::from_fn(|s| self.tree(t + s));
                    let at = walk_trees::<PAIRS, SLOTS>(&trees, group, &scratch.codes);
                    for (tree, at) in trees.iter().zip(at) {
                        add_leaves(at, tree.leaves, &mut scratch.acc, group);
                    }
                    t += SLOTS;
                }
                for t in t..self.tables.len() {
                    let tree = self.tree(t);
                    let [at] = walk_groups::<PAIRS, 1>(&tree, [group], &scratch.codes);
                    add_leaves(at, tree.leaves, &mut scratch.acc, group);
                }
            }
        }
    }

    /// Codes of the 32 rows from `lane0`, one register per feature (2 * PAIRS of them).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn load_codes<const PAIRS: usize>(codes: &[u16], lane0: usize) -> [__m512i; 16] {
        std::array::from_fn(|f| {
            if f < 2 * PAIRS {
                let row = &codes[f * BLOCK + lane0..][..LANES];
                // SAFETY: `row` is 32 `u16`s, one register.
                unsafe { _mm512_loadu_si512(row.as_ptr().cast()) }
            } else {
                _mm512_setzero_si512()
            }
        })
    }

    /// One level down for one walk: looks the node at heap index `at` up in the tables of the
    /// level's `BAND` (see [`lookup`]), compares the lane's code with the node's rank and goes
    /// left (2h) or right (2h + 1).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn step<const PAIRS: usize, const BAND: u8>(
        at: &mut __m512i,
        codes: &[__m512i; 16],
        tables: &TreeTables,
    ) {
        let rank = lookup::<BAND>(*at, &tables.rank);
        let value = pick_codes::<PAIRS>(codes, lookup::<BAND>(*at, &tables.select));
        let right = _mm512_cmpgt_epu16_mask(value, rank);
        let twice = _mm512_add_epi16(*at, *at);
        *at = _mm512_mask_add_epi16(twice, right, twice, _mm512_set1_epi16(1));
    }

    /// Levels 0-5 (heap indices 1..64): one two-register table.
    const TOP: u8 = 0;
    /// Level 6 (indices 64..128): their low six bits index the next two registers.
    const LEVEL6: u8 = 6;
    /// Level 7 (indices 128..256): two two-register tables, picked by bit 6.
    const LEVEL7: u8 = 7;

    /// The table entry for the node at each lane's heap index `at`, for a level in `BAND`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn lookup<const BAND: u8>(at: __m512i, t: &Table) -> __m512i {
        // register `k` of the table, entries 32k..32k + 32
        let part = |k: usize| {
            let part = &t.0[32 * k..][..32];
            // SAFETY: 32 `u16`s are one register, and `Table` is 64-byte aligned, so each of
            // its parts is too.
            unsafe { _mm512_load_si512(part.as_ptr().cast()) }
        };
        match BAND {
            TOP => _mm512_permutex2var_epi16(part(0), at, part(1)),
            LEVEL6 => _mm512_permutex2var_epi16(part(2), at, part(3)),
            _ => _mm512_mask_blend_epi16(
                _mm512_test_epi16_mask(at, _mm512_set1_epi16(64)),
                _mm512_permutex2var_epi16(part(4), at, part(5)),
                _mm512_permutex2var_epi16(part(6), at, part(7)),
            ),
        }
    }

    /// Lane numbers 0..32, added to `feature * 32` to index a pair of code registers.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn iota() -> __m512i {
        _mm512_set_epi16(
            31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10,
            9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
        )
    }

    /// Walks `G` groups of 32 rows, from lanes `groups[g]`, down one tree; returns each lane's
    /// heap index at the tree's last level.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn walk_groups<const PAIRS: usize, const G: usize>(
        tree: &Tree,
        groups: [usize; G],
        codes: &[u16],
    ) -> [__m512i; G] {
        let codes: [[__m512i; 16]; G] = groups.map(|lane0| load_codes::<PAIRS>(codes, lane0));
        let mut at = [_mm512_set1_epi16(1); G];
        for _ in 0..tree.depth.min(6) {
            for (at, codes) in at.iter_mut().zip(&codes) {
                step::<PAIRS, TOP>(at, codes, tree.tables);
            }
        }
        if tree.depth > 6 {
            for (at, codes) in at.iter_mut().zip(&codes) {
                step::<PAIRS, LEVEL6>(at, codes, tree.tables);
            }
        }
        if tree.depth > 7 {
            for (at, codes) in at.iter_mut().zip(&codes) {
                step::<PAIRS, LEVEL7>(at, codes, tree.tables);
            }
        }
        at
    }

    /// Walks one group of 32 rows, from lane `lane0`, down `G` trees at once; returns each
    /// lane's heap index at each tree's last level.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn walk_trees<const PAIRS: usize, const G: usize>(
        trees: &[Tree; G],
        lane0: usize,
        codes: &[u16],
    ) -> [__m512i; G] {
        let codes = load_codes::<PAIRS>(codes, lane0);
        let mut at = [_mm512_set1_epi16(1); G];
        let deepest = trees.iter().map(|t| t.depth).max().unwrap_or(0);
        // trees shallower than the deepest stop at their own last level
        for level in 0..deepest.min(6) {
            for (at, tree) in at.iter_mut().zip(trees).filter(|(_, t)| level < t.depth) {
                step::<PAIRS, TOP>(at, &codes, tree.tables);
            }
        }
        if deepest > 6 {
            for (at, tree) in at.iter_mut().zip(trees).filter(|(_, t)| 6 < t.depth) {
                step::<PAIRS, LEVEL6>(at, &codes, tree.tables);
            }
        }
        if deepest > 7 {
            for (at, tree) in at.iter_mut().zip(trees).filter(|(_, t)| 7 < t.depth) {
                step::<PAIRS, LEVEL7>(at, &codes, tree.tables);
            }
        }
        at
    }

    /// Adds the path length of each lane's leaf to the sums of the 32 rows from `lane0`; `at`
    /// holds heap indices at the last level of the tree whose leaves are `leaves`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn add_leaves(at: __m512i, leaves: &[f64], acc: &mut [f64], lane0: usize) {
        let acc = &mut acc[lane0..][..LANES];
        // heap indices at the last level run from 2^depth = leaves.len() to 2^(depth+1) - 1, so
        // the low `depth` bits are the leaf index; masking (rather than subtracting) keeps any
        // index in bounds whatever `at` holds
        // (an empty `leaves` would wrap the mask below to every index)
        assert!(
            leaves.len().is_power_of_two(),
            "a tree has 2^depth leaf slots"
        );
        let leaf = _mm512_and_si512(at, _mm512_set1_epi16((leaves.len() - 1) as i16));
        let halves = [
            _mm512_cvtepu16_epi32(_mm512_castsi512_si256(leaf)),
            _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64::<1>(leaf)),
        ];
        let quarters = halves.into_iter().flat_map(|half| {
            [
                _mm512_castsi512_si256(half),
                _mm512_extracti64x4_epi64::<1>(half),
            ]
        });
        for (index, acc) in quarters.zip(acc.chunks_exact_mut(8)) {
            // SAFETY: every index was masked below `leaves.len()`, a power of two (so at least
            // 1); `acc` is 8 sums.
            unsafe {
                let path = _mm512_i32gather_pd::<8>(index, leaves.as_ptr());
                let sums = acc.as_mut_ptr();
                _mm512_storeu_pd(sums, _mm512_add_pd(_mm512_loadu_pd(sums), path));
            }
        }
    }

    /// Each lane's code for its node's feature: `select` is `feature * 32` per lane.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn pick_codes<const PAIRS: usize>(codes: &[__m512i; 16], select: __m512i) -> __m512i {
        let index = _mm512_or_si512(select, iota());
        let mut picked: [__m512i; 8] = std::array::from_fn(|k| {
            if k < PAIRS {
                _mm512_permutex2var_epi16(codes[2 * k], index, codes[2 * k + 1])
            } else {
                _mm512_setzero_si512()
            }
        });
        let mut n = PAIRS;
        let mut bit = 64;
        while n > 1 {
            let high = _mm512_test_epi16_mask(select, _mm512_set1_epi16(bit));
            for j in 0..n / 2 {
                picked[j] = _mm512_mask_blend_epi16(high, picked[2 * j], picked[2 * j + 1]);
            }
            if !n.is_multiple_of(2) {
                picked[n / 2] = picked[n - 1];
            }
            n = n.div_ceil(2);
            bit <<= 1;
        }
        picked[0]
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl RankedForest {
    unsafe fn walk_block<const PAIRS: usize>(&self, _lanes: usize, _scratch: &mut Scratch) {
        unreachable!("RankedForest::new declines on this architecture")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::{IsolationForest, IsolationForestParams, MaxSamples};
    use linfa::ParamGuard;
    use ndarray::Array2;
    use proptest::prelude::*;

    /// Scores `probe` (row-major, `n_cols` columns) with the ranked layout of `trees`, using
    /// `scratch`, and checks every row's sum against the plain walk, bit for bit.
    fn assert_same_bits_as_plain_walk(
        trees: &[IsolationTree],
        probe: &[f64],
        n_cols: usize,
        scratch: &mut Scratch,
    ) {
        let Some(ranked) = ranked_or_skip(trees, n_cols) else {
            return;
        };
        let mut out = vec![0.0; probe.len() / n_cols];
        ranked.sum_path_lengths(probe, &mut out, scratch);
        for (i, (row, got)) in probe.chunks_exact(n_cols).zip(&out).enumerate() {
            let plain = IsolationTree::plain_path_sum(trees, row);
            assert_eq!(
                got.to_bits(),
                plain.to_bits(),
                "{n_cols} features, row {i}: {row:?}"
            );
        }
    }

    /// The ranked layout of `trees`, whose shape fits it; or, where this CPU lacks AVX-512,
    /// `None` — after checking that the layout declines for exactly that reason, so every test
    /// asserts something on every machine — with the skip printed.
    fn ranked_or_skip(trees: &[IsolationTree], n_cols: usize) -> Option<RankedForest> {
        match RankedForest::new(trees, n_cols) {
            Ok(ranked) => {
                assert!(cpu_supported());
                Some(ranked)
            }
            Err(why) => {
                assert!(!cpu_supported(), "the shape fits the layout, yet: {why}");
                assert_eq!(why, "this CPU lacks AVX-512 F or BW (x86-64 only)");
                eprintln!("avx512 layout skipped: {why}");
                None
            }
        }
    }

    /// [`assert_same_bits_as_plain_walk`] for a fitted forest and a fresh scratch.
    fn assert_forest_scores_like_plain_walk(forest: &IsolationForest, probe: &Array2<f64>) {
        let flat = probe.as_slice().unwrap();
        assert_same_bits_as_plain_walk(
            forest.trees(),
            flat,
            probe.ncols(),
            &mut Scratch::default(),
        );
    }

    fn fit(x: &Array2<f64>, max_samples: usize, seed: u64) -> IsolationForest {
        let p = IsolationForestParams::new()
            .max_samples(MaxSamples::Count(max_samples))
            .seed(seed)
            .check()
            .unwrap();
        IsolationForest::fit_array(&p, x.view()).unwrap()
    }

    /// The ranked walk must give the same bits as walking each row down each tree: on the
    /// training rows, on rows outside their range, and on rows sitting exactly on thresholds
    /// (where `>` and `>=` would part ways).
    #[test]
    fn ranked_scoring_equals_the_plain_walk() {
        for (n_rows, n_cols, max_samples) in [
            (2, 1, 2),
            (7, 3, 7),
            (300, 5, 256),
            (3000, 9, 256),
            (500, 16, 256),
            (700, 2, 200),
        ] {
            let x = Array2::from_shape_fn((n_rows, n_cols), |(i, j)| {
                (((i * 7919 + j * 613) % 1009) as f64).sin() * 100.0
            });
            let forest = fit(&x, max_samples, 9);
            let mut thresholds = vec![Vec::new(); n_cols];
            for tree in forest.trees() {
                for i in 0..tree.n_nodes() {
                    if let Some((f, t, _)) = tree.split(i) {
                        thresholds[f as usize].push(t);
                    }
                }
            }
            let probe = Array2::from_shape_fn((n_rows + 600, n_cols), |(i, j)| {
                let on_threshold = &thresholds[j];
                if i < n_rows {
                    x[(i, j)]
                } else if i % 2 == 0 && !on_threshold.is_empty() {
                    on_threshold[(i * 13 + j) % on_threshold.len()]
                } else {
                    ((i * 31 + j * 17) % 257) as f64 - 128.0
                }
            });
            assert_forest_scores_like_plain_walk(&forest, &probe);
        }
    }

    /// -0.0 and 0.0 are one threshold for `>`, though they sort apart by `total_cmp`; rows at
    /// either, and just around them, must go where the plain walk sends them. Fitting on real
    /// data hardly ever draws a zero threshold, so the trees are written by hand.
    #[test]
    fn signed_zero_thresholds_rank_as_one() {
        let tree = |json: &str| -> IsolationTree { serde_json::from_str(json).unwrap() };
        let leaf = u32::MAX;
        let trees = [
            // x0 > -0.0 ?
            tree(&format!(
                r#"{{"feature":[0,{leaf},{leaf}],"threshold":[-0.0,0,0],"left":[1,0,0],"size":[4,2,2]}}"#
            )),
            // x0 > 0.0 ? then, on the left, x0 > -0.0 ?
            tree(&format!(
                r#"{{"feature":[0,0,{leaf},{leaf},{leaf}],"threshold":[0.0,-0.0,0,0,0],"left":[1,3,0,0,0],"size":[6,3,3,1,2]}}"#
            )),
        ];
        let probe = [-1.0, -5e-324, -0.0, 0.0, 5e-324, f64::MIN_POSITIVE, 1.0];
        assert_same_bits_as_plain_walk(&trees, &probe, 1, &mut Scratch::default());
    }

    /// The per-thread scratch is shared by every forest a thread scores: codes left by a wider
    /// forest must not leak into a narrower one's walk.
    #[test]
    fn scratch_reused_across_forests_of_different_widths() {
        let mut scratch = Scratch::default();
        for n_cols in [16, 3, 1, 9, 2] {
            let x = Array2::from_shape_fn((300, n_cols), |(i, j)| {
                ((i * 7 + j * 13) % 97) as f64 * if j % 2 == 0 { 1.0 } else { -2.5 }
            });
            let forest = fit(&x, 256, n_cols as u64);
            let flat = x.as_slice().unwrap();
            assert_same_bits_as_plain_walk(forest.trees(), flat, n_cols, &mut scratch);
        }
    }

    #[test]
    fn deep_trees_or_many_features_are_declined() {
        let wide = Array2::from_shape_fn((50, MAX_FEATURES + 1), |(i, j)| (i * j) as f64);
        let why = RankedForest::new(fit(&wide, 50, 1).trees(), MAX_FEATURES + 1).unwrap_err();
        assert!(why.contains("1 to 16 features"), "{why}");
        // 700 samples grow trees 10 levels deep
        let tall = Array2::from_shape_fn((700, 2), |(i, j)| ((i * 7 + j) % 701) as f64);
        let forest = fit(&tall, 700, 1);
        assert!(forest.trees().iter().any(|t| t.depth() > MAX_DEPTH));
        let why = RankedForest::new(forest.trees(), 2).unwrap_err();
        assert!(why.contains("at most 8 levels deep"), "{why}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Any data, any block size, any number of features the layout takes: same bits.
        #[test]
        fn any_forest_scores_like_the_plain_walk(
            n_cols in 1usize..=MAX_FEATURES,
            n_rows in 2usize..400,
            max_samples in 2usize..=256,
            seed in 0u64..1000,
            values in proptest::collection::vec(-1e3f64..1e3, 1..64),
        ) {
            let x = Array2::from_shape_fn((n_rows, n_cols), |(i, j)| {
                values[(i * n_cols + j) % values.len()] * (1.0 + (i % 5) as f64)
            });
            let forest = fit(&x, max_samples.min(n_rows), seed);
            assert_forest_scores_like_plain_walk(&forest, &x);
        }
    }
}
