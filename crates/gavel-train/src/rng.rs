//! A small seeded random number generator (xoshiro256++ seeded through SplitMix64).
//!
//! Training draws every random number from here (data order, dropout masks, head
//! initialisation), each stream derived from the seed and the position in training (epoch,
//! batch), so a run resumed from a checkpoint draws exactly what the uninterrupted run drew.

/// xoshiro256++ (Blackman and Vigna), the generator behind many languages' default RNG.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut st = seed;
        let s = [
            splitmix(&mut st),
            splitmix(&mut st),
            splitmix(&mut st),
            splitmix(&mut st),
        ];
        Rng { s }
    }

    /// An independent stream for `seed` and a path of integers (e.g. purpose, epoch, batch).
    pub fn derive(seed: u64, path: &[u64]) -> Rng {
        let mut st = seed;
        let mut h = splitmix(&mut st);
        for &p in path {
            let mut x = h ^ p.wrapping_mul(0xD6E8_FEB8_6659_FD93);
            h = splitmix(&mut x);
        }
        Rng::new(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 24 random bits (all an f32 holds).
    /// Dropout decisions: `true` (drop) with probability `p`, one per 24-bit uniform, two
    /// uniforms from each 64-bit draw (the top 24 bits, then the next 24). Every dropout mask
    /// in gavel is drawn through this, so the fused kernels, the spelled-out reference and the
    /// backward passes agree. A decision is `u < p` for `u = k / 2^24`, compared as integers.
    pub fn drops(self, p: f32) -> Drops {
        Drops {
            rng: self,
            threshold: (p as f64 * (1u64 << 24) as f64).ceil() as u64,
            spare: None,
        }
    }

    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n > 0), without modulo bias (Lemire's method).
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Shuffles in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// The stream of [`Rng::drops`].
#[derive(Debug, Clone)]
pub struct Drops {
    rng: Rng,
    threshold: u64,
    spare: Option<bool>,
}

impl Iterator for Drops {
    type Item = bool;

    #[inline]
    fn next(&mut self) -> Option<bool> {
        if let Some(d) = self.spare.take() {
            return Some(d);
        }
        let v = self.rng.next_u64();
        self.spare = Some(((v >> 16) & 0xFF_FFFF) < self.threshold);
        Some((v >> 40) < self.threshold)
    }
}

#[cfg(test)]
mod tests {
    /// Dropout decisions are `u < p` for two 24-bit uniforms per draw, in order, and drop about
    /// a fraction p.
    #[test]
    fn drops_are_two_uniforms_per_draw_compared_with_p() {
        for p in [0.0f32, 0.1, 0.3, 0.5, 0.9] {
            let mut rng = Rng::derive(3, &[1]);
            let ours: Vec<bool> = Rng::derive(3, &[1]).drops(p).take(20_001).collect();
            let mut want = Vec::new();
            while want.len() < ours.len() {
                let v = rng.next_u64();
                for k in [(v >> 40), (v >> 16) & 0xFF_FFFF] {
                    want.push((k as f32 / (1u64 << 24) as f32) < p);
                }
            }
            want.truncate(ours.len());
            assert_eq!(ours, want, "p {p}");
            let rate = ours.iter().filter(|&&d| d).count() as f64 / ours.len() as f64;
            assert!((rate - p as f64).abs() < 0.015, "p {p}: {rate}");
        }
    }

    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = Rng::derive(1, &[2, 3]);
        let mut y = Rng::derive(1, &[3, 2]);
        assert_ne!(x.next_u64(), y.next_u64());
    }

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut r = Rng::new(42);
        let n = 20000;
        let u: f64 = (0..n).map(|_| r.next_f32() as f64).sum::<f64>() / n as f64;
        assert!((u - 0.5).abs() < 0.01, "{u}");
        let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let m = z.iter().sum::<f64>() / n as f64;
        let v = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.03 && (v - 1.0).abs() < 0.03, "{m} {v}");
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            counts[r.below(3)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 900), "{counts:?}");
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<usize> = (0..100).collect();
        Rng::new(3).shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
