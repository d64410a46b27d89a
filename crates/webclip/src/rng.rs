//! The crate's deterministic random numbers: every random choice webclip makes (random weights,
//! the shapes world, data order) comes from here, so a seed gives the same model, the same
//! images and the same batches on every platform, natively and in wasm.
//!
//! Two generators, kept apart on purpose:
//! - [`SplitMix64`] for everything that is *data*: the shapes world and the per-epoch order of
//!   training data ([`permutation`]).
//! - [`WeightInit`] (xorshift64* + Box–Muller) for random *weights*. It is a different, older
//!   generator only because the bundled shapes model, the Learn view's recipe and the README's
//!   measured accuracies were all made from it: replacing it would change every random model
//!   and invalidate those numbers for nothing.

/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit state advanced by the golden-ratio
/// increment, then mixed. Tiny, fast and of good quality for simulation.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

/// The golden-ratio increment of SplitMix64, also used to spread seeds apart.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// A generator whose first output is the mix of `state + GOLDEN`.
    pub fn new(state: u64) -> Self {
        SplitMix64(state)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 bits (an f32's mantissa).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }

    /// Uniform in `0..n` (`n` ≥ 1; the modulo bias is below 2⁻⁵⁰ for the small `n` used here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.f32() < p
    }

    /// Standard normal (Box–Muller, the cosine half).
    pub fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.f32().max(1e-7), self.f32());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

/// A seeded permutation of `0..n` (SplitMix64 + Fisher–Yates): the epoch order of training
/// data, and the class order of shapes-world batches. Deterministic across platforms.
pub fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed ^ epoch.wrapping_mul(GOLDEN) ^ 0xDA7A);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// Normal values for random weights: xorshift64* for uniforms, Box–Muller (both halves) for
/// normals. See the module docs for why this is not [`SplitMix64`].
#[derive(Debug, Clone)]
pub struct WeightInit {
    state: u64,
}

impl WeightInit {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        WeightInit { state: seed.wrapping_mul(GOLDEN) | 1 }
    }

    /// Uniform in (0, 1), never 0 (so `ln` is finite).
    fn uniform(&mut self) -> f32 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    /// `n` values from Normal(0, std).
    pub fn normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            let (u1, u2) = (self.uniform(), self.uniform());
            let r = (-2.0 * u1.ln()).sqrt() * std;
            let t = std::f32::consts::TAU * u2;
            v.push(r * t.cos());
            if v.len() < n {
                v.push(r * t.sin());
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_deterministic_shuffle() {
        let p = permutation(20, 3, 1);
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        assert_eq!(p, permutation(20, 3, 1));
        assert_ne!(p, permutation(20, 3, 2));
    }

    #[test]
    fn weight_init_is_deterministic_and_normal() {
        let x = WeightInit::new(3).normal(10_000, 0.5);
        assert_eq!(x, WeightInit::new(3).normal(10_000, 0.5));
        let mean = x.iter().sum::<f32>() / x.len() as f32;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / x.len() as f32;
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.02, "{var}");
    }
}
