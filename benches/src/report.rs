//! Turns criterion's saved estimates into a side-by-side table with ratios.
//!
//! Each benchmark group holds one function per implementation ("rill",
//! "kafka-protocol", ...) measured in the same run on the same input, so the
//! ratio is meaningful even on a noisy machine; absolute numbers are not.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Mean time per element (record) in nanoseconds, per group and implementation.
pub type Table = BTreeMap<String, BTreeMap<String, f64>>;

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Reads `<criterion_dir>/<group>/<function>/new/{estimates,benchmark}.json`.
pub fn load(criterion_dir: &Path) -> Table {
    let mut table = Table::new();
    let Ok(groups) = fs::read_dir(criterion_dir) else { return table };
    for group in groups.flatten() {
        let Ok(functions) = fs::read_dir(group.path()) else { continue };
        for function in functions.flatten() {
            let new_dir = function.path().join("new");
            let (Some(est), Some(bench)) = (read_json(&new_dir.join("estimates.json")), read_json(&new_dir.join("benchmark.json"))) else {
                continue;
            };
            let Some(mean_ns) = est["mean"]["point_estimate"].as_f64() else { continue };
            let elements = bench["throughput"]["Elements"].as_f64().unwrap_or(1.0).max(1.0);
            let group_id = bench["group_id"].as_str().unwrap_or_default().to_string();
            let function_id = bench["function_id"].as_str().unwrap_or_default().to_string();
            table.entry(group_id).or_default().insert(function_id, mean_ns / elements);
        }
    }
    table
}

/// Markdown table: ns/record per implementation and the speed-up of each rill
/// variant ("rill", and "rill-view" where measured) over `peer`.
pub fn render(table: &Table, peer: &str) -> String {
    let mut out = format!(
        "| benchmark | {peer} ns/record | rill ns/record | rill speed-up | rill-view ns/record | rill-view speed-up |\n|---|---:|---:|---:|---:|---:|\n"
    );
    let fmt = |v: Option<&f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    for (group, by_impl) in table {
        let other = by_impl.get(peer);
        let ratio = |ours: Option<&f64>| match (ours, other) {
            (Some(r), Some(o)) if *r > 0.0 => format!("{:.2}x", o / r),
            _ => "-".to_string(),
        };
        let (rill, view) = (by_impl.get("rill"), by_impl.get("rill-view"));
        out.push_str(&format!("| {group} | {} | {} | {} | {} | {} |\n", fmt(other), fmt(rill), ratio(rill), fmt(view), ratio(view)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_computes_speedup_of_rill_over_peer() {
        let mut t = Table::new();
        t.entry("decode_none_100B".into()).or_default().insert("rill".into(), 50.0);
        t.entry("decode_none_100B".into()).or_default().insert("kafka-protocol".into(), 150.0);
        let s = render(&t, "kafka-protocol");
        assert!(s.contains("| decode_none_100B | 150.0 | 50.0 | 3.00x | - | - |"), "{s}");
    }
}
