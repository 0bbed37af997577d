//! What a logstore's index makes searchable and analysable (design §18.1): the full-text index,
//! the field indexes with their types and aliases, and the fields every log has.

use std::collections::{BTreeMap, HashSet};

use crate::analyze::Analyzer;

/// The type of an indexed field or json sub-key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Text, cut into tokens.
    Text,
    /// A 64-bit integer.
    Long,
    /// A double.
    Double,
    /// JSON: searched through its sub-keys, analysed as text.
    Json,
}

/// One indexed field, or one indexed sub-key of a json field.
#[derive(Clone, Debug)]
pub struct Field {
    /// Its type.
    pub kind: FieldType,
    /// How its text is cut (text and json).
    pub analyzer: Analyzer,
    /// Its other name in queries.
    pub alias: Option<String>,
}

/// A json field's sub-keys.
#[derive(Clone, Debug, Default)]
pub struct JsonKeys {
    /// Indexed sub-keys by their dotted path.
    pub keys: BTreeMap<String, Field>,
    /// Whether every text sub-key is searchable (`index_all`).
    pub index_all: bool,
}

/// The full-text index.
#[derive(Clone, Debug)]
pub struct LineIndex {
    /// How text is cut.
    pub analyzer: Analyzer,
    /// Only these fields (none: all).
    pub include: Option<HashSet<String>>,
    /// Not these fields.
    pub exclude: HashSet<String>,
}

impl LineIndex {
    /// Whether the field `key` is in the full-text index.
    pub fn covers(&self, key: &str) -> bool {
        self.include.as_ref().is_none_or(|i| i.contains(key)) && !self.exclude.contains(key)
    }
}

/// A logstore's index, as the query layer sees it.
#[derive(Clone, Debug)]
pub struct Schema {
    /// The full-text index.
    pub line: Option<LineIndex>,
    /// Field indexes by field name.
    pub fields: BTreeMap<String, Field>,
    /// Sub-keys of json fields, by field name.
    pub json: BTreeMap<String, JsonKeys>,
    /// Longest value indexed and analysed, in bytes.
    pub max_text_len: usize,
}

/// SLS's default `max_text_len`.
pub const DEFAULT_MAX_TEXT_LEN: usize = 2048;

/// A field a query names, resolved against the schema.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `__time__`: the log's time, in seconds.
    Time,
    /// `__topic__`.
    Topic,
    /// `__source__`.
    Source,
    /// `__tag__:<name>`.
    Tag(String),
    /// A field of the log's contents.
    Content(String),
    /// A sub-key of a json field: the field and the path within it.
    Json(String, Vec<String>),
}

impl Schema {
    /// The field a query calls `name` (a field, an alias, a json sub-key path or a special
    /// field), with its type and analyzer; none when it is not indexed.
    pub fn resolve(&self, name: &str) -> Option<(Target, FieldType, Analyzer)> {
        let text = || Analyzer::default_rules();
        match name {
            "__time__" => return Some((Target::Time, FieldType::Long, text())),
            "__topic__" => return Some((Target::Topic, FieldType::Text, text())),
            "__source__" => return Some((Target::Source, FieldType::Text, text())),
            _ => {}
        }
        if let Some(tag) = name.strip_prefix("__tag__:") {
            return Some((Target::Tag(tag.to_string()), FieldType::Text, text()));
        }
        if let Some(f) = self.fields.get(name) {
            return Some((
                Target::Content(name.to_string()),
                f.kind,
                f.analyzer.clone(),
            ));
        }
        if let Some((real, f)) = self
            .fields
            .iter()
            .find(|(_, f)| f.alias.as_deref() == Some(name))
        {
            return Some((Target::Content(real.clone()), f.kind, f.analyzer.clone()));
        }
        // A json sub-key: the longest json field name that prefixes the path.
        for (field, keys) in self.json.iter().rev() {
            let Some(rest) = name
                .strip_prefix(field.as_str())
                .and_then(|r| r.strip_prefix('.'))
            else {
                continue;
            };
            let path = || rest.split('.').map(String::from).collect();
            if let Some(sub) = keys.keys.get(rest) {
                return Some((
                    Target::Json(field.clone(), path()),
                    sub.kind,
                    sub.analyzer.clone(),
                ));
            }
            if keys.index_all {
                let analyzer = self
                    .fields
                    .get(field)
                    .map_or_else(text, |f| f.analyzer.clone());
                return Some((
                    Target::Json(field.clone(), path()),
                    FieldType::Text,
                    analyzer,
                ));
            }
        }
        None
    }
}
