//! One seeded random number generator type for the whole kit.
//!
//! Every random choice in the kit (data generation, row sampling, split selection) draws from a
//! [`KitRng`] created here, so a seed fully determines a result. Parallel work never shares a
//! generator: each unit of work (a tree, a feature) derives its own stream from the user's seed
//! and its index with [`stream_rng`], which makes results independent of the thread count.

use rand::SeedableRng;

/// The generator behind every random draw in the kit: PCG-64 (MCG variant).
///
/// Chosen for speed and because its output for a given seed is fixed by its algorithm (unlike
/// `rand::rngs::StdRng`, whose algorithm may change between `rand` releases).
pub type KitRng = rand_pcg::Pcg64Mcg;

/// A generator seeded from `seed` alone.
pub fn seeded(seed: u64) -> KitRng {
    KitRng::seed_from_u64(seed)
}

/// An independent generator for unit of work number `stream` under the user's `seed`.
///
/// The two numbers are mixed with SplitMix64 so that neighbouring seeds and streams give
/// unrelated sequences.
pub fn stream_rng(seed: u64, stream: u64) -> KitRng {
    let mixed = splitmix64(splitmix64(seed) ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    KitRng::seed_from_u64(mixed)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream_rng(7, 3), |r, _: u64| Some(r.random::<u64>()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream_rng(7, 3), |r, _: u64| Some(r.random::<u64>()))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn streams_differ() {
        let x: u64 = stream_rng(7, 3).random();
        let y: u64 = stream_rng(7, 4).random();
        let z: u64 = stream_rng(8, 3).random();
        assert_ne!(x, y);
        assert_ne!(x, z);
    }
}
