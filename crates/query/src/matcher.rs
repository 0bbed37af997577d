//! A search statement bound to a schema (design §18.2): every field it names resolved, every
//! term cut into tokens by that field's analyzer, every number parsed for its field's type. A
//! [`Matcher`] then tells whether one log matches.

use std::cell::OnceCell;
use std::cmp::Ordering;

use crate::analyze::{wildcard_match, Analyzer};
use crate::doc::Doc;
use crate::schema::{FieldType, Schema, Target};
use crate::search::{CmpOp, Expr, TermKind};
use crate::QueryError;

/// A search statement ready to test logs.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// Every log.
    All,
    /// All of these.
    And(Vec<Matcher>),
    /// Any of these.
    Or(Vec<Matcher>),
    /// Not this.
    Not(Box<Matcher>),
    /// Tokens in the full-text index.
    Line(Tokens),
    /// Tokens in one text field.
    Text(Target, Analyzer, Tokens),
    /// A number of one numeric field in a range.
    Number(Target, Range),
    /// The field is present.
    Exists(Target),
}

/// The tokens a text condition looks for.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The tokens, folded; with wildcards when `wildcards`.
    pub tokens: Vec<String>,
    /// Whether they must be adjacent and in order.
    pub phrase: bool,
    /// Whether `*` and `?` in them are wildcards.
    pub wildcards: bool,
}

/// A numeric range with optional, inclusive or exclusive bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Lower bound and whether it is included.
    pub low: Option<(f64, bool)>,
    /// Upper bound and whether it is included.
    pub high: Option<(f64, bool)>,
}

impl Range {
    fn contains(&self, v: f64) -> bool {
        let above = match self.low {
            Some((l, inc)) => v > l || (inc && v == l),
            None => true,
        };
        let below = match self.high {
            Some((h, inc)) => v < h || (inc && v == h),
            None => true,
        };
        above && below
    }
}

fn parse_number(key: &str, text: &str) -> Result<f64, QueryError> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            QueryError::Invalid(format!(
                "'{text}' is not a number (a comparison on '{key}')"
            ))
        })
}

impl Matcher {
    /// Binds `expr` to `schema`. Fails when it names a field that is not indexed, compares a
    /// text field as a number, or searches full text without a full-text index.
    pub fn compile(expr: &Expr, schema: &Schema) -> Result<Matcher, QueryError> {
        Ok(match expr {
            Expr::All => Matcher::All,
            Expr::And(v) => Matcher::And(
                v.iter()
                    .map(|e| Matcher::compile(e, schema))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Or(v) => Matcher::Or(
                v.iter()
                    .map(|e| Matcher::compile(e, schema))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Not(e) => Matcher::Not(Box::new(Matcher::compile(e, schema)?)),
            Expr::Text { key: None, value } => {
                let Some(line) = &schema.line else {
                    return Err(QueryError::Invalid(format!(
                        "'{}': full-text search needs a full-text index (line) in the index configuration; search a field with key:value",
                        value.text
                    )));
                };
                Matcher::Line(tokens(&line.analyzer, &value.text, value.kind))
            }
            Expr::Text {
                key: Some(key),
                value,
            } => {
                let (target, kind, analyzer) = resolve(schema, key)?;
                match kind {
                    FieldType::Text | FieldType::Json => {
                        let t = tokens(&analyzer, &value.text, value.kind);
                        Matcher::Text(target, analyzer, t)
                    }
                    FieldType::Long | FieldType::Double => match value.text.parse::<f64>() {
                        Ok(v) if v.is_finite() => Matcher::Number(
                            target,
                            Range {
                                low: Some((v, true)),
                                high: Some((v, true)),
                            },
                        ),
                        // SLS finds nothing for a word on a numeric field.
                        _ => Matcher::Not(Box::new(Matcher::All)),
                    },
                }
            }
            Expr::Compare { key, op, number } => {
                let (target, _) = numeric(schema, key)?;
                let v = parse_number(key, number)?;
                let range = match op {
                    CmpOp::Gt => Range {
                        low: Some((v, false)),
                        high: None,
                    },
                    CmpOp::Ge => Range {
                        low: Some((v, true)),
                        high: None,
                    },
                    CmpOp::Lt => Range {
                        low: None,
                        high: Some((v, false)),
                    },
                    CmpOp::Le => Range {
                        low: None,
                        high: Some((v, true)),
                    },
                    CmpOp::Eq => Range {
                        low: Some((v, true)),
                        high: Some((v, true)),
                    },
                };
                Matcher::Number(target, range)
            }
            Expr::Range { key, low, high } => {
                let (target, _) = numeric(schema, key)?;
                let bound =
                    |b: &Option<(String, bool)>| -> Result<Option<(f64, bool)>, QueryError> {
                        b.as_ref()
                            .map(|(t, inc)| Ok((parse_number(key, t)?, *inc)))
                            .transpose()
                    };
                Matcher::Number(
                    target,
                    Range {
                        low: bound(low)?,
                        high: bound(high)?,
                    },
                )
            }
            Expr::Exists { key } => Matcher::Exists(resolve(schema, key)?.0),
        })
    }

    /// Whether `doc` matches.
    pub fn matches(&self, doc: &Doc, schema: &Schema) -> bool {
        self.eval(doc, schema, &OnceCell::new())
    }

    /// [`Matcher::matches`], with the tokens of the log's full text cut once for all of the
    /// statement's full-text terms.
    fn eval(&self, doc: &Doc, schema: &Schema, line_tokens: &OnceCell<Vec<Vec<String>>>) -> bool {
        match self {
            Matcher::All => true,
            Matcher::And(v) => v.iter().all(|m| m.eval(doc, schema, line_tokens)),
            Matcher::Or(v) => v.iter().any(|m| m.eval(doc, schema, line_tokens)),
            Matcher::Not(m) => !m.eval(doc, schema, line_tokens),
            Matcher::Line(t) => {
                let Some(line) = &schema.line else {
                    return false;
                };
                let values = line_tokens.get_or_init(|| {
                    doc.contents
                        .iter()
                        .filter(|(k, _)| line.covers(k))
                        .map(|(_, v)| cut(&line.analyzer, clip(v, schema.max_text_len)))
                        .collect()
                });
                t.found_in(values)
            }
            Matcher::Text(target, analyzer, t) => match doc.value(target) {
                Some(v) => t.found_in(&[cut(analyzer, clip(&v, schema.max_text_len))]),
                None => false,
            },
            Matcher::Number(target, range) => doc
                .value(target)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .is_some_and(|v| range.contains(v)),
            Matcher::Exists(target) => doc.value(target).is_some(),
        }
    }
}

/// The tokens of one value.
fn cut(analyzer: &Analyzer, v: &str) -> Vec<String> {
    let mut out = Vec::new();
    analyzer.for_each_token(v, |t| out.push(t.into_owned()));
    out
}

fn resolve(schema: &Schema, key: &str) -> Result<(Target, FieldType, Analyzer), QueryError> {
    schema.resolve(key).ok_or_else(|| {
        QueryError::Invalid(format!(
            "key ({key}) is not config as key value config, if symbol : is in your log, please wrap : with quotation mark \""
        ))
    })
}

fn numeric(schema: &Schema, key: &str) -> Result<(Target, FieldType), QueryError> {
    let (target, kind, _) = resolve(schema, key)?;
    match kind {
        FieldType::Long | FieldType::Double => Ok((target, kind)),
        _ => Err(QueryError::Invalid(format!(
            "key ({key}) is not config as numeric column: a range or comparison needs a long or double index"
        ))),
    }
}

/// At most `max` bytes of `v`, cut at a character boundary.
pub(crate) fn clip(v: &str, max: usize) -> &str {
    if v.len() <= max {
        return v;
    }
    let mut end = max;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

fn tokens(analyzer: &Analyzer, text: &str, kind: TermKind) -> Tokens {
    let wildcards = kind == TermKind::Word;
    Tokens {
        tokens: analyzer.query_tokens(text, wildcards),
        phrase: kind == TermKind::Phrase,
        wildcards,
    }
}

impl Tokens {
    fn token_matches(&self, want: &str, have: &str) -> bool {
        if self.wildcards && want.contains(['*', '?']) {
            wildcard_match(want, have)
        } else {
            want.cmp(have) == Ordering::Equal
        }
    }

    /// Whether the tokens are found in the tokens of `values`: each in any value, or for a
    /// phrase all adjacent and in order within one value.
    fn found_in(&self, values: &[Vec<String>]) -> bool {
        if self.tokens.is_empty() {
            return false;
        }
        if self.phrase {
            return values.iter().any(|have| {
                have.windows(self.tokens.len())
                    .any(|w| w.iter().zip(&self.tokens).all(|(h, t)| t == h))
            });
        }
        self.tokens.iter().all(|t| {
            values
                .iter()
                .any(|have| have.iter().any(|h| self.token_matches(t, h)))
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::doc::LogAddress;
    use crate::schema::{Field, JsonKeys, LineIndex};
    use crate::search::parse;

    fn text_field(case_sensitive: bool) -> Field {
        Field {
            kind: FieldType::Text,
            analyzer: Analyzer::new(
                crate::analyze::DEFAULT_SEPARATORS.chars(),
                case_sensitive,
                false,
            ),
            alias: None,
        }
    }

    pub(crate) fn schema() -> Schema {
        let mut fields = BTreeMap::new();
        fields.insert("path".to_string(), text_field(false));
        fields.insert("code".to_string(), text_field(true));
        let mut ua = text_field(false);
        ua.alias = Some("agent".into());
        fields.insert("ua".to_string(), ua);
        for (k, kind) in [("status", FieldType::Long), ("rt", FieldType::Double)] {
            fields.insert(
                k.to_string(),
                Field {
                    kind,
                    analyzer: Analyzer::default_rules(),
                    alias: None,
                },
            );
        }
        fields.insert(
            "extra".to_string(),
            Field {
                kind: FieldType::Json,
                analyzer: Analyzer::default_rules(),
                alias: None,
            },
        );
        let mut json = BTreeMap::new();
        let mut keys = BTreeMap::new();
        keys.insert(
            "user.id".to_string(),
            Field {
                kind: FieldType::Long,
                analyzer: Analyzer::default_rules(),
                alias: None,
            },
        );
        json.insert(
            "extra".to_string(),
            JsonKeys {
                keys,
                index_all: true,
            },
        );
        Schema {
            line: Some(LineIndex {
                analyzer: Analyzer::default_rules(),
                include: None,
                exclude: ["secret".to_string()].into_iter().collect(),
            }),
            fields,
            json,
            max_text_len: 2048,
        }
    }

    fn doc(contents: &[(&str, &str)]) -> Doc {
        Doc {
            address: LogAddress {
                shard: 0,
                cursor: 0,
                index: 0,
            },
            time: 1_700_000_000,
            time_ns: None,
            topic: "web".into(),
            source: "10.0.0.1".into(),
            tags: vec![("env".into(), "prod".into())],
            contents: contents
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn matches(q: &str, d: &Doc) -> bool {
        let s = schema();
        Matcher::compile(&parse(q).unwrap(), &s)
            .unwrap()
            .matches(d, &s)
    }

    #[test]
    fn terms_fields_and_case() {
        let d = doc(&[
            ("path", "/api/Users/7"),
            ("code", "ERR_DB"),
            ("status", "500"),
            ("rt", "0.25"),
            ("ua", "curl/8.0"),
            ("secret", "hunter2"),
            ("msg", "Connection refused by upstream"),
        ]);
        for yes in [
            "path:/api/users",
            "path:users",
            "users",
            "CONNECTION",
            "#\"refused by\"",
            "code:ERR_DB",
            "status:500",
            "status >= 500",
            "status in [500 501)",
            "rt < 0.3",
            "agent:curl*",
            "ua:cu?l",
            "__topic__:web",
            "__tag__:env:prod",
            "__source__:10.0.0.1",
            "path:* and not nothing",
            "status:500 or status:404 and code:x",
            "__time__ = 1700000000",
        ] {
            assert!(matches(yes, &d), "{yes}");
        }
        for no in [
            "code:err_db",
            "hunter2",
            "#\"by refused\"",
            "status:abc",
            "status > 500",
            "status in (500 600]",
            "rt >= 0.3",
            "not path:users",
            "ua:curl/9*",
            "(status:500 or status:404) and code:x",
        ] {
            assert!(!matches(no, &d), "{no}");
        }
    }

    #[test]
    fn json_sub_keys() {
        let d = doc(&[(
            "extra",
            r#"{"user":{"id":42,"name":"Alice"},"region":"us-west-1"}"#,
        )]);
        assert!(matches("extra.user.id > 40", &d));
        assert!(!matches("extra.user.id < 40", &d));
        assert!(matches("extra.user.name:alice", &d));
        assert!(matches("extra.region:us-west-1", &d));
        assert!(!matches("extra.region:west", &d));
        assert!(!matches("extra.missing:x", &d));
    }

    #[test]
    fn unindexed_fields_and_numeric_misuse_are_refused() {
        let s = schema();
        for bad in [
            "nokey:1",
            "Path:x",
            "path > 3",
            "status > abc",
            "extra2.x:1",
        ] {
            let e = Matcher::compile(&parse(bad).unwrap(), &s).unwrap_err();
            assert!(matches!(e, QueryError::Invalid(_)), "{bad}: {e}");
        }
        let no_line = Schema { line: None, ..s };
        let e = Matcher::compile(&parse("word").unwrap(), &no_line).unwrap_err();
        assert!(e.to_string().contains("full-text"), "{e}");
    }
}
