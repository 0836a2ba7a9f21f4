//! Stable 64-bit hashing and seeded draws.
//!
//! Every random choice of a build (split, template, swap side, reference drop) is a hash of the
//! seed and the example's own keys, never a draw from a shared generator: the result depends on
//! the data and the seed alone, not on the order in which threads finish or on batch sizes. The
//! hash is written out here (not `std`'s `DefaultHasher`, whose output may change between Rust
//! releases) so that a dataset rebuilt by a later gavel is the same dataset.

/// An incremental 64-bit hash: 8-byte words mixed by multiply-rotate, finished with the
/// MurmurHash3 64-bit finaliser. Fast and well spread; not meant to resist adversaries.
#[derive(Debug, Clone)]
pub struct StableHasher {
    state: u64,
    len: u64,
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

impl StableHasher {
    /// A hasher started from a seed.
    pub fn new(seed: u64) -> StableHasher {
        StableHasher {
            state: seed ^ K2,
            len: 0,
        }
    }

    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word.wrapping_mul(K1))
            .rotate_left(29)
            .wrapping_mul(K2);
    }

    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
        self.len = self.len.wrapping_add(bytes.len() as u64);
    }

    /// Adds a string as one field: its length first, so that `("ab", "c")` and `("a", "bc")`
    /// hash differently.
    pub fn field(&mut self, s: &str) -> &mut StableHasher {
        self.mix(s.len() as u64 ^ 0xA5A5_A5A5_0000_0000);
        self.write(s.as_bytes());
        self
    }

    /// Adds a number.
    pub fn number(&mut self, x: u64) -> &mut StableHasher {
        self.mix(x);
        self
    }

    /// The hash.
    pub fn finish(&self) -> u64 {
        fmix64(self.state ^ self.len)
    }
}

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^= h >> 33;
    h
}

/// The hash of a tag and some fields under a seed: the building block of every seeded choice.
pub fn keyed(seed: u64, tag: &str, fields: &[&str]) -> u64 {
    let mut h = StableHasher::new(seed);
    h.field(tag);
    for f in fields {
        h.field(f);
    }
    h.finish()
}

/// A hash turned into a number uniform on [0, 1) (its top 53 bits).
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A small seeded generator (SplitMix64) for the few sequential draws a build makes (the
/// selection sampling of label balancing, which walks each split's file in order).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(K1);
        fmix64(self.0)
    }

    /// A number uniform on [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        unit(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values_do_not_change() {
        // Pinned: a change here changes every dataset built with the same seed.
        assert_eq!(keyed(0, "split", &["hello"]), keyed(0, "split", &["hello"]));
        let pinned = keyed(42, "split", &["What is 2+2?"]);
        assert_eq!(pinned, 0x698f_2afc_37ba_6e32, "{pinned:#x}");
    }

    #[test]
    fn fields_are_delimited() {
        assert_ne!(keyed(0, "t", &["ab", "c"]), keyed(0, "t", &["a", "bc"]));
        assert_ne!(keyed(0, "t", &["a"]), keyed(1, "t", &["a"]));
        assert_ne!(keyed(0, "t", &["a"]), keyed(0, "u", &["a"]));
    }

    #[test]
    fn unit_is_roughly_uniform() {
        let n = 100_000;
        let below: usize = (0..n)
            .filter(|i| unit(keyed(7, "u", &[&i.to_string()])) < 0.3)
            .count();
        let share = below as f64 / n as f64;
        assert!((share - 0.3).abs() < 0.01, "{share}");
        let mut r = SplitMix64::new(1);
        let mean: f64 = (0..n).map(|_| r.next_unit()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01);
    }
}
