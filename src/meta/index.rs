//! A logstore's index configuration as stored (design §17): what is indexed and how text is
//! cut into tokens. The wire form (SLS's index JSON) is read and written by the HTTP edge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The index of a logstore: full text (`line`) and/or per-field (`keys`) indexes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct IndexConfig {
    /// The full-text index over every field (or the included ones).
    #[serde(default)]
    pub line: Option<LineIndex>,
    /// Field indexes by field name.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyIndex>,
    /// Longest field value indexed and kept for analysis, in bytes (`max_text_len`).
    #[serde(default)]
    pub max_text_len: Option<u32>,
    /// `log_reduce` (kept, not acted upon).
    #[serde(default)]
    pub log_reduce: Option<bool>,
    /// `log_reduce_white_list` (kept).
    #[serde(default)]
    pub log_reduce_white_list: Option<Vec<String>>,
    /// `log_reduce_black_list` (kept).
    #[serde(default)]
    pub log_reduce_black_list: Option<Vec<String>>,
    /// `scan_index` (kept).
    #[serde(default)]
    pub scan_index: Option<bool>,
    /// When the configuration was created or last changed, unix seconds.
    #[serde(default)]
    pub last_modify_time: i64,
    /// Members Cairn does not know, kept as sent and answered back.
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// How text is cut and compared: the separators, case and Chinese segmentation.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TextRules {
    /// Separator characters, each one character.
    pub token: Vec<String>,
    /// Whether matching keeps case (`caseSensitive`; not given: no).
    #[serde(default)]
    pub case_sensitive: Option<bool>,
    /// Whether Chinese text is segmented into words (`chn`; not given: no).
    #[serde(default)]
    pub chn: Option<bool>,
}

/// The full-text index.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LineIndex {
    /// Tokens, case and segmentation.
    pub text: TextRules,
    /// Only these fields are in the full-text index (`include_keys`).
    #[serde(default)]
    pub include_keys: Option<Vec<String>>,
    /// These fields are not (`exclude_keys`).
    #[serde(default)]
    pub exclude_keys: Option<Vec<String>>,
    /// Members Cairn does not know, kept as sent and answered back.
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The type of a field index.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Tokens of text.
    Text,
    /// A 64-bit integer.
    Long,
    /// A double.
    Double,
    /// JSON, with indexes of its own sub-keys.
    Json,
}

impl KeyType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Text => "text",
            KeyType::Long => "long",
            KeyType::Double => "double",
            KeyType::Json => "json",
        }
    }
}

/// How one field, or one sub-key of a json field, is indexed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FieldIndex {
    /// Its type (a json sub-key is text, long or double).
    pub kind: KeyType,
    /// Tokens, case and segmentation (text and json).
    #[serde(default)]
    pub text: Option<TextRules>,
    /// Another name for it in queries (`alias`).
    #[serde(default)]
    pub alias: Option<String>,
    /// Whether its values are kept for analysis (`doc_value`; not given: no).
    #[serde(default)]
    pub doc_value: Option<bool>,
    /// Members Cairn does not know, kept as sent and answered back.
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A field index: the field's own rules, and for json fields those of its sub-keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyIndex {
    /// The field's rules.
    pub field: FieldIndex,
    /// json fields: indexes of sub-keys, by their path (`json_keys`).
    #[serde(default)]
    pub json_keys: BTreeMap<String, FieldIndex>,
    /// json fields: whether every text sub-key is indexed (`index_all`).
    #[serde(default)]
    pub index_all: Option<bool>,
    /// json fields: how deep sub-keys are indexed (`max_depth`).
    #[serde(default)]
    pub max_depth: Option<i64>,
}

#[cfg(test)]
impl KeyIndex {
    /// A field of type `kind` with doc values and no other settings.
    pub fn of_kind(kind: KeyType) -> KeyIndex {
        KeyIndex {
            field: FieldIndex {
                kind,
                text: None,
                alias: None,
                doc_value: Some(true),
                extra: Default::default(),
            },
            json_keys: Default::default(),
            index_all: None,
            max_depth: None,
        }
    }
}
