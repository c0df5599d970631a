use std::path::PathBuf;
use std::process::ExitCode;

use rill_protocol_gen as g;

fn usage() -> ExitCode {
    eprintln!("usage: rill-protocol-gen import [--spec DIR] | generate | check [--spec DIR]");
    ExitCode::from(2)
}

fn write_all(files: &[(String, String)], base: &std::path::Path) -> Result<(), String> {
    for (path, text) in files {
        let full = base.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        if std::fs::read_to_string(&full).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&full, text).map_err(|e| format!("{}: {e}", full.display()))?;
            println!("wrote {}", full.display());
        }
    }
    Ok(())
}

/// Removes files of `dir` with extension `ext` that `keep` does not list.
fn remove_stale(dir: &std::path::Path, ext: &str, keep: &[(String, String)], base: &std::path::Path) -> Result<(), String> {
    for p in g::list_files(dir, ext) {
        if !keep.iter().any(|(k, _)| base.join(k) == p) {
            std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            println!("removed {}", p.display());
        }
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut spec = g::default_spec_dir();
    let mut cmd = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--spec" => spec = PathBuf::from(it.next().ok_or("--spec needs a directory")?),
            c if cmd.is_none() => cmd = Some(c.to_string()),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    match cmd.as_deref() {
        Some("import") => {
            let files = g::import::import(&spec)?;
            let dir = g::schema_dir();
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            write_all(&files, &dir)?;
            remove_stale(&dir, "rschema", &files, &dir)
        }
        Some("generate") => {
            let files = g::generate_from_committed_schema()?;
            let base = g::protocol_dir();
            write_all(&files, &base)?;
            remove_stale(&base.join("src/messages"), "rs", &files, &base)
        }
        Some("check") => {
            let mut stale = Vec::new();
            if spec.exists() {
                let files = g::import::import(&spec)?;
                stale.extend(g::stale_files(&files, &g::schema_dir()).into_iter().map(|p| format!("schema/{p}")));
            }
            stale.extend(g::stale_files(&g::generate_from_committed_schema()?, &g::protocol_dir()));
            if stale.is_empty() {
                println!("up to date");
                Ok(())
            } else {
                Err(format!("out of date: {}", stale.join(", ")))
            }
        }
        _ => {
            usage();
            Err("no command".into())
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rill-protocol-gen: {e}");
            ExitCode::FAILURE
        }
    }
}
