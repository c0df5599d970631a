//! Paired measurement: two implementations timed in alternating rounds on the
//! same input, by the CPU time of the measuring thread.
//!
//! Why: on a shared 2-core machine other processes come and go during a run.
//! Criterion times A fully, then B, so load that arrives between them skews
//! the ratio. Here every round times both (in alternating order), and thread
//! CPU time does not count time spent descheduled; the reported ratio is the
//! median of the per-round ratios.

use std::time::Duration;

use cpu_time::ThreadTime;

/// Result of one paired comparison.
#[derive(Debug, Clone)]
pub struct Paired {
    /// Median CPU nanoseconds per element of A and of B.
    pub a_ns: f64,
    pub b_ns: f64,
    /// Median over rounds of (B time / A time): > 1 means A is faster.
    pub speedup_of_a: f64,
    /// Spread of the per-round ratios (25th and 75th percentiles).
    pub speedup_p25: f64,
    pub speedup_p75: f64,
}

fn time_iters(iters: u64, f: &mut dyn FnMut()) -> Duration {
    let start = ThreadTime::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(v, 0.5)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Times `a` and `b` (each processing `elements` per call) for `rounds`
/// rounds of about `round_time` each.
pub fn compare(elements: u64, rounds: usize, round_time: Duration, a: &mut dyn FnMut(), b: &mut dyn FnMut()) -> Paired {
    compare_with(elements, rounds, round_time, &mut |iters| time_iters(iters, a), b)
}

/// Like [`compare`], for an `a` that takes its input by value (as a
/// producer takes the records its application hands over): `setup` makes
/// one input per call before the timed loop, and only `a` is timed, the
/// input's drop included.
pub fn compare_consuming<I>(
    elements: u64,
    rounds: usize,
    round_time: Duration,
    setup: &mut dyn FnMut() -> I,
    a: &mut dyn FnMut(I),
    b: &mut dyn FnMut(),
) -> Paired {
    let mut time_a = |iters: u64| {
        let inputs: Vec<I> = (0..iters).map(|_| setup()).collect();
        let start = ThreadTime::now();
        for input in inputs {
            a(input);
        }
        start.elapsed()
    };
    compare_with(elements, rounds, round_time, &mut time_a, b)
}

/// The rounds of [`compare`], with `a` timing `iters` calls of the first side.
fn compare_with(elements: u64, rounds: usize, round_time: Duration, a: &mut dyn FnMut(u64) -> Duration, b: &mut dyn FnMut()) -> Paired {
    // Warm up and size the inner loop so one side takes about round_time / 2.
    let one = a(3).max(time_iters(3, b)) / 3;
    let iters = ((round_time.as_nanos() / 2) / one.as_nanos().max(1)).clamp(1, 1_000_000) as u64;
    let (mut a_ns, mut b_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (ta, tb) = if round % 2 == 0 {
            let ta = a(iters);
            (ta, time_iters(iters, b))
        } else {
            let tb = time_iters(iters, b);
            (a(iters), tb)
        };
        let per = |t: Duration| t.as_nanos() as f64 / (iters * elements) as f64;
        a_ns.push(per(ta));
        b_ns.push(per(tb));
        ratios.push(tb.as_nanos() as f64 / ta.as_nanos().max(1) as f64);
    }
    ratios.sort_by(f64::total_cmp);
    Paired {
        a_ns: median(&mut a_ns),
        b_ns: median(&mut b_ns),
        speedup_of_a: percentile(&ratios, 0.5),
        speedup_p25: percentile(&ratios, 0.25),
        speedup_p75: percentile(&ratios, 0.75),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    fn spin(n: u64) -> u64 {
        (0..n).fold(0u64, |acc, x| black_box(acc.wrapping_mul(31).wrapping_add(x)))
    }

    #[test]
    fn the_faster_side_gets_a_speedup_above_one() {
        let r = compare(
            1,
            9,
            Duration::from_millis(4),
            &mut || {
                black_box(spin(2_000));
            },
            &mut || {
                black_box(spin(8_000));
            },
        );
        assert!(r.speedup_of_a > 2.0, "{r:?}");
        assert!(r.a_ns < r.b_ns, "{r:?}");
        let r = compare(
            1,
            9,
            Duration::from_millis(4),
            &mut || {
                black_box(spin(8_000));
            },
            &mut || {
                black_box(spin(2_000));
            },
        );
        assert!(r.speedup_of_a < 0.5, "{r:?}");
    }

    #[test]
    fn consuming_times_the_call_and_not_the_setup() {
        // The setup is four times the work of either side: were it timed, a
        // would come out slower than b.
        let r = compare_consuming(
            1,
            9,
            Duration::from_millis(4),
            &mut || spin(8_000),
            &mut |input| {
                black_box(spin(2_000) ^ input);
            },
            &mut || {
                black_box(spin(2_000));
            },
        );
        assert!((0.6..1.6).contains(&r.speedup_of_a), "{r:?}");
    }
}
