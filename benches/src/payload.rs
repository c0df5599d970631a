//! Deterministic JSON-like record payloads (sensor readings).

use bytes::Bytes;

/// SplitMix64: tiny, seedable, good enough to vary payload text.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const SITES: [&str; 6] = ["plant-north", "plant-south", "warehouse-3", "lab-a", "dock-7", "roof"];
const STATUS: [&str; 4] = ["ok", "ok", "ok", "degraded"];
const UNITS: [&str; 3] = ["celsius", "kelvin", "fahrenheit"];

/// One reading of about 100 bytes of JSON.
fn small_reading(rng: &mut SplitMix64, seq: u64) -> String {
    format!(
        r#"{{"id":"s-{:05}","site":"{}","ts":{},"t":{}.{:02},"h":{}.{},"st":"{}","n":{}}}"#,
        rng.below(20_000),
        SITES[rng.below(SITES.len() as u64) as usize],
        1_732_406_400_000u64 + seq * 37 + rng.below(30),
        rng.below(45),
        rng.below(100),
        20 + rng.below(60),
        rng.below(10),
        STATUS[rng.below(STATUS.len() as u64) as usize],
        seq
    )
}

/// A reading with a short history window, about 1 KiB of JSON.
fn large_reading(rng: &mut SplitMix64, seq: u64, target_bytes: usize) -> String {
    let mut s = format!(
        r#"{{"id":"s-{:05}","site":"{}","unit":"{}","firmware":"2.{}.{}","ts":{},"window":["#,
        rng.below(20_000),
        SITES[rng.below(SITES.len() as u64) as usize],
        UNITS[rng.below(UNITS.len() as u64) as usize],
        rng.below(9),
        rng.below(40),
        1_732_406_400_000u64 + seq * 1000,
    );
    let mut first = true;
    while s.len() + 40 < target_bytes {
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(&format!(r#"{{"dt":{},"v":{}.{:03},"q":{}}}"#, rng.below(1000), rng.below(120), rng.below(1000), rng.below(4)));
    }
    s.push_str(&format!(r#"],"seq":{seq}}}"#));
    s
}

/// `count` payloads of roughly `size_bytes` each (100 or 1024 in the benches).
pub fn json_payloads(count: usize, size_bytes: usize, seed: u64) -> Vec<Bytes> {
    let mut rng = SplitMix64::new(seed);
    (0..count as u64)
        .map(|seq| {
            let text = if size_bytes <= 200 { small_reading(&mut rng, seq) } else { large_reading(&mut rng, seq, size_bytes) };
            Bytes::from(text)
        })
        .collect()
}

/// Record keys: sensor ids, as a keyed producer would send them.
pub fn keys(count: usize, seed: u64) -> Vec<Bytes> {
    let mut rng = SplitMix64::new(seed ^ 0x5eed);
    (0..count).map(|_| Bytes::from(format!("s-{:05}", rng.below(20_000)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_requested_size_and_vary() {
        let small = json_payloads(100, 100, 1);
        let avg = small.iter().map(|b| b.len()).sum::<usize>() / small.len();
        assert!((85..=120).contains(&avg), "small payload average {avg}");
        let large = json_payloads(10, 1024, 1);
        for p in &large {
            assert!((950..=1100).contains(&p.len()), "large payload {}", p.len());
        }
        assert_ne!(small[0], small[1]);
        assert_eq!(json_payloads(3, 100, 7), json_payloads(3, 100, 7));
    }
}
