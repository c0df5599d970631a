//! rill's message generator.
//!
//! - `import` reads Apache Kafka's message JSON (`../shared/kafka-protocol-spec`)
//!   and writes rill's own schema files, `crates/rill-protocol/schema/*.rschema`.
//! - `generate` reads those schema files, and only them, and writes the Rust
//!   messages of `crates/rill-protocol` (`src/messages/`, `src/api_key.rs`,
//!   `tests/message_round_trip/generated.rs`).
//! - `check` does both in memory and fails if a committed file differs.

pub mod generate;
pub mod import;
pub mod json;
pub mod schema;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_path_buf()
}

/// `crates/rill-protocol`.
pub fn protocol_dir() -> PathBuf {
    workspace_dir().join("crates/rill-protocol")
}

/// `crates/rill-protocol/schema`.
pub fn schema_dir() -> PathBuf {
    protocol_dir().join("schema")
}

/// `../shared/kafka-protocol-spec`, beside the workspace.
pub fn default_spec_dir() -> PathBuf {
    workspace_dir().join("../shared/kafka-protocol-spec")
}

/// Every `*.rschema` file of `dir` as (file name, contents), sorted by name.
pub fn read_schema_dir(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries {
        let path = e.map_err(|e| e.to_string())?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if name.ends_with(".rschema") {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push((name, text));
        }
    }
    out.sort();
    Ok(out)
}

/// Generates the Rust files from the committed schema (paths relative to `crates/rill-protocol`).
/// Output is formatted with `rustfmt`; without it this fails with an error
/// containing [`generate::NO_RUSTFMT`].
pub fn generate_from_committed_schema() -> Result<generate::Output, String> {
    generate::generate_formatted(&read_schema_dir(&schema_dir())?, &protocol_dir())
}

/// Files under `dir` (recursively not), with `ext`, relative to `base`.
pub fn list_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == ext)).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Compares generated files with what is on disk; returns the paths that differ.
pub fn stale_files(files: &[(String, String)], base: &Path) -> Vec<String> {
    files
        .iter()
        .filter(|(path, text)| std::fs::read_to_string(base.join(path)).ok().as_deref() != Some(text.as_str()))
        .map(|(p, _)| p.clone())
        .collect()
}
