//! How a logstore's index configuration maps onto the fields of a segment index (design
//! §18.6), and how one log becomes one indexed document.
//!
//! Text is cut by Cairn's own analyzers and handed over as pre-tokenized text, so the index
//! holds exactly the tokens a [`Matcher`](crate::Matcher) compares: one analyzer, two paths.

use std::collections::HashMap;

use tantivy::schema::{
    Field as IxField, IndexRecordOption, NumericOptions, Schema as IxSchema, SchemaBuilder,
    TextFieldIndexing, TextOptions, FAST, INDEXED, STRING,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::TantivyDocument;

use crate::analyze::Analyzer;
use crate::doc::Doc;
use crate::schema::{FieldType, Schema, Target};

/// Separates a tag's key from its tokens in the `tags` field.
pub const TAG_SEP: char = '\u{0}';

/// The index fields of one indexed key (a field, or a declared json sub-key).
#[derive(Clone, Debug)]
pub struct KeyFields {
    /// Its type.
    pub kind: FieldType,
    /// Its analyzer (text and json).
    pub analyzer: Analyzer,
    /// Tokens with positions (text and json).
    pub text: Option<IxField>,
    /// The value as a double, searchable by range (long and double).
    pub number: Option<IxField>,
    /// The value as a column: text (clipped), i64 (long) or f64 (double).
    pub column: IxField,
}

/// The fields of a segment index for one index configuration.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The index schema.
    pub schema: IxSchema,
    /// Cursor of the log's LogGroup (column).
    pub cursor: IxField,
    /// Position of the log in its LogGroup (column).
    pub pos: IxField,
    /// The log's time, unix seconds (searchable and a column).
    pub time: IxField,
    /// Its nanosecond part plus one, 0 when it has none (column), for ordering.
    pub time_ns: IxField,
    /// Full-text tokens.
    pub line: Option<IxField>,
    /// Topic tokens.
    pub topic: IxField,
    /// Source tokens.
    pub source: IxField,
    /// The topic as one term and a column.
    pub topic_raw: IxField,
    /// The source as one term and a column.
    pub source_raw: IxField,
    /// Tag tokens, each `key` [`TAG_SEP`] `token`.
    pub tags: IxField,
    /// Which keys a log has: `t:<key>` for tags, [`present_key`] for indexed keys.
    pub present: IxField,
    /// Indexed keys.
    pub keys: HashMap<Target, KeyFields>,
    /// Longest value indexed.
    pub max_text_len: usize,
    /// The full-text index's analyzer and coverage.
    line_index: Option<crate::schema::LineIndex>,
}

fn tokens_options() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    )
}

impl Layout {
    /// The fields for `schema`.
    pub fn new(schema: &Schema) -> Layout {
        let mut b = SchemaBuilder::new();
        let cursor = b.add_u64_field("cursor", FAST);
        let pos = b.add_u64_field("pos", FAST);
        let time = b.add_i64_field("time", INDEXED | FAST);
        let time_ns = b.add_u64_field("time_ns", FAST);
        let line = schema
            .line
            .as_ref()
            .map(|_| b.add_text_field("line", tokens_options()));
        let topic = b.add_text_field("topic", tokens_options());
        let source = b.add_text_field("source", tokens_options());
        let topic_raw = b.add_text_field("topic_raw", STRING | FAST);
        let source_raw = b.add_text_field("source_raw", STRING | FAST);
        let tags = b.add_text_field("tags", tokens_options());
        let present = b.add_text_field("present", STRING);
        let mut keys = HashMap::new();
        let mut targets: Vec<(Target, FieldType, Analyzer)> = Vec::new();
        for (name, f) in &schema.fields {
            targets.push((Target::Content(name.clone()), f.kind, f.analyzer.clone()));
        }
        for (field, json) in &schema.json {
            for (path, f) in &json.keys {
                let target =
                    Target::Json(field.clone(), path.split('.').map(String::from).collect());
                targets.push((target, f.kind, f.analyzer.clone()));
            }
        }
        for (i, (target, kind, analyzer)) in targets.into_iter().enumerate() {
            let (text, number, column) = match kind {
                FieldType::Text | FieldType::Json => (
                    Some(b.add_text_field(&format!("k{i}"), tokens_options())),
                    None,
                    b.add_text_field(&format!("k{i}_col"), TextOptions::default().set_fast(None)),
                ),
                FieldType::Long => (
                    None,
                    Some(
                        b.add_f64_field(&format!("k{i}"), NumericOptions::default().set_indexed()),
                    ),
                    b.add_i64_field(&format!("k{i}_col"), FAST),
                ),
                FieldType::Double => {
                    let f = b.add_f64_field(&format!("k{i}"), INDEXED | FAST);
                    (None, Some(f), f)
                }
            };
            keys.insert(
                target,
                KeyFields {
                    kind,
                    analyzer,
                    text,
                    number,
                    column,
                },
            );
        }
        Layout {
            schema: b.build(),
            cursor,
            pos,
            time,
            time_ns,
            line,
            topic,
            source,
            topic_raw,
            source_raw,
            tags,
            present,
            keys,
            max_text_len: schema.max_text_len,
            line_index: schema.line.clone(),
        }
    }

    /// The indexed document of `doc`.
    pub fn document(&self, doc: &Doc) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_u64(self.cursor, doc.address.cursor);
        d.add_u64(self.pos, u64::from(doc.address.index));
        d.add_i64(self.time, i64::from(doc.time));
        d.add_u64(self.time_ns, doc.time_ns.map_or(0, |n| u64::from(n) + 1));
        if let (Some(field), Some(line)) = (self.line, &self.line_index) {
            for (k, v) in &doc.contents {
                if line.covers(k) {
                    d.add_pre_tokenized_text(field, tokenized(&line.analyzer, self.clip(v), None));
                }
            }
        }
        let plain = Analyzer::default_rules();
        d.add_pre_tokenized_text(self.topic, tokenized(&plain, self.clip(&doc.topic), None));
        d.add_pre_tokenized_text(self.source, tokenized(&plain, self.clip(&doc.source), None));
        d.add_text(self.topic_raw, &doc.topic);
        d.add_text(self.source_raw, &doc.source);
        let mut seen_tags = Vec::new();
        for (k, v) in &doc.tags {
            if seen_tags.contains(&k) {
                continue;
            }
            seen_tags.push(k);
            d.add_text(self.present, format!("t:{k}"));
            d.add_pre_tokenized_text(self.tags, tokenized(&plain, self.clip(v), Some(k)));
        }
        for (target, f) in &self.keys {
            let Some(v) = doc.value(target) else { continue };
            d.add_text(self.present, present_key(f));
            if let Some(text) = f.text {
                let v = self.clip(&v);
                d.add_pre_tokenized_text(text, tokenized(&f.analyzer, v, None));
                d.add_text(f.column, v);
                continue;
            }
            let n = v.trim().parse::<f64>().ok().filter(|n| !n.is_nan());
            if let (Some(field), Some(n)) = (f.number, n) {
                d.add_f64(field, n);
            }
            if f.kind == FieldType::Long {
                if let Ok(l) = v.trim().parse::<i64>() {
                    d.add_i64(f.column, l);
                }
            }
        }
        d
    }

    /// At most `max_text_len` bytes of `v`, cut at a character boundary.
    pub fn clip<'a>(&self, v: &'a str) -> &'a str {
        crate::matcher::clip(v, self.max_text_len)
    }
}

/// The term of `present` saying that a log has a value for the indexed key `f`.
pub fn present_key(f: &KeyFields) -> String {
    format!("k:{}", f.column.field_id())
}

/// `v` cut by `analyzer`, each token prefixed with `tag` and [`TAG_SEP`] when given.
fn tokenized(analyzer: &Analyzer, v: &str, tag: Option<&String>) -> PreTokenizedString {
    let mut tokens = Vec::new();
    analyzer.for_each_token(v, |t| {
        let text = match tag {
            Some(k) => format!("{k}{TAG_SEP}{t}"),
            None => t.into_owned(),
        };
        tokens.push(Token {
            offset_from: 0,
            offset_to: 0,
            position: tokens.len(),
            text,
            position_length: 1,
        });
    });
    PreTokenizedString {
        text: String::new(),
        tokens,
    }
}
