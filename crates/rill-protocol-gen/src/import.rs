//! `import`: Apache Kafka's message JSON -> rill schema files.

use std::path::Path;

use crate::json::{self, Json};
use crate::schema::{self, ApiKeyDef, CommonStruct, Field, Kind, Message, Versions};

/// The APIs whose messages rill generates.
pub const APIS: &[&str] = &[
    "Produce",
    "Fetch",
    "ListOffsets",
    "Metadata",
    "OffsetCommit",
    "OffsetFetch",
    "FindCoordinator",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "SaslHandshake",
    "ApiVersions",
    "CreateTopics",
    "DeleteTopics",
    "DeleteRecords",
    "InitProducerId",
    "OffsetForLeaderEpoch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "TxnOffsetCommit",
    "WriteTxnMarkers",
    "DescribeConfigs",
    "AlterConfigs",
    "SaslAuthenticate",
    "CreatePartitions",
    "DeleteGroups",
    "IncrementalAlterConfigs",
    "OffsetDelete",
    "DescribeCluster",
    "DescribeProducers",
    "DescribeTransactions",
    "ListTransactions",
    "ConsumerGroupHeartbeat",
    "ConsumerGroupDescribe",
    "DescribeTopicPartitions",
];

/// Headers and embedded payloads generated besides the APIs.
pub const EXTRA: &[&str] = &["RequestHeader", "ResponseHeader", "ConsumerProtocolSubscription", "ConsumerProtocolAssignment"];

pub const HEADER_COMMENT: &str = "rill protocol schema (see crates/rill-protocol-gen/src/schema.rs for the format).\nImported from Apache Kafka's message definitions by `cargo run -p rill-protocol-gen -- import`.";

/// All message names to import, in file order.
pub fn message_names() -> Vec<String> {
    let mut out: Vec<String> = APIS.iter().flat_map(|a| [format!("{a}Request"), format!("{a}Response")]).collect();
    out.extend(EXTRA.iter().map(|s| s.to_string()));
    out
}

/// Reads the spec folder and returns (file name, contents) of every schema file.
pub fn import(spec_dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for name in message_names() {
        let path = spec_dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let j = json::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let m = message_from_json(&j).map_err(|e| format!("{}: {e}", path.display()))?;
        let printed = schema::print_message(&m, HEADER_COMMENT);
        // The printed schema must parse back to exactly what was imported.
        let reparsed = schema::parse_message(&printed)?;
        if reparsed != m {
            return Err(format!("{name}: the schema printer lost information"));
        }
        out.push((format!("{}.rschema", schema::snake_case(&name)), printed));
    }
    out.push(("api_keys.rschema".to_string(), schema::print_api_keys(&api_keys(spec_dir)?, HEADER_COMMENT)));
    out.sort();
    Ok(out)
}

fn api_keys(spec_dir: &Path) -> Result<Vec<ApiKeyDef>, String> {
    let mut keys = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(spec_dir)
        .map_err(|e| format!("{}: {e}", spec_dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("Request.json")))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let j = json::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if j.get("type").and_then(Json::as_str) != Some("request") {
            continue;
        }
        let Some(key) = j.get("apiKey").and_then(Json::scalar_text) else {
            continue;
        };
        let name = str_field(&j, "name")?;
        keys.push(ApiKeyDef {
            key: key.parse().map_err(|_| format!("bad apiKey in {}", path.display()))?,
            name: name.strip_suffix("Request").unwrap_or(&name).to_string(),
            versions: Versions::parse(&str_field(&j, "validVersions")?)?,
            flexible: Versions::parse(&str_field(&j, "flexibleVersions")?)?,
        });
    }
    keys.sort_by_key(|k| k.key);
    Ok(keys)
}

fn str_field(j: &Json, key: &str) -> Result<String, String> {
    j.get(key).and_then(Json::scalar_text).ok_or_else(|| format!("missing `{key}`"))
}

fn opt_versions(j: &Json, key: &str) -> Result<Option<Versions>, String> {
    j.get(key).and_then(Json::scalar_text).map(|s| Versions::parse(&s)).transpose()
}

fn flag(j: &Json, key: &str) -> bool {
    matches!(j.get(key), Some(Json::Bool(true))) || j.get(key).and_then(Json::as_str) == Some("true")
}

pub fn message_from_json(j: &Json) -> Result<Message, String> {
    for k in j.keys() {
        if !matches!(
            k,
            "apiKey"
                | "type"
                | "name"
                | "validVersions"
                | "flexibleVersions"
                | "fields"
                | "commonStructs"
                | "listeners"
                | "latestVersionUnstable"
                | "deprecatedVersions"
        ) {
            return Err(format!("unknown top-level key `{k}`"));
        }
    }
    let kind = match str_field(j, "type")?.as_str() {
        "request" => Kind::Request,
        "response" => Kind::Response,
        "header" => Kind::Header,
        "data" => Kind::Data,
        t => return Err(format!("unknown message type `{t}`")),
    };
    let api_key = match j.get("apiKey").and_then(Json::scalar_text) {
        Some(k) => Some(k.parse().map_err(|_| "bad apiKey".to_string())?),
        None => None,
    };
    let fields = fields_from_json(j.get("fields"))?;
    let mut common = Vec::new();
    for c in j.get("commonStructs").and_then(Json::as_array).unwrap_or_default() {
        common.push(CommonStruct {
            name: str_field(c, "name")?,
            versions: Versions::parse(&str_field(c, "versions")?)?,
            fields: fields_from_json(c.get("fields"))?,
        });
    }
    Ok(Message {
        kind,
        name: str_field(j, "name")?,
        api_key,
        valid: Versions::parse(&str_field(j, "validVersions")?)?,
        flexible: Versions::parse(&str_field(j, "flexibleVersions")?)?,
        about: Vec::new(),
        fields,
        common,
    })
}

fn fields_from_json(j: Option<&Json>) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    for f in j.and_then(Json::as_array).unwrap_or_default() {
        out.push(field_from_json(f)?);
    }
    Ok(out)
}

fn field_from_json(j: &Json) -> Result<Field, String> {
    let name = str_field(j, "name")?;
    for k in j.keys() {
        if !matches!(
            k,
            "name"
                | "type"
                | "versions"
                | "nullableVersions"
                | "tag"
                | "taggedVersions"
                | "default"
                | "ignorable"
                | "mapKey"
                | "zeroCopy"
                | "entityType"
                | "flexibleVersions"
                | "about"
                | "fields"
        ) {
            return Err(format!("field {name}: unknown key `{k}`"));
        }
    }
    let ty = str_field(j, "type")?;
    let default = match j.get("default") {
        None => None,
        Some(Json::Str(s)) if s == "null" => Some("null".to_string()),
        Some(Json::Str(s)) if ty == "string" => Some(quote(s)),
        Some(v) => Some(v.scalar_text().ok_or_else(|| format!("field {name}: bad default"))?),
    };
    let about = str_field(j, "about").unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Field {
        ty,
        versions: Versions::parse(&str_field(j, "versions")?)?,
        nullable: opt_versions(j, "nullableVersions")?.unwrap_or(Versions::None),
        tag: match j.get("tag").and_then(Json::scalar_text) {
            Some(t) => Some(t.parse().map_err(|_| format!("field {name}: bad tag"))?),
            None => None,
        },
        tagged: opt_versions(j, "taggedVersions")?.unwrap_or(Versions::None),
        default,
        ignorable: flag(j, "ignorable"),
        map_key: flag(j, "mapKey"),
        zero_copy: flag(j, "zeroCopy"),
        entity: j.get("entityType").and_then(Json::scalar_text),
        flexible: opt_versions(j, "flexibleVersions")?,
        about,
        fields: fields_from_json(j.get("fields"))?,
        name,
    })
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
