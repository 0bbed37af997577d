//! How a logstore's index configuration maps onto the fields of a segment index (design
//! §18.6), and how one log becomes one indexed document.
//!
//! Text is cut by Cairn's own analyzers, registered as the tokenizers of the index's text
//! fields, so the index holds exactly the tokens a [`Matcher`](crate::Matcher) compares: one
//! analyzer, two paths.

use std::collections::HashMap;

use tantivy::schema::{
    Field as IxField, IndexRecordOption, NumericOptions, Schema as IxSchema, SchemaBuilder,
    TextFieldIndexing, TextOptions, FAST, INDEXED, STRING,
};
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};
use tantivy::{Index, TantivyDocument};

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
    /// The term of `present` saying that a log has a value for it.
    present: String,
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
    /// Text keys the full-text index covers with the same analyzer as their own: their
    /// (first) value's tokens are only in the key's field, which full-text conditions search
    /// too.
    pub line_shared: Vec<(String, IxField)>,
    /// The tokenizer of each text field, by name.
    tokenizers: Vec<(String, CairnTokenizer)>,
}

/// A text field whose tokens `tokenizer` makes, registered as `name`.
fn tokens_field(
    b: &mut SchemaBuilder,
    tokenizers: &mut Vec<(String, CairnTokenizer)>,
    name: &str,
    tokenizer: CairnTokenizer,
) -> IxField {
    let tokenizer_name = format!("cairn-{name}");
    let options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(&tokenizer_name)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    tokenizers.push((tokenizer_name, tokenizer));
    b.add_text_field(name, options)
}

impl Layout {
    /// The fields for `schema`.
    pub fn new(schema: &Schema) -> Layout {
        let mut b = SchemaBuilder::new();
        let cursor = b.add_u64_field("cursor", FAST);
        let pos = b.add_u64_field("pos", FAST);
        let time = b.add_i64_field("time", INDEXED | FAST);
        let time_ns = b.add_u64_field("time_ns", FAST);
        let mut tz = Vec::new();
        let plain = || CairnTokenizer::new(Analyzer::default_rules(), false);
        let line = schema.line.as_ref().map(|l| {
            let t = CairnTokenizer::new(l.analyzer.clone(), false);
            tokens_field(&mut b, &mut tz, "line", t)
        });
        let topic = tokens_field(&mut b, &mut tz, "topic", plain());
        let source = tokens_field(&mut b, &mut tz, "source", plain());
        let topic_raw = b.add_text_field("topic_raw", STRING | FAST);
        let source_raw = b.add_text_field("source_raw", STRING | FAST);
        let tags = tokens_field(
            &mut b,
            &mut tz,
            "tags",
            CairnTokenizer::new(Analyzer::default_rules(), true),
        );
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
                    Some(tokens_field(
                        &mut b,
                        &mut tz,
                        &format!("k{i}"),
                        CairnTokenizer::new(analyzer.clone(), false),
                    )),
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
                    present: format!("k:{}", column.field_id()),
                },
            );
        }
        let mut line_shared: Vec<(String, IxField)> = Vec::new();
        if let Some(l) = &schema.line {
            for (name, f) in &schema.fields {
                let key = keys.get(&Target::Content(name.clone()));
                if let Some(text) = key
                    .filter(|_| f.kind == FieldType::Text)
                    .and_then(|k| k.text)
                {
                    if l.covers(name) && f.analyzer == l.analyzer {
                        line_shared.push((name.clone(), text));
                    }
                }
            }
        }
        line_shared.sort_by(|a, b| a.0.cmp(&b.0));
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
            line_shared,
            tokenizers: tz,
        }
    }

    /// Registers the tokenizers of the text fields with `index`, before it is written to.
    pub fn register(&self, index: &Index) {
        for (name, t) in &self.tokenizers {
            index
                .tokenizers()
                .register(name, TextAnalyzer::from(t.clone()));
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
            for (i, (k, v)) in doc.contents.iter().enumerate() {
                if !line.covers(k) {
                    continue;
                }
                // The first value of a shared key is in the key's own field.
                let shared = self.line_shared.iter().any(|(n, _)| n == k)
                    && doc.contents[..i].iter().all(|(k2, _)| k2 != k);
                if !shared {
                    d.add_text(field, self.clip(v));
                }
            }
        }
        d.add_text(self.topic, self.clip(&doc.topic));
        d.add_text(self.source, self.clip(&doc.source));
        d.add_text(self.topic_raw, &doc.topic);
        d.add_text(self.source_raw, &doc.source);
        let mut seen_tags = Vec::new();
        let mut buf = String::new();
        for (k, v) in &doc.tags {
            if seen_tags.contains(&k) {
                continue;
            }
            seen_tags.push(k);
            buf.clear();
            buf.push_str("t:");
            buf.push_str(k);
            d.add_text(self.present, &buf);
            buf.clear();
            buf.push_str(k);
            buf.push(TAG_SEP);
            buf.push_str(self.clip(v));
            d.add_text(self.tags, &buf);
        }
        for (target, f) in &self.keys {
            let Some(v) = doc.value(target) else { continue };
            d.add_text(self.present, &f.present);
            if let Some(text) = f.text {
                let v = self.clip(&v);
                d.add_text(text, v);
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
    f.present.clone()
}

/// A tantivy tokenizer cutting text with one of Cairn's analyzers. A tagged one reads
/// `key` [`TAG_SEP`] `value` and makes `key` [`TAG_SEP`] `token` of each token of the value.
/// Tokens keep their allocations from one text to the next.
#[derive(Clone, Debug)]
pub struct CairnTokenizer {
    analyzer: Analyzer,
    tagged: bool,
    tokens: Vec<Token>,
}

impl CairnTokenizer {
    fn new(analyzer: Analyzer, tagged: bool) -> Self {
        CairnTokenizer {
            analyzer,
            tagged,
            tokens: Vec::new(),
        }
    }
}

/// The tokens of one text.
pub struct CairnTokens<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

impl Tokenizer for CairnTokenizer {
    type TokenStream<'a> = CairnTokens<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CairnTokens<'a> {
        let (prefix, value) = match text.split_once(TAG_SEP) {
            Some((key, value)) if self.tagged => (&text[..key.len() + TAG_SEP.len_utf8()], value),
            _ => ("", text),
        };
        let tokens = &mut self.tokens;
        let mut n = 0;
        self.analyzer.for_each_token(value, |t| {
            if n == tokens.len() {
                tokens.push(Token::default());
            }
            let slot = &mut tokens[n];
            slot.text.clear();
            slot.text.push_str(prefix);
            slot.text.push_str(&t);
            slot.position = n;
            slot.position_length = 1;
            slot.offset_from = 0;
            slot.offset_to = 0;
            n += 1;
        });
        CairnTokens {
            tokens: &mut tokens[..n],
            next: 0,
        }
    }
}

impl TokenStream for CairnTokens<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}
