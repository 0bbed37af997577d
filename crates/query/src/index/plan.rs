//! A search statement as a query of a segment index (design §18.6). Every condition the index
//! answers exactly becomes the same condition there; the rest (undeclared json sub-keys) become
//! "every log", and the plan is marked inexact so that its hits are checked against the logs.

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, RegexQuery,
    TermQuery,
};
use tantivy::schema::{Field as IxField, IndexRecordOption};
use tantivy::Term;

use super::layout::{present_key, Layout, TAG_SEP};
use crate::matcher::{Matcher, Range, Tokens};
use crate::schema::Target;

/// A search statement as an index query.
pub struct Plan {
    /// The query; a superset of the matches when not `exact`.
    pub query: Box<dyn Query>,
    /// Whether its hits are exactly the logs the statement matches.
    pub exact: bool,
    /// Whether searching a few documents of a piece costs little: false when a condition
    /// (a wildcard over the term dictionary, a range of a key's numbers) finds all of the
    /// piece's documents before the first.
    pub blockwise: bool,
}

fn exact(query: Box<dyn Query>) -> Plan {
    Plan {
        query,
        exact: true,
        blockwise: true,
    }
}

fn everything_inexact() -> Plan {
    Plan {
        query: Box::new(AllQuery),
        exact: false,
        blockwise: true,
    }
}

/// `m` over the fields of `layout`.
pub fn plan(m: &Matcher, layout: &Layout) -> Plan {
    let mut p = plan_of(m, layout);
    p.blockwise = blockwise(m);
    p
}

/// Whether no condition of `m` reads a whole piece to find its first document.
fn blockwise(m: &Matcher) -> bool {
    match m {
        Matcher::All | Matcher::Exists(_) => true,
        Matcher::And(v) | Matcher::Or(v) => v.iter().all(blockwise),
        Matcher::Not(inner) => blockwise(inner),
        Matcher::Line(t) | Matcher::Text(_, _, t) => {
            // A phrase's tokens are terms; a lone `*` beside other tokens is not looked for.
            (t.phrase && t.tokens.len() > 1)
                || !(t.wildcards && needed_tokens(t).iter().any(|tok| tok.contains(['*', '?'])))
        }
        Matcher::Number(target, r) => *target == Target::Time || point(r).is_some(),
    }
}

/// The one number a range holds, when it is a single number (other than zero, whose two
/// signs are two terms).
fn point(r: &Range) -> Option<f64> {
    match (r.low, r.high) {
        (Some((a, true)), Some((b, true))) if a == b && a != 0.0 => Some(a),
        _ => None,
    }
}

fn plan_of(m: &Matcher, layout: &Layout) -> Plan {
    match m {
        Matcher::All => exact(Box::new(AllQuery)),
        Matcher::And(v) => {
            let parts: Vec<Plan> = v.iter().map(|m| plan_of(m, layout)).collect();
            let all_exact = parts.iter().all(|p| p.exact);
            Plan {
                query: Box::new(BooleanQuery::new(
                    parts.into_iter().map(|p| (Occur::Must, p.query)).collect(),
                )),
                exact: all_exact,
                blockwise: true,
            }
        }
        Matcher::Or(v) => {
            let parts: Vec<Plan> = v.iter().map(|m| plan_of(m, layout)).collect();
            if parts.iter().any(|p| !p.exact) {
                return everything_inexact();
            }
            exact(Box::new(BooleanQuery::new(
                parts
                    .into_iter()
                    .map(|p| (Occur::Should, p.query))
                    .collect(),
            )))
        }
        Matcher::Not(inner) => {
            let p = plan_of(inner, layout);
            if !p.exact {
                return everything_inexact();
            }
            exact(Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
                (Occur::MustNot, p.query),
            ])))
        }
        Matcher::Line(t) => match layout.line {
            Some(field) => exact(line_query(layout, field, t)),
            None => exact(Box::new(EmptyQuery)),
        },
        Matcher::Text(target, _, t) => match target {
            Target::Topic => exact(tokens_query(layout.topic, t, "")),
            Target::Source => exact(tokens_query(layout.source, t, "")),
            Target::Tag(k) => exact(tokens_query(layout.tags, t, &format!("{k}{TAG_SEP}"))),
            _ => match layout.keys.get(target).and_then(|f| f.text) {
                Some(field) => exact(tokens_query(field, t, "")),
                None => everything_inexact(),
            },
        },
        Matcher::Number(target, range) => match target {
            Target::Time => exact(time_range(layout.time, range)),
            _ => match layout.keys.get(target).and_then(|f| f.number) {
                Some(field) => exact(number_range(field, range)),
                None => everything_inexact(),
            },
        },
        Matcher::Exists(target) => match target {
            Target::Time | Target::Topic | Target::Source => exact(Box::new(AllQuery)),
            Target::Tag(k) => exact(term(layout.present, &format!("t:{k}"))),
            _ => match layout.keys.get(target) {
                Some(f) => exact(term(layout.present, &present_key(f))),
                None => everything_inexact(),
            },
        },
    }
}

fn term(field: IxField, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::Basic,
    ))
}

/// Characters written literally in a regular expression.
fn regex_char(c: char) -> String {
    match c {
        '\u{0}' => "\\x00".to_string(),
        c if c.is_alphanumeric() || c == '_' => c.to_string(),
        c if (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
        c => c.to_string(),
    }
}

/// A full-text condition: in the full-text field or in the field of a key whose values it
/// shares ([`Layout::line_shared`]). A phrase is within one value, so in one field; tokens
/// that need not be adjacent may each be in another.
fn line_query(layout: &Layout, line: IxField, t: &Tokens) -> Box<dyn Query> {
    if layout.line_shared.is_empty() {
        return tokens_query(line, t, "");
    }
    let fields: Vec<IxField> = std::iter::once(line)
        .chain(layout.line_shared.iter().map(|(_, f)| *f))
        .collect();
    let in_any = |t: &Tokens| -> Box<dyn Query> {
        Box::new(BooleanQuery::new(
            fields
                .iter()
                .map(|&f| (Occur::Should, tokens_query(f, t, "")))
                .collect(),
        ))
    };
    let needed = needed_tokens(t);
    if (t.phrase && t.tokens.len() > 1) || needed.len() <= 1 {
        return in_any(t);
    }
    Box::new(BooleanQuery::new(
        needed
            .into_iter()
            .map(|tok| {
                let one = Tokens {
                    tokens: vec![tok.clone()],
                    phrase: false,
                    wildcards: t.wildcards,
                };
                (Occur::Must, in_any(&one))
            })
            .collect(),
    ))
}

/// The tokens of a condition that are not a phrase that the index must find: a token of `*`
/// alone matches any token, which any other token of the condition already proves present,
/// so only alone does it need a pass over the whole term dictionary.
fn needed_tokens(t: &Tokens) -> Vec<&String> {
    let any = |tok: &&String| t.wildcards && tok.chars().all(|c| c == '*');
    if t.tokens.iter().all(|tok| any(&tok)) {
        t.tokens.iter().take(1).collect()
    } else {
        t.tokens.iter().filter(|tok| !any(tok)).collect()
    }
}

/// The tokens of a text condition on `field`, each prefixed with `prefix`.
fn tokens_query(field: IxField, t: &Tokens, prefix: &str) -> Box<dyn Query> {
    if t.tokens.is_empty() {
        return Box::new(EmptyQuery);
    }
    if t.phrase && t.tokens.len() > 1 {
        let terms = t
            .tokens
            .iter()
            .map(|tok| Term::from_field_text(field, &format!("{prefix}{tok}")))
            .collect();
        return Box::new(PhraseQuery::new(terms));
    }
    let parts: Vec<(Occur, Box<dyn Query>)> = needed_tokens(t)
        .into_iter()
        .map(|tok| {
            let q: Box<dyn Query> = if t.wildcards && tok.contains(['*', '?']) {
                let mut re: String = prefix.chars().map(regex_char).collect();
                for c in tok.chars() {
                    match c {
                        '*' => re.push_str(".*"),
                        '?' => re.push('.'),
                        c => re.push_str(&regex_char(c)),
                    }
                }
                match RegexQuery::from_pattern(&re, field) {
                    Ok(q) => Box::new(q),
                    Err(_) => Box::new(EmptyQuery),
                }
            } else {
                term(field, &format!("{prefix}{tok}"))
            };
            (Occur::Must, q)
        })
        .collect();
    if parts.len() == 1 {
        return parts
            .into_iter()
            .next()
            .map(|(_, q)| q)
            .unwrap_or(Box::new(EmptyQuery));
    }
    Box::new(BooleanQuery::new(parts))
}

fn bound<T>(b: Option<(f64, bool)>, term: impl Fn(f64) -> T) -> Bound<T> {
    match b {
        None => Bound::Unbounded,
        Some((v, true)) => Bound::Included(term(v)),
        Some((v, false)) => Bound::Excluded(term(v)),
    }
}

fn number_range(field: IxField, r: &Range) -> Box<dyn Query> {
    if let Some(v) = point(r) {
        // A term's postings, which seek, rather than a range's set of every document.
        return Box::new(TermQuery::new(
            Term::from_field_f64(field, v),
            IndexRecordOption::Basic,
        ));
    }
    if r.low.is_none() && r.high.is_none() {
        return Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_f64(field, f64::NEG_INFINITY)),
            Bound::Included(Term::from_field_f64(field, f64::INFINITY)),
        ));
    }
    Box::new(RangeQuery::new(
        bound(r.low, |v| Term::from_field_f64(field, v)),
        bound(r.high, |v| Term::from_field_f64(field, v)),
    ))
}

/// A range of times (whole seconds) with bounds that may have fractions.
fn time_range(field: IxField, r: &Range) -> Box<dyn Query> {
    let low = match r.low {
        None => i64::MIN,
        Some((v, inc)) => {
            let c = v.ceil();
            if !inc && c == v {
                c as i64 + 1
            } else {
                c as i64
            }
        }
    };
    let high = match r.high {
        None => i64::MAX,
        Some((v, inc)) => {
            let f = v.floor();
            if !inc && f == v {
                f as i64 - 1
            } else {
                f as i64
            }
        }
    };
    if low > high {
        return Box::new(EmptyQuery);
    }
    time_between(field, low, high)
}

/// Logs with a time in `[low, high]`.
pub fn time_between(field: IxField, low: i64, high: i64) -> Box<dyn Query> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_i64(field, low)),
        Bound::Included(Term::from_field_i64(field, high)),
    ))
}
