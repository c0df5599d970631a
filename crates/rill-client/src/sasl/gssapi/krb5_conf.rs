//! The two things rill reads from a krb5.conf (MIT profile format): the
//! default realm (`[libdefaults] default_realm`) and each realm's KDCs
//! (`[realms] REALM = { kdc = host[:port] }`). Everything else is ignored.

use std::collections::BTreeMap;

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Krb5Conf {
    pub(super) default_realm: Option<String>,
    /// KDC addresses by realm, in file order.
    pub(super) kdcs: BTreeMap<String, Vec<String>>,
}

/// Parses krb5.conf text.
pub(super) fn parse(text: &str) -> Krb5Conf {
    let mut conf = Krb5Conf::default();
    let mut section = String::new();
    let mut realm: Option<String> = None;
    let mut depth = 0usize;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if depth == 0 && line.starts_with('[') {
            section = line.trim_start_matches('[').split(']').next().unwrap_or_default().trim().to_string();
            continue;
        }
        if line.starts_with('}') {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                realm = None;
            }
            continue;
        }
        let Some((name, value)) = line.split_once('=') else { continue };
        let (name, value) = (name.trim(), value.trim());
        if value.starts_with('{') {
            depth += 1;
            if depth == 1 && section == "realms" {
                realm = Some(name.to_string());
            }
            continue;
        }
        match (section.as_str(), depth, &realm) {
            ("libdefaults", 0, _) if name == "default_realm" => conf.default_realm = Some(value.to_string()),
            ("realms", 1, Some(realm)) if name == "kdc" => {
                // MIT accepts a transport prefix; rill speaks TCP only.
                if value.starts_with("udp/") {
                    continue;
                }
                let address = value.strip_prefix("tcp/").unwrap_or(value);
                conf.kdcs.entry(realm.clone()).or_default().push(address.to_string());
            }
            _ => {}
        }
    }
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_realm_and_kdcs() {
        let conf = parse(
            "# comment\n[libdefaults]\n default_realm = RILL.TEST\n dns_lookup_kdc = false\n\
             [realms]\n RILL.TEST = {\n  kdc = 127.0.0.1:8888\n  kdc = tcp/kdc2\n  kdc = udp/kdc3\n  \
             admin_server = x\n  auth_to_local = {\n   kdc = not-a-kdc\n  }\n }\n OTHER = {\n kdc = other:88\n}\n\
             [domain_realm]\n .localhost = RILL.TEST\n",
        );
        assert_eq!(conf.default_realm.as_deref(), Some("RILL.TEST"));
        assert_eq!(conf.kdcs["RILL.TEST"], vec!["127.0.0.1:8888", "kdc2"]);
        assert_eq!(conf.kdcs["OTHER"], vec!["other:88"]);
        assert_eq!(parse("garbage\n}\n}\n[x\n= {"), Krb5Conf::default());
    }
}
