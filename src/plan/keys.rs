//! Unknown keys: every key serde ignored while reading the mapping, turned into a diagnostic that
//! points at the key and suggests the closest known one.
//!
//! serde's `deny_unknown_fields` stops at the first typo; collecting the ignored paths with
//! `serde_ignored` instead lets `check` report all of them in one go. The known keys of each
//! table are read from the raw structs themselves, so this list can never drift from them.

use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::Diagnostic;
use super::raw::{
    RawCheck, RawColumnSpec, RawEnrich, RawField, RawLookup, RawMapping, RawNotify, RawRun,
    RawSource, RawStructure, RawTarget,
};

/// One step of a path into the mapping tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// The steps from the root to an ignored key, without serde's internal `Spanned` wrappers.
pub fn segments(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    let mut out = Vec::new();
    collect(path, &mut out);
    out
}

fn collect(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            collect(parent, out);
            out.push(Segment::Index(*index));
        }
        Path::Map { parent, key } => {
            collect(parent, out);
            if !key.starts_with("$__serde_spanned_private") {
                out.push(Segment::Key(key.clone()));
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => collect(parent, out),
    }
}

/// A diagnostic for an unknown key at `path` in the parsed document `doc`.
pub fn unknown_key(doc: &Spanned<DeTable<'_>>, path: &[Segment]) -> Diagnostic {
    let Some((Segment::Key(key), parent)) = path.split_last() else {
        return Diagnostic::new(None, "the mapping has a value of an unexpected shape");
    };
    let table = describe(parent);
    let known = known_keys(parent);
    let d = Diagnostic::new(
        key_span(doc, path),
        format!("unknown key `{key}` in {table}"),
    )
    .label("not a known key");
    match known {
        Some(known) => {
            let suggestion = d.clone().suggest(key, known.iter().copied());
            if suggestion.help.is_some() {
                suggestion
            } else {
                d.help(format!("the keys allowed here are: {}", known.join(", ")))
            }
        }
        None => d,
    }
}

fn describe(parent: &[Segment]) -> String {
    if parent.is_empty() {
        return "the top level of the mapping".to_string();
    }
    let mut s = String::new();
    for seg in parent {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    format!("`[{s}]`")
}

/// The keys allowed in the table at `parent`, when it is one of the mapping's tables.
fn known_keys(parent: &[Segment]) -> Option<&'static [&'static str]> {
    use Segment::{Index, Key};
    let k = |s: &Segment, name: &str| matches!(s, Key(x) if x == name);
    match parent {
        [] => Some(fields_of::<RawMapping>()),
        [a] if k(a, "source") => Some(fields_of::<RawSource>()),
        [a] if k(a, "run") => Some(fields_of::<RawRun>()),
        [a] if k(a, "notify") => Some(fields_of::<RawNotify>()),
        [a, Key(_)] if k(a, "lookups") => Some(fields_of::<RawLookup>()),
        [a, Index(_)] if k(a, "enrich") => Some(fields_of::<RawEnrich>()),
        [a, Key(_)] if k(a, "targets") => Some(fields_of::<RawTarget>()),
        [a, Key(_), b, Key(_)] if k(a, "targets") && k(b, "columns") => {
            Some(fields_of::<RawColumnSpec>())
        }
        [a, Key(_)] if k(a, "structures") => Some(fields_of::<RawStructure>()),
        [a, Key(_), b, Key(_)] if k(a, "structures") && k(b, "fields") => {
            Some(fields_of::<RawField>())
        }
        [a, Key(_), b, Index(_)] if k(a, "structures") && k(b, "checks") => {
            Some(fields_of::<RawCheck>())
        }
        _ => None,
    }
}

/// The span of the key at `path` (or of the closest table found on the way).
fn key_span(doc: &Spanned<DeTable<'_>>, path: &[Segment]) -> Option<Range<usize>> {
    let mut table: &DeTable<'_> = doc.get_ref();
    let mut best = Some(doc.span());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if let Some(v) = value {
                    match v.get_ref() {
                        DeValue::Table(t) => table = t,
                        _ => return best,
                    }
                }
                let (key, v) = table.iter().find(|(key, _)| key.get_ref() == k)?;
                best = Some(key.span());
                value = Some(v);
            }
            Segment::Index(i) => match value.map(|v| v.get_ref()) {
                Some(DeValue::Array(items)) => {
                    let item = items.get(*i)?;
                    best = Some(item.span());
                    value = Some(item);
                }
                _ => return best,
            },
        }
    }
    best
}

/// The field names serde accepts for `T`, read from its derived `Deserialize` impl.
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldCatcher(&mut fields));
    fields
}

struct FieldCatcher<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldCatcher<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only structs are introspected"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("introspection only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn introspection_reads_the_raw_struct_fields() {
        let f = fields_of::<RawField>();
        assert!(f.contains(&"type"));
        assert!(f.contains(&"enum"));
        assert!(f.contains(&"max_length"));
        assert!(fields_of::<RawMapping>().contains(&"structures"));
    }
}
