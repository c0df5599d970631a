//! The other direction of the golden vectors: bytes rill encodes are decoded by
//! Apache Kafka's own Java code (kafka-clients 4.3.1) to values equal to Java's.
//!
//! rill encodes every message value of tests/golden/values.rs and writes every
//! record batch vector of records.txt (magic 2 with each codec, idempotent,
//! transactional, control batches; magic 0/1 message sets) into a directory under
//! cargo's target dir; then `rill.golden.Main verify DIR` (golden/java) parses each
//! file with the Java classes, checks CRCs, and compares with its own values
//! (`.equals()` on messages, every batch and record field on batches).
//!
//! Needs `java` (17+) and `mvn` on PATH; the Java program is built once with Maven
//! and cached under target/ until its sources change. Without Java or Maven the
//! test fails (it never passes silently).

#[path = "golden/expected_records.rs"]
mod expected_records;
#[path = "golden/values.rs"]
mod values;

use std::collections::BTreeSet;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::process::Command;

fn java_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join("java")
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("rill-golden-java")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())).map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "java") {
            out.push(p);
        }
    }
}

/// A fingerprint of pom.xml and the Java sources: the cached build is reused while it matches.
fn fingerprint() -> String {
    let mut files = vec![java_dir().join("pom.xml")];
    sources(&java_dir().join("src"), &mut files);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &files {
        h.write(f.to_string_lossy().as_bytes());
        h.write(&std::fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display())));
    }
    format!("{:016x}", h.finish())
}

fn require_tool(tool: &str, arg: &str) {
    match Command::new(tool).arg(arg).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`{tool} {arg}` failed ({}); this test needs Java 17+ and Maven on PATH:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "cannot run `{tool}` ({e}). This test runs Apache Kafka's Java code and needs Java 17+ \
             (`java`) and Maven (`mvn`) on PATH; it does not skip without them."
        ),
    }
}

/// Builds golden/java with Maven (once per source change) and returns the java classpath.
fn java_classpath() -> String {
    static CLASSPATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CLASSPATH.get_or_init(build_java).clone()
}

fn build_java() -> String {
    require_tool("java", "-version");
    let cache = cache_dir();
    let stamp = cache.join("fingerprint");
    let classpath_file = cache.join("classpath.txt");
    let classes = cache.join("build").join("classes");
    let want = fingerprint();
    let fresh = std::fs::read_to_string(&stamp).is_ok_and(|s| s == want) && classpath_file.exists() && classes.exists();
    if !fresh {
        require_tool("mvn", "-v");
        std::fs::create_dir_all(&cache).expect("create cache dir");
        let out = Command::new("mvn")
            .current_dir(java_dir())
            .args(["-q", "-B", "-Dstyle.color=never"])
            .arg(format!("-Dgolden.build.dir={}", cache.join("build").display()))
            .args(["compile", "dependency:build-classpath"])
            .arg(format!("-Dmdep.outputFile={}", classpath_file.display()))
            .output()
            .expect("run mvn");
        assert!(
            out.status.success(),
            "building golden/java with Maven failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&stamp, &want).expect("write fingerprint");
    }
    let deps = std::fs::read_to_string(&classpath_file).expect("read classpath.txt");
    format!("{}:{}", classes.display(), deps.trim())
}

#[test]
fn java_decodes_what_rill_encodes() {
    let started = std::time::Instant::now();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rill-golden-written-by-rill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create output dir");

    // rill encodes every value; an encode error is a failure of its own.
    let mut failures = Vec::new();
    let mut written = BTreeSet::new();
    let mut write = |name: &str, bytes: Result<Vec<u8>, String>, failures: &mut Vec<String>| match bytes {
        Ok(b) => {
            std::fs::write(dir.join(format!("{name}.bin")), b).expect("write vector");
            written.insert(name.to_string());
        }
        Err(e) => failures.push(format!("{name}: {e}")),
    };
    let messages = values::all();
    for v in &messages.0 {
        write(v.name(), v.encode(), &mut failures);
    }
    let batches = expected_records::load();
    for v in &batches {
        write(&v.name, expected_records::rill_write(v).map(|b| b.to_vec()), &mut failures);
    }
    assert!(written.len() >= 100, "only {} vectors written", written.len());

    let classpath = java_classpath();
    let out = Command::new("java").args(["-cp", &classpath, "rill.golden.Main", "verify"]).arg(&dir).output().expect("run java");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ok: BTreeSet<String> = stdout.lines().filter_map(|l| l.strip_prefix("OK ")).map(str::to_string).collect();
    for line in stdout.lines().filter(|l| l.starts_with("FAIL ")) {
        failures.push(format!("Java: {line}"));
    }
    for name in written.difference(&ok) {
        if !stdout.contains(&format!("FAIL {name}:")) {
            failures.push(format!("{name}: Java did not report it"));
        }
    }
    if !out.status.success() && failures.is_empty() {
        failures.push(format!("Java exited with {}:\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let same_as_java = written
        .iter()
        .filter(|n| std::fs::read(dir.join(format!("{n}.bin"))).ok() == std::fs::read(values::golden_dir().join(format!("{n}.bin"))).ok())
        .count();
    eprintln!(
        "Java checked {} vectors rill wrote ({} messages and frames, {} record files; {} byte-identical to Java's own, \
         {} different, e.g. compressed) in {:.1?}",
        ok.len(),
        messages.0.len(),
        batches.len(),
        same_as_java,
        written.len() - same_as_java,
        started.elapsed()
    );
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors rill wrote were not decoded by Java to equal values (files kept in {}):\n\n{}",
        failures.len(),
        messages.0.len() + batches.len(),
        dir.display(),
        failures.join("\n")
    );
    assert!(out.status.success(), "Java verify exited with {}", out.status);
    assert_eq!(ok, written, "Java's OK list differs from what rill wrote");
}

/// The committed vectors are exactly what the Java program generates now
/// (nobody edited a vector by hand or changed the Java without regenerating).
#[test]
fn committed_vectors_are_what_java_generates() {
    let classpath = java_classpath();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rill-golden-generated-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new("java").args(["-cp", &classpath, "rill.golden.Main", "generate"]).arg(&dir).output().expect("run java");
    assert!(
        out.status.success(),
        "Java generate failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let list = |d: &Path| -> BTreeSet<String> {
        std::fs::read_dir(d)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".bin") || n == "manifest.txt" || n == "records.txt")
            .collect()
    };
    let generated = list(&dir);
    let committed = list(&values::golden_dir());
    assert_eq!(generated, committed, "tests/golden/ lists other files than Java generates; run golden/regenerate.sh");
    let stale: Vec<&String> =
        generated.iter().filter(|n| std::fs::read(dir.join(n)).ok() != std::fs::read(values::golden_dir().join(n)).ok()).collect();
    assert!(stale.is_empty(), "committed vectors differ from what Java generates now: {stale:?}; run golden/regenerate.sh");
    let _ = std::fs::remove_dir_all(&dir);
}
