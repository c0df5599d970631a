//! `generate`: rill schema -> Rust code for `crates/rill-protocol`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::schema::{self, snake_case, ApiKeyDef, Field, Kind, Message, Versions};

/// One generated file: path relative to the rill-protocol crate, contents.
pub type Output = Vec<(String, String)>;

/// Struct names that would clash with names the generated modules use.
const RESERVED: &[&str] = &[
    "Codec",
    "Message",
    "Request",
    "Response",
    "Reader",
    "Bytes",
    "BufMut",
    "Uuid",
    "RawTaggedField",
    "ApiKey",
    "VersionRange",
    "String",
    "Vec",
    "Option",
    "Result",
    "Self",
    "EncodeError",
    "DecodeError",
    "Default",
    "Writer",
    "Some",
    "None",
    "Ok",
    "Err",
    "Box",
];

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async",
    "await", "dyn", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield",
    "try", "gen",
];

/// The Rust name of a field: snake case, keywords as raw identifiers.
pub fn field_ident(name: &str) -> Result<String, String> {
    let s = snake_case(name);
    if matches!(s.as_str(), "self" | "super" | "crate" | "unknown_tagged_fields") {
        return Err(format!("field name `{name}` cannot be used"));
    }
    Ok(if KEYWORDS.contains(&s.as_str()) { format!("r#{s}") } else { s })
}

/// Screaming snake case, for constants.
pub fn const_ident(name: &str) -> String {
    snake_case(name).to_ascii_uppercase()
}

/// A set of versions within the message's valid range.
#[derive(Clone, PartialEq, Eq, Debug)]
struct VSet {
    lo: i16,
    bits: Vec<bool>,
}

impl VSet {
    fn of(v: Versions, lo: i16, hi: i16) -> VSet {
        VSet { lo, bits: (lo..=hi).map(|x| v.contains(x)).collect() }
    }
    fn and(&self, o: &VSet) -> VSet {
        VSet { lo: self.lo, bits: self.bits.iter().zip(&o.bits).map(|(a, b)| *a && *b).collect() }
    }
    fn minus(&self, o: &VSet) -> VSet {
        VSet { lo: self.lo, bits: self.bits.iter().zip(&o.bits).map(|(a, b)| *a && !*b).collect() }
    }
    fn all(&self) -> bool {
        self.bits.iter().all(|b| *b)
    }
    fn none(&self) -> bool {
        !self.bits.iter().any(|b| *b)
    }
    fn has(&self, v: i16) -> bool {
        self.bits.get((v - self.lo) as usize).copied().unwrap_or(false)
    }
    fn hi(&self) -> i16 {
        self.lo + self.bits.len() as i16 - 1
    }
    /// Contiguous runs as (from, to).
    fn runs(&self) -> Vec<(i16, i16)> {
        let mut out: Vec<(i16, i16)> = Vec::new();
        for (i, b) in self.bits.iter().enumerate() {
            let v = self.lo + i as i16;
            if *b {
                match out.last_mut() {
                    Some(last) if last.1 == v - 1 => last.1 = v,
                    _ => out.push((v, v)),
                }
            }
        }
        out
    }
    fn or(&self, o: &VSet) -> VSet {
        VSet { lo: self.lo, bits: self.bits.iter().zip(&o.bits).map(|(a, b)| *a || *b).collect() }
    }
    fn not(&self) -> VSet {
        VSet { lo: self.lo, bits: self.bits.iter().map(|b| !*b).collect() }
    }
    /// Like [`VSet::cond`], for code that only runs at versions in `usage`:
    /// the simplest expression that is right on `usage`.
    fn cond_within(&self, usage: &VSet) -> String {
        let exact = self.and(usage);
        if exact.none() {
            return "false".into();
        }
        let loose = self.or(&usage.not());
        let (a, b) = (self.cond(), loose.cond());
        if b.len() < a.len() {
            b
        } else {
            a
        }
    }
    /// A Rust boolean expression over `version` true exactly on this set
    /// (for versions inside the valid range).
    fn cond(&self) -> String {
        if self.all() {
            return "true".into();
        }
        if self.none() {
            return "false".into();
        }
        let runs = self.runs();
        if let [(a, b)] = runs.as_slice() {
            return match (*a > self.lo, *b < self.hi()) {
                (true, true) if a == b => format!("version == {a}"),
                (true, true) => format!("({a}..={b}).contains(&version)"),
                (true, false) => format!("version >= {a}"),
                _ => format!("version <= {b}"),
            };
        }
        let pats: Vec<String> = runs.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}..={b}") }).collect();
        format!("matches!(version, {})", pats.join(" | "))
    }
}

#[derive(Clone, Debug)]
struct StructDef {
    name: String,
    path: String,
    about: String,
    fields: Vec<Field>,
    nullable: bool,
    /// The versions at which this struct is encoded.
    usage: VSet,
}

struct Gen<'a> {
    msg: &'a Message,
    lo: i16,
    hi: i16,
    flexible: VSet,
    structs: Vec<StructDef>,
    commons: BTreeMap<String, &'a schema::CommonStruct>,
}

#[derive(Clone, Debug)]
struct FieldInfo {
    ident: String,
    path: String,
    /// Element or value type without Vec/Option.
    base: String,
    is_struct: bool,
    array: bool,
    optional: bool,
    rust_ty: String,
    present: VSet,
    regular: VSet,
    tagged: VSet,
    nullable: VSet,
    flex_expr: String,
    flex_set: VSet,
    default: String,
    std_default: bool,
}

fn prim_rust(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "bool" => "bool",
        "int8" => "i8",
        "int16" => "i16",
        "uint16" => "u16",
        "int32" => "i32",
        "uint32" => "u32",
        "int64" => "i64",
        "float64" => "f64",
        "string" => "String",
        "uuid" => "Uuid",
        "bytes" | "records" => "Bytes",
        _ => return None,
    })
}

fn parse_int(text: &str) -> Result<i128, String> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let v =
        if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) { i128::from_str_radix(h, 16) } else { t.parse::<i128>() }
            .map_err(|_| format!("bad integer default `{text}`"))?;
    Ok(if neg { -v } else { v })
}

fn unquote(s: &str) -> Result<String, String> {
    let inner = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).ok_or_else(|| format!("bad string default {s}"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl<'a> Gen<'a> {
    fn new(msg: &'a Message) -> Result<Gen<'a>, String> {
        let lo = msg.valid.lowest().ok_or("message has no valid versions")?;
        let hi = msg.valid.highest().ok_or("message versions must be bounded")?;
        let mut g = Gen {
            msg,
            lo,
            hi,
            flexible: VSet::of(msg.flexible, lo, hi),
            structs: Vec::new(),
            commons: msg.common.iter().map(|c| (c.name.clone(), c)).collect(),
        };
        g.structs.push(StructDef {
            name: msg.name.clone(),
            path: msg.name.clone(),
            about: String::new(),
            fields: msg.fields.clone(),
            nullable: false,
            usage: VSet::of(msg.valid, lo, hi),
        });
        // Visit until no struct's usage grows (common structs can be reached twice).
        loop {
            let before: Vec<VSet> = g.structs.iter().map(|s| s.usage.clone()).collect();
            let mut i = 0;
            while i < g.structs.len() {
                let def = g.structs[i].clone();
                for f in &def.fields {
                    g.visit_field(&def.path, &def.usage, f)?;
                }
                i += 1;
            }
            let after: Vec<VSet> = g.structs.iter().map(|s| s.usage.clone()).collect();
            if before == after {
                break;
            }
        }
        for c in &msg.common {
            if !g.structs.iter().any(|s| s.name == c.name) {
                g.structs.push(StructDef {
                    name: c.name.clone(),
                    path: format!("{}.{}", msg.name, c.name),
                    about: String::new(),
                    fields: c.fields.clone(),
                    nullable: false,
                    usage: VSet::of(c.versions, lo, hi),
                });
                let def = g.structs.last().cloned().ok_or("unreachable")?;
                for f in &def.fields {
                    g.visit_field(&def.path, &def.usage, f)?;
                }
            }
        }
        Ok(g)
    }

    fn visit_field(&mut self, parent: &str, parent_usage: &VSet, f: &Field) -> Result<(), String> {
        let usage = parent_usage.and(&self.vset(f.versions));
        let base = f.ty.strip_prefix("[]").unwrap_or(&f.ty);
        if schema::is_primitive(base) {
            if !f.fields.is_empty() {
                return Err(format!("{parent}.{}: a primitive type with fields", f.name));
            }
            return Ok(());
        }
        if RESERVED.contains(&base) || base == self.msg.name && parent != self.msg.name {
            return Err(format!("struct name `{base}` is reserved"));
        }
        let nullable_struct = !f.ty.starts_with("[]") && f.nullable != Versions::None;
        let fields = if f.fields.is_empty() {
            match self.commons.get(base) {
                Some(c) => c.fields.clone(),
                None => return Err(format!("{parent}.{}: unknown struct type `{base}`", f.name)),
            }
        } else {
            f.fields.clone()
        };
        if let Some(existing) = self.structs.iter_mut().find(|s| s.name == base) {
            if existing.fields != fields {
                return Err(format!("struct `{base}` is defined twice with different fields"));
            }
            existing.nullable |= nullable_struct;
            existing.usage = existing.usage.or(&usage);
            return Ok(());
        }
        self.structs.push(StructDef {
            name: base.to_string(),
            path: format!("{parent}.{}", snake_case(&f.name)),
            about: f.about.clone(),
            fields,
            nullable: nullable_struct,
            usage,
        });
        Ok(())
    }

    fn vset(&self, v: Versions) -> VSet {
        VSet::of(v, self.lo, self.hi)
    }

    fn info(&self, parent_path: &str, f: &Field) -> Result<FieldInfo, String> {
        let ident = field_ident(&f.name)?;
        let path = format!("{parent_path}.{}", snake_case(&f.name));
        let array = f.ty.starts_with("[]");
        let base = f.ty.strip_prefix("[]").unwrap_or(&f.ty).to_string();
        let is_struct = !schema::is_primitive(&base);
        let present = self.vset(f.versions);
        let tagged = match f.tag {
            Some(_) => present.and(&self.vset(f.tagged)),
            None => self.vset(Versions::None),
        };
        if f.tag.is_some() && !tagged.minus(&self.flexible).none() {
            return Err(format!("{path}: tagged in a version that is not flexible"));
        }
        let regular = present.minus(&tagged);
        let nullable = self.vset(f.nullable).and(&present);
        let optional = base == "records" && !array || !nullable.none();
        if optional && !array && !is_struct && !matches!(base.as_str(), "string" | "bytes" | "records") {
            return Err(format!("{path}: type {} cannot be nullable", f.ty));
        }
        if optional && is_struct && !array && !tagged.none() {
            // Kafka writes a varint presence flag inside the tagged field, not
            // the INT8 marker of untagged nullable structs; not supported yet.
            return Err(format!("{path}: tagged nullable structs are not supported"));
        }
        if optional && !tagged.minus(&nullable).none() {
            return Err(format!("{path}: a tagged field must be nullable in all its tagged versions or in none"));
        }
        let elem = if is_struct { base.clone() } else { prim_rust(&base).ok_or("unknown type")?.to_string() };
        let inner = if array { format!("Vec<{elem}>") } else { elem.clone() };
        let rust_ty = if optional { format!("Option<{inner}>") } else { inner.clone() };
        let (flex_expr, flex_set) = match f.flexible {
            Some(v) => {
                let s = self.vset(v).and(&self.flexible);
                (s.cond(), s)
            }
            None => ("flex".to_string(), self.flexible.clone()),
        };
        let d = f.default.as_deref();
        let inner_default = if array {
            "Vec::new()".to_string()
        } else if is_struct {
            format!("{base}::default()")
        } else {
            match base.as_str() {
                "bool" => match d {
                    None | Some("false") => "false".into(),
                    Some("true") => "true".into(),
                    Some(x) if optional && x == "null" => "false".into(),
                    Some(x) => return Err(format!("{path}: bad bool default {x}")),
                },
                "int8" | "int16" | "uint16" | "int32" | "uint32" | "int64" => {
                    let v = parse_int(d.unwrap_or("0"))?;
                    let (min, max): (i128, i128) = match base.as_str() {
                        "int8" => (i8::MIN.into(), i8::MAX.into()),
                        "int16" => (i16::MIN.into(), i16::MAX.into()),
                        "uint16" => (0, u16::MAX.into()),
                        "int32" => (i32::MIN.into(), i32::MAX.into()),
                        "uint32" => (0, u32::MAX.into()),
                        _ => (i64::MIN.into(), i64::MAX.into()),
                    };
                    if v < min || v > max {
                        return Err(format!("{path}: default {v} out of range"));
                    }
                    v.to_string()
                }
                "float64" => {
                    let v: f64 = d.unwrap_or("0").parse().map_err(|_| format!("{path}: bad float default"))?;
                    format!("{v:?}")
                }
                "string" => match d {
                    None | Some("null") => "String::new()".into(),
                    Some(q) => {
                        let s = unquote(q)?;
                        if s.is_empty() {
                            "String::new()".into()
                        } else {
                            format!("String::from({s:?})")
                        }
                    }
                },
                "uuid" => "Uuid::ZERO".into(),
                _ => "Bytes::new()".into(),
            }
        };
        let default = if optional {
            if d == Some("null") || base == "records" && d.is_none() {
                "None".to_string()
            } else {
                format!("Some({inner_default})")
            }
        } else {
            if d == Some("null") {
                return Err(format!("{path}: default null for a field that is never nullable"));
            }
            inner_default.clone()
        };
        let std_default = default == "None"
            || !optional
                && matches!(default.as_str(), "0" | "false" | "0.0" | "String::new()" | "Bytes::new()" | "Vec::new()" | "Uuid::ZERO")
            || !optional && is_struct && !array;
        Ok(FieldInfo {
            ident,
            path,
            base,
            is_struct,
            array,
            optional,
            rust_ty,
            present,
            regular,
            tagged,
            nullable,
            flex_expr,
            flex_set,
            default,
            std_default,
        })
    }

    /// An expression true when `self.<field>` differs from its default.
    fn non_default(&self, fi: &FieldInfo, recv: &str) -> String {
        let x = format!("{recv}.{}", fi.ident);
        if fi.default == "None" {
            return format!("{x}.is_some()");
        }
        if !fi.optional && !fi.array {
            match fi.base.as_str() {
                "bool" => return if fi.default == "true" { format!("!{x}") } else { x },
                "float64" => return format!("{x}.to_bits() != ({}f64).to_bits()", fi.default),
                "string" | "bytes" if fi.default.ends_with("::new()") => return format!("!{x}.is_empty()"),
                _ => {}
            }
        }
        if fi.default == "Vec::new()" {
            return format!("!{x}.is_empty()");
        }
        format!("{x} != {}", fi.default)
    }

    fn min_len_at(&self, fields: &[Field], v: i16, path: &str, depth: usize) -> Result<usize, String> {
        if depth > 32 {
            return Err(format!("{path}: structs nest too deeply (recursive?)"));
        }
        let mut n = 0;
        for f in fields {
            let fi = self.info(path, f)?;
            if !fi.regular.has(v) {
                continue;
            }
            let flex = fi.flex_set.has(v);
            n += if fi.array {
                if flex {
                    1
                } else {
                    4
                }
            } else if fi.is_struct {
                if fi.nullable.has(v) {
                    1
                } else {
                    let def = self.structs.iter().find(|s| s.name == fi.base).ok_or("missing struct")?;
                    self.min_len_at(&def.fields, v, &def.path, depth + 1)?
                }
            } else {
                match fi.base.as_str() {
                    "bool" | "int8" => 1,
                    "int16" | "uint16" => 2,
                    "int32" | "uint32" => 4,
                    "int64" | "float64" => 8,
                    "uuid" => 16,
                    "string" => {
                        if flex {
                            1
                        } else {
                            2
                        }
                    }
                    _ => {
                        if flex {
                            1
                        } else {
                            4
                        }
                    }
                }
            };
        }
        if self.flexible.has(v) {
            n += 1;
        }
        Ok(n)
    }

    fn gen_struct(&self, out: &mut String, def: &StructDef, top: bool) -> Result<(), String> {
        let infos: Vec<(FieldInfo, &Field)> =
            def.fields.iter().map(|f| self.info(&def.path, f).map(|i| (i, f))).collect::<Result<_, _>>()?;
        let m = self.msg;
        let u = &def.usage;
        let all = |x: &VSet| x.and(u) == *u;
        let none = |x: &VSet| x.and(u).none();
        // ---- the type ----
        if top {
            let _ = write!(out, "/// {}", m.name);
            if let Some(k) = m.api_key {
                let _ = write!(out, " (API key {k})");
            }
            let _ = writeln!(out, ": versions {}, flexible versions {}.", m.valid, m.flexible);
            for a in &m.about {
                let _ = writeln!(out, "///{}{a}", if a.is_empty() { "" } else { " " });
            }
        } else if !def.about.is_empty() {
            let _ = writeln!(out, "/// {}", def.about);
        }
        let all_std = infos.iter().all(|(i, _)| i.std_default);
        let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq{})]", if all_std { ", Default" } else { "" });
        let _ = writeln!(out, "pub struct {} {{", def.name);
        for (fi, f) in &infos {
            let mut doc = f.about.clone();
            let mut notes = vec![format!("versions {}", f.versions)];
            if f.nullable != Versions::None {
                notes.push(format!("nullable {}", f.nullable));
            }
            if let Some(t) = f.tag {
                notes.push(format!("tag {t} in {}", f.tagged));
            }
            if let Some(d) = &f.default {
                notes.push(format!("default {d}"));
            }
            if f.ignorable {
                notes.push("ignorable".into());
            }
            if !doc.is_empty() && !doc.ends_with('.') {
                doc.push('.');
            }
            let _ = writeln!(out, "    /// {}{}({}).", doc, if doc.is_empty() { "" } else { " " }, notes.join(", "));
            let _ = writeln!(out, "    pub {}: {},", fi.ident, fi.rust_ty);
        }
        let _ = writeln!(out, "    /// Tagged fields this version does not know, kept so they round-trip.");
        let _ = writeln!(out, "    pub unknown_tagged_fields: Vec<RawTaggedField>,");
        let _ = writeln!(out, "}}\n");
        if !all_std {
            let _ = writeln!(out, "impl Default for {} {{", def.name);
            let _ = writeln!(out, "    fn default() -> Self {{");
            let _ = writeln!(out, "        {} {{", def.name);
            for (fi, _) in &infos {
                let _ = writeln!(out, "            {}: {},", fi.ident, fi.default);
            }
            let _ = writeln!(out, "            unknown_tagged_fields: Vec::new(),");
            let _ = writeln!(out, "        }}\n    }}\n}}\n");
        }

        let can_flex = !self.flexible.none();
        let mut tagged: Vec<(u32, &FieldInfo)> = Vec::new();
        for (fi, f) in &infos {
            if let Some(t) = f.tag {
                if !none(&fi.tagged) {
                    if tagged.iter().any(|(x, _)| *x == t) {
                        return Err(format!("{}: duplicate tag {t}", fi.path));
                    }
                    tagged.push((t, fi));
                }
            }
        }
        tagged.sort_by_key(|(t, _)| *t);
        let tag_cond = |fi: &FieldInfo| -> String {
            let c = fi.tagged.cond_within(u);
            let nd = self.non_default(fi, "self");
            if c == "true" {
                nd
            } else {
                format!("{c} && {nd}")
            }
        };

        // ---- Codec ----
        let _ = writeln!(out, "impl Codec for {} {{", def.name);
        // enc
        let _ = writeln!(
            out,
            "    fn enc<B: BufMut>(&self, buf: &mut B, version: i16, flex: bool, _field: &'static str) -> Result<(), EncodeError> {{"
        );
        let mut blocks = Vec::new();
        for (fi, f) in &infos {
            let stmt =
                field_stmt(fi, u, "self.{x}.enc(buf, version, {fx}, {p})?;", "s::enc_opt(&self.{x}, {nc}, buf, version, {fx}, {p})?;");
            let reg = fi.regular.cond_within(u);
            let check = !f.ignorable && !all(&fi.present);
            let nd = self.non_default(fi, "self");
            let err = |pre: &str| format!("if {pre}{nd} {{\n    return Err(s::not_in_version({:?}, version));\n}}", fi.path);
            if check && fi.present.and(u) == fi.regular.and(u) {
                blocks.push(Block { cond: reg, body: vec![stmt], otherwise: vec![err("")] });
            } else {
                blocks.push(Block::new(reg, stmt));
                if check {
                    match fi.present.not().cond_within(u).as_str() {
                        "false" => {}
                        "true" => blocks.push(Block::new("true".into(), err(""))),
                        c => blocks.push(Block::new("true".into(), err(&format!("{c} && ")))),
                    }
                }
            }
        }
        emit_blocks(out, blocks);
        let unknown_err = format!("return Err(s::not_in_version({:?}, version));", format!("{}.unknown_tagged_fields", def.path));
        if can_flex {
            let _ = writeln!(out, "        if flex {{");
            for (t, fi) in &tagged {
                let _ = writeln!(out, "            let t{t} = {};", tag_cond(fi));
            }
            let count = tag_count(&tagged);
            let _ = writeln!(
                out,
                "            let {}w = s::TaggedWriter::start(buf, &self.unknown_tagged_fields, {count});",
                if tagged.is_empty() { "" } else { "mut " }
            );
            for (t, fi) in &tagged {
                let _ = writeln!(out, "            if t{t} {{");
                let _ = writeln!(out, "                w.field({t}, &self.{}, version, flex, {:?})?;", fi.ident, fi.path);
                let _ = writeln!(out, "            }}");
            }
            let _ = writeln!(out, "            w.finish();");
            let _ = writeln!(out, "        }} else if !self.unknown_tagged_fields.is_empty() {{\n            {unknown_err}\n        }}");
        } else {
            let _ = writeln!(out, "        if !self.unknown_tagged_fields.is_empty() {{\n            {unknown_err}\n        }}");
        }
        let _ = writeln!(out, "        Ok(())\n    }}\n");

        // enc_len
        let _ = writeln!(out, "    fn enc_len(&self, version: i16, flex: bool, _field: &'static str) -> Result<usize, EncodeError> {{");
        let _ = writeln!(out, "        let mut n = 0;");
        let mut blocks = Vec::new();
        for (fi, _) in &infos {
            let stmt =
                field_stmt(fi, u, "n += self.{x}.enc_len(version, {fx}, {p})?;", "n += s::len_opt(&self.{x}, {nc}, version, {fx}, {p})?;");
            blocks.push(Block::new(fi.regular.cond_within(u), stmt));
        }
        emit_blocks(out, blocks);
        if can_flex {
            let _ = writeln!(out, "        if flex {{");
            for (t, fi) in &tagged {
                let _ = writeln!(out, "            let t{t} = {};", tag_cond(fi));
            }
            let count = tag_count(&tagged);
            let _ = writeln!(out, "            n += s::tagged_len(&self.unknown_tagged_fields, {count});");
            for (t, fi) in &tagged {
                let _ = writeln!(out, "            if t{t} {{");
                let _ = writeln!(out, "                n += s::tagged_field_len({t}, &self.{}, version, flex, {:?})?;", fi.ident, fi.path);
                let _ = writeln!(out, "            }}");
            }
            let _ = writeln!(out, "        }}");
        }
        let _ = writeln!(out, "        Ok(n)\n    }}\n");

        // dec
        let _ =
            writeln!(out, "    fn dec(r: &mut Reader<'_>, version: i16, flex: bool, _field: &'static str) -> Result<Self, DecodeError> {{");
        let _ = writeln!(out, "        let mut this = Self::default();");
        let mut blocks = Vec::new();
        for (fi, _) in &infos {
            let stmt =
                field_stmt(fi, u, "this.{x} = Codec::dec(r, version, {fx}, {p})?;", "this.{x} = s::dec_opt(r, {nc}, version, {fx}, {p})?;");
            blocks.push(Block::new(fi.regular.cond_within(u), stmt));
        }
        emit_blocks(out, blocks);
        if can_flex {
            let _ = writeln!(out, "        if flex {{");
            let tpath = format!("{}.tagged_fields", def.path);
            if tagged.is_empty() {
                let _ = writeln!(out, "            this.unknown_tagged_fields = s::read_tagged(r, {tpath:?}, |_, _| Ok(false))?;");
            } else {
                let _ = writeln!(out, "            this.unknown_tagged_fields = s::read_tagged(r, {tpath:?}, |tag, r| {{");
                let _ = writeln!(out, "                match tag {{");
                for (t, fi) in &tagged {
                    let c = fi.tagged.cond_within(u);
                    let guard = if c == "true" { String::new() } else { format!(" if {c}") };
                    let _ = writeln!(
                        out,
                        "                    {t}{guard} => this.{} = Codec::dec(r, version, flex, {:?})?,",
                        fi.ident, fi.path
                    );
                }
                let _ = writeln!(out, "                    _ => return Ok(false),");
                let _ = writeln!(out, "                }}");
                let _ = writeln!(out, "                Ok(true)");
                let _ = writeln!(out, "            }})?;");
            }
            let _ = writeln!(out, "        }}");
        }
        let _ = writeln!(out, "        Ok(this)\n    }}\n");

        // min_len
        let _ = writeln!(out, "    fn min_len(version: i16, _flex: bool) -> usize {{");
        let mut arms: Vec<(i16, i16, usize)> = Vec::new();
        for v in self.lo..=self.hi {
            let n = self.min_len_at(&def.fields, v, &def.path, 0)?;
            match arms.last_mut() {
                Some(last) if last.2 == n => last.1 = v,
                _ => arms.push((v, v, n)),
            }
        }
        if arms.len() == 1 {
            let _ = writeln!(out, "        {}", arms[0].2);
        } else {
            let _ = writeln!(out, "        match version {{");
            let last = arms.len() - 1;
            for (i, (a, b, n)) in arms.iter().enumerate() {
                let pat = if i == last {
                    "_".to_string()
                } else if a == b {
                    a.to_string()
                } else if i == 0 {
                    format!("..={b}")
                } else {
                    format!("{a}..={b}")
                };
                let _ = writeln!(out, "            {pat} => {n},");
            }
            let _ = writeln!(out, "        }}");
        }
        let _ = writeln!(out, "    }}\n}}\n");

        if def.nullable {
            let _ = writeln!(out, "s::nullable_struct!({});\n", def.name);
        }

        // ---- Random ----
        let _ = writeln!(out, "#[cfg(any(test, feature = \"proptest\"))]");
        let _ = writeln!(out, "impl s::Random for {} {{", def.name);
        let _ = writeln!(out, "    fn random(g: &mut s::Gen, version: i16, flex: bool) -> Self {{");
        let _ = writeln!(out, "        let mut this = Self::default();");
        let mut blocks = Vec::new();
        for (fi, _) in &infos {
            let val = if fi.optional {
                let nc = fi.nullable.cond_within(&fi.present.and(u));
                if nc == "false" {
                    format!("Some(s::Random::random(g, version, {}))", fi.flex_expr)
                } else {
                    format!("g.opt({nc}, |g| s::Random::random(g, version, {}))", fi.flex_expr)
                }
            } else {
                format!("s::Random::random(g, version, {})", fi.flex_expr)
            };
            blocks.push(Block::new(fi.present.cond_within(u), format!("this.{} = {val};", fi.ident)));
        }
        emit_blocks(out, blocks);
        if can_flex {
            let _ = writeln!(out, "        if flex {{\n            this.unknown_tagged_fields = g.unknown_tags();\n        }}");
        }
        let _ = writeln!(out, "        this\n    }}\n}}\n");
        Ok(())
    }

    fn gen_file(&self, file: &str) -> Result<String, String> {
        let m = self.msg;
        let mut out = String::new();
        let _ = writeln!(out, "// Generated by rill-protocol-gen from schema/{file}. Do not edit.\n");
        let _ = writeln!(out, "#![allow(unused_imports, unused_variables, unused_mut, clippy::field_reassign_with_default)]\n");
        let _ = writeln!(out, "use bytes::{{BufMut, Bytes}};\n");
        let _ = writeln!(out, "use crate::api_key::ApiKey;");
        let _ = writeln!(out, "use crate::codec::{{RawTaggedField, Reader, Uuid}};");
        let _ = writeln!(out, "use crate::error::{{DecodeError, EncodeError}};");
        let _ = writeln!(out, "use crate::message::support::{{self as s, Codec}};");
        let _ = writeln!(out, "use crate::message::{{Message, Request, Response, VersionRange}};\n");
        for (i, def) in self.structs.iter().enumerate() {
            self.gen_struct(&mut out, def, i == 0)?;
        }
        // ---- Message ----
        let _ = writeln!(out, "impl Message for {} {{", m.name);
        let _ = writeln!(out, "    const NAME: &'static str = {:?};", m.name);
        let _ = writeln!(out, "    const VERSIONS: VersionRange = VersionRange::new({}, {});", self.lo, self.hi);
        let flex_min = self.flexible.runs().first().map(|r| r.0);
        let _ = writeln!(
            out,
            "    const FLEXIBLE_MIN: Option<i16> = {};\n",
            flex_min.map(|v| format!("Some({v})")).unwrap_or_else(|| "None".into())
        );
        let _ = writeln!(out, "    fn encode<B: BufMut>(&self, buf: &mut B, version: i16) -> Result<(), EncodeError> {{");
        let _ = writeln!(out, "        s::encode_message(self, buf, version)\n    }}\n");
        let _ = writeln!(out, "    fn encoded_len(&self, version: i16) -> Result<usize, EncodeError> {{");
        let _ = writeln!(out, "        s::encoded_len_message(self, version)\n    }}\n");
        let _ = writeln!(out, "    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self, DecodeError> {{");
        let _ = writeln!(out, "        s::decode_message(r, version, {:?})\n    }}\n}}\n", m.kind.word());
        let api = api_name(m);
        match m.kind {
            Kind::Request => {
                let resp = format!("{api}Response");
                let _ = writeln!(out, "impl Request for {} {{", m.name);
                let _ = writeln!(out, "    const API_KEY: ApiKey = ApiKey::{};", const_ident(&api));
                let _ = writeln!(out, "    type Response = super::{}::{resp};\n}}\n", snake_case(&resp));
            }
            Kind::Response => {
                let _ = writeln!(out, "impl Response for {} {{", m.name);
                let _ = writeln!(out, "    const API_KEY: ApiKey = ApiKey::{};\n}}\n", const_ident(&api));
            }
            _ => {}
        }
        let _ = writeln!(out, "impl {} {{", m.name);
        let _ = writeln!(out, "    /// A proptest strategy for values valid at `version`.");
        let _ = writeln!(out, "    #[cfg(any(test, feature = \"proptest\"))]");
        let _ = writeln!(out, "    pub fn arbitrary(version: i16) -> impl proptest::strategy::Strategy<Value = Self> {{");
        let _ = writeln!(out, "        crate::message::arbitrary::strategy(version)\n    }}\n}}");
        Ok(out)
    }
}

/// The count of present known tagged fields, from the `t<tag>` flags.
fn tag_count(tagged: &[(u32, &FieldInfo)]) -> String {
    if tagged.is_empty() {
        return "0".into();
    }
    tagged.iter().map(|(t, _)| format!("usize::from(t{t})")).collect::<Vec<_>>().join(" + ")
}

/// The statement for one regular field: `plain` when the value is written as
/// it is (non-optional, or null allowed wherever the field is regular),
/// `opt` when nullability depends on the version. Placeholders: `{x}` the
/// field, `{fx}` its flexible flag, `{p}` its path, `{nc}` its nullable condition.
fn field_stmt(fi: &FieldInfo, usage: &VSet, plain: &str, opt: &str) -> String {
    let as_is = !fi.optional || fi.regular.minus(&fi.nullable).and(usage).none();
    let t = if as_is { plain } else { opt };
    t.replace("{x}", &fi.ident)
        .replace("{fx}", &fi.flex_expr)
        .replace("{p}", &format!("{:?}", fi.path))
        .replace("{nc}", &fi.nullable.cond_within(&fi.regular.and(usage)))
}

/// Statements run when `cond` holds (`otherwise` when it does not).
struct Block {
    cond: String,
    body: Vec<String>,
    otherwise: Vec<String>,
}

impl Block {
    fn new(cond: String, stmt: String) -> Block {
        Block { cond, body: vec![stmt], otherwise: Vec::new() }
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// Writes blocks at function-body indent, merging neighbours with the same condition.
fn emit_blocks(out: &mut String, blocks: Vec<Block>) {
    let mut merged: Vec<Block> = Vec::new();
    for b in blocks {
        match merged.last_mut() {
            Some(last) if last.cond == b.cond => {
                last.body.extend(b.body);
                last.otherwise.extend(b.otherwise);
            }
            _ => merged.push(b),
        }
    }
    const I: &str = "        ";
    const II: &str = "            ";
    for b in merged {
        let body: String = b.body.iter().map(|s| indent(s, II)).collect();
        let other: String = b.otherwise.iter().map(|s| indent(s, II)).collect();
        match b.cond.as_str() {
            "true" => out.push_str(&b.body.iter().map(|s| indent(s, I)).collect::<String>()),
            "false" => out.push_str(&b.otherwise.iter().map(|s| indent(s, I)).collect::<String>()),
            c => {
                if b.otherwise.is_empty() {
                    let _ = write!(out, "{I}if {c} {{\n{body}{I}}}\n");
                } else if let [single] = b.otherwise.as_slice() {
                    let _ = write!(out, "{I}if {c} {{\n{body}{I}}} else {}", indent(single, I).trim_start());
                } else {
                    let _ = write!(out, "{I}if {c} {{\n{body}{I}}} else {{\n{other}{I}}}\n");
                }
            }
        }
    }
}

fn api_name(m: &Message) -> String {
    m.name.strip_suffix("Request").or_else(|| m.name.strip_suffix("Response")).unwrap_or(&m.name).to_string()
}

/// Generates every Rust file from the schema files (name, contents).
pub fn generate(schema_files: &[(String, String)]) -> Result<Output, String> {
    let mut messages: Vec<(String, Message)> = Vec::new();
    let mut api_keys: Vec<ApiKeyDef> = Vec::new();
    for (name, text) in schema_files {
        if name == "api_keys.rschema" {
            api_keys = schema::parse_api_keys(text).map_err(|e| format!("{name}: {e}"))?;
        } else if name.ends_with(".rschema") {
            let m = schema::parse_message(text).map_err(|e| format!("{name}: {e}"))?;
            if format!("{}.rschema", snake_case(&m.name)) != *name {
                return Err(format!("{name}: file name does not match message {}", m.name));
            }
            messages.push((name.clone(), m));
        }
    }
    messages.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let mut out = Output::new();
    for (file, m) in &messages {
        let g = Gen::new(m).map_err(|e| format!("{file}: {e}"))?;
        let code = g.gen_file(file).map_err(|e| format!("{file}: {e}"))?;
        out.push((format!("src/messages/{}.rs", snake_case(&m.name)), code));
    }
    out.push(("src/messages/mod.rs".into(), gen_mod(&messages)?));
    out.push(("src/api_key.rs".into(), gen_api_key(&api_keys, &messages)?));
    out.push(("tests/message_round_trip/generated.rs".into(), gen_test_list(&messages)));
    out.sort();
    Ok(out)
}

/// Marker in the error returned when `rustfmt` cannot be run.
pub const NO_RUSTFMT: &str = "rustfmt is not available";

/// Formats Rust source with `rustfmt` (the workspace's configuration applies,
/// as with `cargo fmt`).
pub fn rustfmt(text: &str, config_dir: &std::path::Path) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into()))
        .args(["--edition", "2021", "--emit", "stdout"])
        .current_dir(config_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{NO_RUSTFMT}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt stdin")?;
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("rustfmt: {e}"))?;
    writer.join().map_err(|_| "rustfmt writer panicked")?.map_err(|e| format!("rustfmt: {e}"))?;
    if !out.status.success() {
        return Err(format!("rustfmt failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8(out.stdout).map_err(|_| "rustfmt output is not UTF-8".into())
}

/// [`generate`], then every file through [`rustfmt`].
pub fn generate_formatted(schema_files: &[(String, String)], config_dir: &std::path::Path) -> Result<Output, String> {
    let files = generate(schema_files)?;
    let handles: Vec<_> = files
        .chunks(files.len().div_ceil(2).max(1))
        .map(|chunk| {
            let chunk = chunk.to_vec();
            let dir = config_dir.to_path_buf();
            std::thread::spawn(move || chunk.into_iter().map(|(p, t)| rustfmt(&t, &dir).map(|t| (p, t))).collect::<Result<Vec<_>, _>>())
        })
        .collect();
    let mut out = Output::new();
    for h in handles {
        out.extend(h.join().map_err(|_| "formatter thread panicked")??);
    }
    out.sort();
    Ok(out)
}

fn gen_mod(messages: &[(String, Message)]) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(out, "// Generated by rill-protocol-gen from schema/*.rschema. Do not edit.\n");
    let _ = writeln!(out, "//! Every generated message: one module per message, top-level types re-exported here,");
    let _ = writeln!(out, "//! and [`RequestBody`] / [`ResponseBody`] to decode any request or response by API key.\n");
    let _ = writeln!(out, "use bytes::BufMut;\n");
    let _ = writeln!(out, "use crate::api_key::ApiKey;");
    let _ = writeln!(out, "use crate::codec::Reader;");
    let _ = writeln!(out, "use crate::error::{{DecodeError, DecodeErrorKind, EncodeError}};");
    let _ = writeln!(out, "use crate::message::Message;\n");
    for (_, m) in messages {
        let _ = writeln!(out, "pub mod {};", snake_case(&m.name));
    }
    let _ = writeln!(out);
    for (_, m) in messages {
        let _ = writeln!(out, "pub use {}::{};", snake_case(&m.name), m.name);
    }
    for (kind, enum_name) in [(Kind::Request, "RequestBody"), (Kind::Response, "ResponseBody")] {
        let word = kind.word();
        let list: Vec<&Message> = messages.iter().map(|(_, m)| m).filter(|m| m.kind == kind).collect();
        let mut list = list;
        list.sort_by_key(|m| m.api_key);
        let _ = writeln!(out, "\n/// Any {word} body this crate knows, by API key.");
        let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq)]");
        let _ = writeln!(out, "#[allow(clippy::large_enum_variant)]");
        let _ = writeln!(out, "pub enum {enum_name} {{");
        for m in &list {
            let _ = writeln!(out, "    {}({}),", api_name(m), m.name);
        }
        let _ = writeln!(out, "}}\n");
        let _ = writeln!(out, "impl {enum_name} {{");
        let _ = writeln!(out, "    pub fn api_key(&self) -> ApiKey {{\n        match self {{");
        for m in &list {
            let _ = writeln!(out, "            {enum_name}::{}(_) => ApiKey::{},", api_name(m), const_ident(&api_name(m)));
        }
        let _ = writeln!(out, "        }}\n    }}\n");
        let _ = writeln!(out, "    /// Decodes the {word} body of `api_key` at `version`. An API key this crate has no");
        let _ = writeln!(out, "    /// messages for is `DecodeErrorKind::InvalidValue` on field `{enum_name}.api_key`.");
        let _ = writeln!(out, "    pub fn decode(api_key: ApiKey, version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {{");
        let _ = writeln!(out, "        Ok(match api_key {{");
        for m in &list {
            let _ = writeln!(
                out,
                "            ApiKey::{} => {enum_name}::{}({}::decode(r, version)?),",
                const_ident(&api_name(m)),
                api_name(m),
                m.name
            );
        }
        let _ = writeln!(
            out,
            "            other => {{\n                return Err(DecodeError::new(DecodeErrorKind::InvalidValue {{ value: other.0.into() }}, \"{enum_name}.api_key\")\n                    .in_message(other.name(), version, {word:?}))\n            }}"
        );
        let _ = writeln!(out, "        }})\n    }}\n");
        let _ = writeln!(
            out,
            "    pub fn encode<B: BufMut>(&self, buf: &mut B, version: i16) -> Result<(), EncodeError> {{\n        match self {{"
        );
        for m in &list {
            let _ = writeln!(out, "            {enum_name}::{}(m) => m.encode(buf, version),", api_name(m));
        }
        let _ = writeln!(out, "        }}\n    }}\n");
        let _ = writeln!(out, "    pub fn encoded_len(&self, version: i16) -> Result<usize, EncodeError> {{\n        match self {{");
        for m in &list {
            let _ = writeln!(out, "            {enum_name}::{}(m) => m.encoded_len(version),", api_name(m));
        }
        let _ = writeln!(out, "        }}\n    }}\n}}");
        for m in &list {
            let _ = writeln!(
                out,
                "\nimpl From<{}> for {enum_name} {{\n    fn from(m: {}) -> Self {{\n        {enum_name}::{}(m)\n    }}\n}}",
                m.name,
                m.name,
                api_name(m)
            );
        }
    }
    Ok(out)
}

fn gen_api_key(keys: &[ApiKeyDef], messages: &[(String, Message)]) -> Result<String, String> {
    if keys.is_empty() {
        return Err("schema/api_keys.rschema is missing or empty".into());
    }
    let mut generated: BTreeMap<i16, &Message> = BTreeMap::new();
    for (_, m) in messages {
        if m.kind == Kind::Request {
            let k = m.api_key.ok_or_else(|| format!("{} has no api key", m.name))?;
            generated.insert(k, m);
            if !keys.iter().any(|d| d.key == k && d.name == api_name(m)) {
                return Err(format!("{}: api key {k} is not in api_keys.rschema under that name", m.name));
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "// Generated by rill-protocol-gen from schema/api_keys.rschema and schema/*_request.rschema. Do not edit.\n");
    let _ = writeln!(out, "//! API keys: an open newtype, so keys this crate does not know still round-trip.\n");
    let _ = writeln!(out, "use std::fmt;\n");
    let _ = writeln!(out, "use crate::message::VersionRange;\n");
    let _ = writeln!(out, "/// A Kafka API key. Unknown values are kept as they are.");
    let _ = writeln!(out, "#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]");
    let _ = writeln!(out, "pub struct ApiKey(pub i16);\n");
    let _ = writeln!(out, "impl ApiKey {{");
    for k in keys {
        let _ = writeln!(out, "    pub const {}: ApiKey = ApiKey({});", const_ident(&k.name), k.key);
    }
    let _ = writeln!(out, "\n    /// Every API key in the reference specs, in key order.");
    let _ = writeln!(out, "    pub const ALL: &'static [ApiKey] = &[");
    for k in keys {
        let _ = writeln!(out, "        ApiKey::{},", const_ident(&k.name));
    }
    let _ = writeln!(out, "    ];\n");
    let _ = writeln!(out, "    /// The API's name (`\"Fetch\"`), or `\"Unknown\"`.");
    let _ = writeln!(out, "    pub fn name(self) -> &'static str {{\n        match self.0 {{");
    for k in keys {
        let _ = writeln!(out, "            {} => {:?},", k.key, k.name);
    }
    let _ = writeln!(out, "            _ => \"Unknown\",\n        }}\n    }}\n");
    let _ = writeln!(out, "    /// Whether the key is in the reference specs.");
    let _ = writeln!(out, "    pub fn is_known(self) -> bool {{\n        self.name() != \"Unknown\"\n    }}\n");
    let _ = writeln!(out, "    /// The request versions this crate can encode and decode, for the APIs it has messages for.");
    let _ = writeln!(out, "    pub fn supported_versions(self) -> Option<VersionRange> {{\n        match self.0 {{");
    for (k, m) in &generated {
        let (lo, hi) = (m.valid.lowest().unwrap_or(0), m.valid.highest().unwrap_or(0));
        let _ = writeln!(out, "            {k} => Some(VersionRange::new({lo}, {hi})),");
    }
    let _ = writeln!(out, "            _ => None,\n        }}\n    }}\n");
    let _ = writeln!(out, "    /// The first flexible request version, for every known API that has one.");
    let _ = writeln!(out, "    pub fn flexible_min(self) -> Option<i16> {{\n        match self.0 {{");
    for k in keys {
        let f = match generated.get(&k.key) {
            Some(m) => m.flexible.lowest(),
            None => k.flexible.lowest(),
        };
        if let Some(f) = f {
            let _ = writeln!(out, "            {} => Some({f}),", k.key);
        }
    }
    let _ = writeln!(out, "            _ => None,\n        }}\n    }}\n");
    let _ = writeln!(out, "    /// Whether `version` of this API's request and response is flexible.");
    let _ = writeln!(
        out,
        "    pub fn is_flexible(self, version: i16) -> bool {{\n        self.flexible_min().is_some_and(|f| version >= f)\n    }}\n"
    );
    let _ = writeln!(out, "    /// Request header version: 2 if flexible, else 1; 0 only for ControlledShutdown v0.");
    let _ = writeln!(out, "    pub fn request_header_version(self, version: i16) -> i16 {{");
    let _ = writeln!(
        out,
        "        if self == ApiKey::CONTROLLED_SHUTDOWN && version == 0 {{\n            0\n        }} else if self.is_flexible(version) {{\n            2\n        }} else {{\n            1\n        }}\n    }}\n"
    );
    let _ = writeln!(out, "    /// Response header version: 1 if flexible, else 0; ApiVersions responses always use 0 (KIP-511).");
    let _ = writeln!(out, "    pub fn response_header_version(self, version: i16) -> i16 {{");
    let _ = writeln!(
        out,
        "        if self != ApiKey::API_VERSIONS && self.is_flexible(version) {{\n            1\n        }} else {{\n            0\n        }}\n    }}\n}}\n"
    );
    let _ = writeln!(out, "impl fmt::Debug for ApiKey {{\n    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{");
    let _ = writeln!(out, "        write!(f, \"ApiKey({{}} {{}})\", self.0, self.name())\n    }}\n}}\n");
    let _ = writeln!(out, "impl fmt::Display for ApiKey {{\n    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{");
    let _ = writeln!(
        out,
        "        if self.is_known() {{\n            f.write_str(self.name())\n        }} else {{\n            write!(f, \"Unknown({{}})\", self.0)\n        }}\n    }}\n}}"
    );
    Ok(out)
}

fn gen_test_list(messages: &[(String, Message)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "// Generated by rill-protocol-gen from schema/*.rschema. Do not edit.\n");
    let _ = writeln!(out, "round_trip_tests! {{");
    for (_, m) in messages {
        let _ = writeln!(out, "    {}: {},", snake_case(&m.name), m.name);
    }
    let _ = writeln!(out, "}}");
    out
}
