//! Everything rill logs in a test binary (TRACE), captured in memory so a
//! test can search it for a secret. Included with `#[path]` by the
//! `client_*` test binaries that need it.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Installs the capturing subscriber (once per binary) and returns the buffer.
pub fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let subscriber =
            tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_ansi(false).with_writer(move || LogWriter(logs)).finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        logs
    })
}

/// The captured logs so far, as text.
pub fn captured_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

struct LogWriter(&'static Mutex<Vec<u8>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
