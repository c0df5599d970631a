//! rill's own message schema: the model, its text format (`.rschema`), a
//! parser and a printer. The printer's output parses back to the same model,
//! and printing that model gives the same text.
//!
//! Format, one message per file, two spaces of indent per nesting level:
//!
//! ```text
//! # comment lines start with '#'
//! response FetchResponse key=1 versions=0-16 flexible=12+
//!   field ThrottleTimeMs int32 v=1+ ignorable -- The duration in milliseconds ...
//!   field Responses []FetchableTopicResponse v=0+ -- The response topics.
//!     field Topic string v=0-12 ignorable entity=topicName -- The topic name.
//! common LeaderIdAndEpoch v=12+
//!   field LeaderId int32 v=12+ default=-1 -- The ID of the current leader.
//! ```
//!
//! Field attributes: `v=` versions, `null=` nullable versions, `tag=N`
//! with `tagged=` tagged versions, `default=` (a number, `true`/`false`,
//! `null` or a quoted string), `ignorable`, `mapkey`, `zerocopy`,
//! `entity=`, `flex=` (a per-field flexible-versions override). Versions are
//! `N+`, `N-M`, `N` or `none`. Text after ` -- ` is the doc ("about").
//! `schema/api_keys.rschema` lists every API key: `apikey 4 LeaderAndIsr versions=0-7 flexible=4+`.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    None,
    /// Inclusive range; `None` as the upper bound means open-ended.
    Range(i16, Option<i16>),
}

impl Versions {
    pub fn parse(s: &str) -> Result<Versions, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(Versions::None);
        }
        let num = |t: &str| t.trim().parse::<i16>().map_err(|_| format!("bad version `{s}`"));
        if let Some(lo) = s.strip_suffix('+') {
            return Ok(Versions::Range(num(lo)?, None));
        }
        if let Some((lo, hi)) = s.split_once('-') {
            return Ok(Versions::Range(num(lo)?, Some(num(hi)?)));
        }
        let v = num(s)?;
        Ok(Versions::Range(v, Some(v)))
    }

    pub fn contains(&self, v: i16) -> bool {
        match *self {
            Versions::None => false,
            Versions::Range(lo, hi) => v >= lo && hi.is_none_or(|h| v <= h),
        }
    }

    pub fn lowest(&self) -> Option<i16> {
        match *self {
            Versions::None => None,
            Versions::Range(lo, _) => Some(lo),
        }
    }

    pub fn highest(&self) -> Option<i16> {
        match *self {
            Versions::None => None,
            Versions::Range(_, hi) => hi,
        }
    }
}

impl std::fmt::Display for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Versions::None => f.write_str("none"),
            Versions::Range(lo, None) => write!(f, "{lo}+"),
            Versions::Range(lo, Some(hi)) if lo == hi => write!(f, "{lo}"),
            Versions::Range(lo, Some(hi)) => write!(f, "{lo}-{hi}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Header,
    Data,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::Header => "header",
            Kind::Data => "data",
        }
    }

    fn from_word(w: &str) -> Option<Kind> {
        Some(match w {
            "request" => Kind::Request,
            "response" => Kind::Response,
            "header" => Kind::Header,
            "data" => Kind::Data,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    /// `int32`, `string`, `[]int32`, `[]Foo`, `Foo`, ...
    pub ty: String,
    pub versions: Versions,
    pub nullable: Versions,
    pub tag: Option<u32>,
    pub tagged: Versions,
    /// Literal text: `-1`, `0x7fffffff`, `true`, `null`, `"text"`.
    pub default: Option<String>,
    pub ignorable: bool,
    pub map_key: bool,
    pub zero_copy: bool,
    pub entity: Option<String>,
    pub flexible: Option<Versions>,
    pub about: String,
    /// Inline struct definition (for `Foo` / `[]Foo` types).
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommonStruct {
    pub name: String,
    pub versions: Versions,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: Kind,
    pub name: String,
    pub api_key: Option<i16>,
    pub valid: Versions,
    pub flexible: Versions,
    pub about: Vec<String>,
    pub fields: Vec<Field>,
    pub common: Vec<CommonStruct>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyDef {
    pub key: i16,
    pub name: String,
    pub versions: Versions,
    pub flexible: Versions,
}

pub const PRIMITIVES: &[&str] =
    &["bool", "int8", "int16", "uint16", "int32", "uint32", "int64", "float64", "string", "uuid", "bytes", "records"];

pub fn is_primitive(ty: &str) -> bool {
    PRIMITIVES.contains(&ty)
}

// ---- printing ----------------------------------------------------------------

pub fn print_message(m: &Message, header_comment: &str) -> String {
    let mut out = String::new();
    for line in header_comment.lines() {
        let _ = writeln!(out, "# {line}").map(|_| ());
    }
    for line in &m.about {
        let _ = writeln!(out, "## {line}");
    }
    let _ = write!(out, "{} {}", m.kind.word(), m.name);
    if let Some(k) = m.api_key {
        let _ = write!(out, " key={k}");
    }
    let _ = writeln!(out, " versions={} flexible={}", m.valid, m.flexible);
    print_fields(&mut out, &m.fields, 1);
    for c in &m.common {
        let _ = writeln!(out, "common {} v={}", c.name, c.versions);
        print_fields(&mut out, &c.fields, 1);
    }
    out
}

fn print_fields(out: &mut String, fields: &[Field], depth: usize) {
    for f in fields {
        let _ = write!(out, "{}field {} {} v={}", "  ".repeat(depth), f.name, f.ty, f.versions);
        if f.nullable != Versions::None {
            let _ = write!(out, " null={}", f.nullable);
        }
        if let Some(t) = f.tag {
            let _ = write!(out, " tag={t} tagged={}", f.tagged);
        }
        if let Some(d) = &f.default {
            let _ = write!(out, " default={d}");
        }
        if let Some(fl) = f.flexible {
            let _ = write!(out, " flex={fl}");
        }
        if f.ignorable {
            out.push_str(" ignorable");
        }
        if f.map_key {
            out.push_str(" mapkey");
        }
        if f.zero_copy {
            out.push_str(" zerocopy");
        }
        if let Some(e) = &f.entity {
            let _ = write!(out, " entity={e}");
        }
        if !f.about.is_empty() {
            let _ = write!(out, " -- {}", f.about);
        }
        out.push('\n');
        print_fields(out, &f.fields, depth + 1);
    }
}

pub fn print_api_keys(keys: &[ApiKeyDef], header_comment: &str) -> String {
    let mut out = String::new();
    for line in header_comment.lines() {
        let _ = writeln!(out, "# {line}");
    }
    for k in keys {
        let _ = writeln!(out, "apikey {} {} versions={} flexible={}", k.key, k.name, k.versions, k.flexible);
    }
    out
}

// ---- parsing -----------------------------------------------------------------

fn split_doc(line: &str) -> (&str, String) {
    match line.split_once(" -- ") {
        Some((a, d)) => (a, d.to_string()),
        None => (line, String::new()),
    }
}

/// Splits on whitespace, keeping `"quoted strings"` (with `\"` escapes) whole.
fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if in_quote {
            cur.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            } else if c == '"' {
                in_quote = false;
            }
        } else if c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            if c == '"' {
                in_quote = true;
            }
            cur.push(c);
        }
    }
    if in_quote {
        return Err(format!("unterminated quote in `{s}`"));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn kv(tok: &str) -> (&str, Option<&str>) {
    match tok.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (tok, None),
    }
}

pub fn parse_message(text: &str) -> Result<Message, String> {
    let mut msg: Option<Message> = None;
    let mut about = Vec::new();
    // Stack of open field lists: (depth, fields). Depth 0 is the message or a common struct.
    let mut lines: Vec<(usize, usize, String)> = Vec::new();
    for (no, raw) in text.lines().enumerate() {
        let no = no + 1;
        if let Some(doc) = raw.strip_prefix("## ") {
            about.push(doc.to_string());
            continue;
        }
        if raw == "##" {
            about.push(String::new());
            continue;
        }
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        if indent % 2 != 0 {
            return Err(format!("line {no}: indent must be a multiple of two spaces"));
        }
        lines.push((no, indent / 2, raw.trim_start().to_string()));
    }
    let mut iter = lines.into_iter().peekable();
    let mut commons = Vec::new();
    while let Some((no, depth, line)) = iter.next() {
        if depth != 0 {
            return Err(format!("line {no}: unexpected indent"));
        }
        let (head, _) = split_doc(&line);
        let toks = tokens(head)?;
        let word = toks.first().map(String::as_str).unwrap_or("");
        if let Some(kind) = Kind::from_word(word) {
            if msg.is_some() {
                return Err(format!("line {no}: a second message in one file"));
            }
            let name = toks.get(1).ok_or(format!("line {no}: missing name"))?.clone();
            let mut m = Message {
                kind,
                name,
                api_key: None,
                valid: Versions::None,
                flexible: Versions::None,
                about: std::mem::take(&mut about),
                fields: Vec::new(),
                common: Vec::new(),
            };
            for t in toks.iter().skip(2) {
                match kv(t) {
                    ("key", Some(v)) => m.api_key = Some(v.parse().map_err(|_| format!("line {no}: bad key"))?),
                    ("versions", Some(v)) => m.valid = Versions::parse(v)?,
                    ("flexible", Some(v)) => m.flexible = Versions::parse(v)?,
                    _ => return Err(format!("line {no}: unknown attribute `{t}`")),
                }
            }
            m.fields = parse_fields(&mut iter, 1)?;
            msg = Some(m);
        } else if word == "common" {
            let name = toks.get(1).ok_or(format!("line {no}: missing name"))?.clone();
            let mut versions = Versions::None;
            for t in toks.iter().skip(2) {
                match kv(t) {
                    ("v", Some(v)) => versions = Versions::parse(v)?,
                    _ => return Err(format!("line {no}: unknown attribute `{t}`")),
                }
            }
            let fields = parse_fields(&mut iter, 1)?;
            commons.push(CommonStruct { name, versions, fields });
        } else {
            return Err(format!("line {no}: expected `request`, `response`, `header`, `data` or `common`"));
        }
    }
    let mut m = msg.ok_or("no message in file")?;
    m.common = commons;
    Ok(m)
}

type Lines = std::iter::Peekable<std::vec::IntoIter<(usize, usize, String)>>;

fn parse_fields(iter: &mut Lines, depth: usize) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    while let Some((_, d, _)) = iter.peek() {
        if *d < depth {
            break;
        }
        let Some((no, d, line)) = iter.next() else {
            break;
        };
        if d > depth {
            return Err(format!("line {no}: unexpected indent"));
        }
        let (head, about) = split_doc(&line);
        let toks = tokens(head)?;
        if toks.first().map(String::as_str) != Some("field") || toks.len() < 3 {
            return Err(format!("line {no}: expected `field NAME TYPE ...`"));
        }
        let mut f = Field {
            name: toks[1].clone(),
            ty: toks[2].clone(),
            versions: Versions::None,
            nullable: Versions::None,
            tag: None,
            tagged: Versions::None,
            default: None,
            ignorable: false,
            map_key: false,
            zero_copy: false,
            entity: None,
            flexible: None,
            about,
            fields: Vec::new(),
        };
        for t in toks.iter().skip(3) {
            match kv(t) {
                ("v", Some(v)) => f.versions = Versions::parse(v)?,
                ("null", Some(v)) => f.nullable = Versions::parse(v)?,
                ("tag", Some(v)) => f.tag = Some(v.parse().map_err(|_| format!("line {no}: bad tag"))?),
                ("tagged", Some(v)) => f.tagged = Versions::parse(v)?,
                ("default", Some(v)) => f.default = Some(v.to_string()),
                ("flex", Some(v)) => f.flexible = Some(Versions::parse(v)?),
                ("entity", Some(v)) => f.entity = Some(v.to_string()),
                ("ignorable", None) => f.ignorable = true,
                ("mapkey", None) => f.map_key = true,
                ("zerocopy", None) => f.zero_copy = true,
                _ => return Err(format!("line {no}: unknown attribute `{t}`")),
            }
        }
        f.fields = parse_fields(iter, depth + 1)?;
        out.push(f);
    }
    Ok(out)
}

pub fn parse_api_keys(text: &str) -> Result<Vec<ApiKeyDef>, String> {
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let toks = tokens(line)?;
        if toks.len() != 5 || toks[0] != "apikey" {
            return Err(format!("api_keys line {}: expected `apikey KEY NAME versions=.. flexible=..`", no + 1));
        }
        let key = toks[1].parse().map_err(|_| format!("api_keys line {}: bad key", no + 1))?;
        let versions = toks[3].strip_prefix("versions=").ok_or("expected versions=")?;
        let flexible = toks[4].strip_prefix("flexible=").ok_or("expected flexible=")?;
        out.push(ApiKeyDef { key, name: toks[2].clone(), versions: Versions::parse(versions)?, flexible: Versions::parse(flexible)? });
    }
    Ok(out)
}

/// `FetchResponse` -> `fetch_response`, `ThrottleTimeMs` -> `throttle_time_ms`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_print() {
        for s in ["0+", "3-7", "5", "none"] {
            assert_eq!(Versions::parse(s).unwrap().to_string(), s);
        }
        assert!(Versions::parse("0-3").unwrap().contains(3));
        assert!(!Versions::parse("0-3").unwrap().contains(4));
        assert!(Versions::parse("12+").unwrap().contains(400));
    }

    #[test]
    fn snake_cases() {
        assert_eq!(snake_case("ThrottleTimeMs"), "throttle_time_ms");
        assert_eq!(snake_case("TopicId"), "topic_id");
        assert_eq!(snake_case("V3AndBelowTopics"), "v3_and_below_topics");
        assert_eq!(snake_case("SASLHandshake"), "sasl_handshake");
        assert_eq!(snake_case("ZkMigrationReady"), "zk_migration_ready");
    }

    #[test]
    fn parse_print_round_trip() {
        let text = "# hdr\n## about the message\nresponse Foo key=3 versions=0-4 flexible=2+\n  field A int32 v=1+ default=-1 ignorable -- an int\n  field B []Bar v=0+ null=1+ -- bars\n    field C string v=0+ tag=0 tagged=2+ default=\"x y\" mapkey entity=topicName\ncommon Baz v=0+\n  field D uuid v=3+ flex=none zerocopy\n";
        let m = parse_message(text).unwrap();
        assert_eq!(m.api_key, Some(3));
        assert_eq!(m.fields[1].fields[0].default.as_deref(), Some("\"x y\""));
        assert_eq!(print_message(&m, "hdr"), text);
    }
}
