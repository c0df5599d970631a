//! Values kept out of the config text, written as Kafka's config providers
//! write them (KIP-297's `${provider:[path:]key}`), for any key:
//!
//! - `${env:NAME}`: the environment variable `NAME` (Kafka's
//!   `EnvVarConfigProvider`, KIP-887);
//! - `${file:/path}`: the whole file, one trailing newline dropped (a
//!   mounted secret);
//! - `${file:/path:key}`: `key` of a properties file (Kafka's
//!   `FileConfigProvider`; `key=value` or `key: value` lines, `#`/`!`
//!   comments; no escapes or continuation lines).
//!
//! Errors name the config key and the reference, never the value.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The value `value` refers to, or `None` when it is a plain value.
pub(super) fn resolve(key: &'static str, value: &str) -> Result<Option<String>, ConfigError> {
    let Some(reference) = value.trim().strip_prefix("${").and_then(|v| v.strip_suffix('}')) else {
        return Ok(None);
    };
    if let Some(name) = reference.strip_prefix("env:") {
        return std::env::var(name).map(Some).map_err(|_| ConfigError::InvalidValue {
            key: key.to_string(),
            value: Some(value.to_string()),
            expected: "a reference to a set environment variable (`${env:NAME}` with NAME set)",
        });
    }
    if let Some(body) = reference.strip_prefix("file:") {
        let whole = Path::new(body);
        if whole.is_file() {
            let text = read(key, whole)?;
            let text = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
            return Ok(Some(text.to_string()));
        }
        if let Some((path, name)) = body.rsplit_once(':').filter(|(p, n)| !n.contains('/') && Path::new(p).is_file()) {
            let text = read(key, Path::new(path))?;
            return property(&text, name).map(Some).ok_or_else(|| ConfigError::File {
                key,
                path: PathBuf::from(path),
                reason: format!("the properties file has no `{name}`"),
            });
        }
        return Err(ConfigError::File { key, path: PathBuf::from(body), reason: "no such file".to_string() });
    }
    Err(ConfigError::InvalidValue {
        key: key.to_string(),
        value: Some(value.to_string()),
        expected: "a plain value, `${env:NAME}`, `${file:/path}` or `${file:/path:key}`",
    })
}

fn read(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        key,
        path: path.to_path_buf(),
        reason: format!("cannot read it: {}", e.kind()),
    })
}

/// The value of `name` in Java properties text.
fn property(text: &str, name: &str) -> Option<String> {
    text.lines().map(str::trim_start).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!')).find_map(|line| {
        let split = line.find(['=', ':'])?;
        let (k, v) = (line.get(..split)?, line.get(split + 1..)?);
        (k.trim() == name).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{ClientConfig, ConfigError};

    fn file(name: &str, contents: &str) -> String {
        let path = std::env::temp_dir().join(format!("rill-providers-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    #[test]
    fn env_and_file_references_resolve_for_any_key() {
        // Cargo sets CARGO_PKG_NAME for test processes.
        let secret = file("secret", "s3cr3t-from-file\n");
        let props = file("props", "# creds\nuser=alice\npassword : p@ss=word\n");
        let password_ref = format!("${{file:{props}:password}}");
        let config = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("client.id", "${env:CARGO_PKG_NAME}"),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", &format!("${{file:{props}:user}}")),
            ("sasl.password", &password_ref),
            ("ssl.key.password", &format!("${{file:{secret}}}")),
        ])
        .unwrap();
        assert_eq!(config.client_id, "rill-client");
        assert_eq!(config.sasl.username.as_deref(), Some("alice"));
        assert_eq!(config.sasl.password.as_ref().unwrap().expose(), "p@ss=word");
        assert_eq!(config.tls.key_password.as_ref().unwrap().expose(), "s3cr3t-from-file");
        assert!(!format!("{config:?}").contains("s3cr3t-from-file"));
    }

    #[test]
    fn bad_references_name_the_key_never_the_value() {
        let err = ClientConfig::from_properties([("bootstrap.servers", "a:1"), ("client.id", "${env:RILL_NOT_SET_X9}")]).unwrap_err();
        assert!(err.to_string().contains("client.id") && err.to_string().contains("RILL_NOT_SET_X9"), "{err}");
        let err = ClientConfig::from_properties([("sasl.password", "${file:/nonexistent/rill-secret}")]).unwrap_err();
        assert!(matches!(err, ConfigError::File { key: "sasl.password", .. }), "{err:?}");
        let props = file("props2", "other=secret-value-1\n");
        let err = ClientConfig::from_properties([("sasl.password", format!("${{file:{props}:password}}").as_str())]).unwrap_err();
        assert!(err.to_string().contains("no `password`") && !err.to_string().contains("secret-value-1"), "{err}");
        let err = ClientConfig::from_properties([("client.id", "${vault:x}")]).unwrap_err();
        assert!(err.to_string().contains("client.id"), "{err}");
    }
}
