//! Exponential backoff with jitter, and the client's seedable RNG.
//!
//! All randomness of the client comes from one [`Rng`] (SplitMix64) seeded
//! from the configuration, so a simulation with a fixed seed replays exactly.

use std::time::Duration;

/// SplitMix64: tiny, fast, statistically fine for jitter and shuffles.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// A seed from the OS (std's per-process random hasher keys), for when
    /// none is configured.
    pub fn os_seed() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5EED);
        h.finish()
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Exponential backoff as the Java client computes it: `base * 2^attempts`,
/// capped at `max`, times a random factor in `[1 - jitter, 1 + jitter]`
/// (never above `max`).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    jitter: f64,
    attempts: u32,
}

impl Backoff {
    /// Java's `reconnect.backoff` / `retry.backoff` jitter is 20%.
    pub const DEFAULT_JITTER: f64 = 0.2;

    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max: max.max(base), jitter: Self::DEFAULT_JITTER, attempts: 0 }
    }

    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// Failures since the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before the next attempt; counts one failure.
    pub fn next_delay(&mut self, rng: &mut Rng) -> Duration {
        let exp = 2f64.powi(self.attempts.min(62) as i32);
        self.attempts = self.attempts.saturating_add(1);
        let raw = (self.base.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let factor = 1.0 - self.jitter + 2.0 * self.jitter * rng.next_f64();
        Duration::from_secs_f64((raw * factor).min(self.max.as_secs_f64()).max(0.0))
    }

    /// After a success: start again from `base`.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(seed: u64) -> Vec<Duration> {
        let mut rng = Rng::new(seed);
        let mut b = Backoff::new(Duration::from_millis(50), Duration::from_millis(1000));
        (0..10).map(|_| b.next_delay(&mut rng)).collect()
    }

    #[test]
    fn same_seed_same_delays() {
        assert_eq!(delays(42), delays(42));
        assert_ne!(delays(42), delays(43));
    }

    #[test]
    fn grows_then_caps_within_jitter() {
        let d = delays(7);
        for (i, delay) in d.iter().enumerate() {
            let raw = (50.0 * 2f64.powi(i as i32)).min(1000.0);
            let ms = delay.as_secs_f64() * 1000.0;
            assert!(ms >= raw * 0.8 - 1e-6 && ms <= (raw * 1.2).min(1000.0) + 1e-6, "attempt {i}: {ms} vs {raw}");
        }
        assert!(d.iter().skip(5).all(|x| *x <= Duration::from_millis(1000)));
        assert!(d[4] > d[0] * 8);
    }

    #[test]
    fn reset_starts_over() {
        let mut rng = Rng::new(1);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10)).with_jitter(0.0);
        assert_eq!(b.next_delay(&mut rng), Duration::from_millis(100));
        assert_eq!(b.next_delay(&mut rng), Duration::from_millis(200));
        b.reset();
        assert_eq!(b.next_delay(&mut rng), Duration::from_millis(100));
    }

    #[test]
    fn shuffle_is_deterministic() {
        let mut a = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut b = a;
        Rng::new(9).shuffle(&mut a);
        Rng::new(9).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a;
        sorted.sort_unstable();
        assert_eq!(sorted, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(Rng::new(3).below(10) < 10);
    }
}
