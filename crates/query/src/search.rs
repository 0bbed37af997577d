//! The SLS search statement (design §18.2): what comes before the first `|` of a query.
//!
//! ```text
//! query    := or EOF | '*' EOF | EOF
//! or       := not ( OR not )*
//! not      := and ( NOT and )*                 a NOT b  =  a AND NOT b
//! and      := unary ( [AND] unary )*           juxtaposition is AND
//! unary    := NOT unary | '(' or ')' | atom
//! atom     := '*' | key ':' value | key op number | key IN range | term
//! key      := word | "quoted" | __tag__ ':' word
//! value    := '*' | "quoted" | #"phrase" | word ( ':' word )*      (adjacent, no spaces)
//! op       := '>' | '>=' | '<' | '<=' | '='
//! range    := ( '[' | '(' ) bound bound ( ']' | ')' )             bound: number or '*'
//! ```
//!
//! Precedence from tightest: `:`, quotes, parentheses, `and`, `not`, `or`. Keywords are
//! case-insensitive. A term is a word or a quoted string; a word may hold `*` and `?` wildcards,
//! never as its first character.

use std::fmt;

/// A parsed search statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Every log (`*` or an empty statement).
    All,
    /// All of these.
    And(Vec<Expr>),
    /// Any of these.
    Or(Vec<Expr>),
    /// Not this.
    Not(Box<Expr>),
    /// Text in the full-text index (`key` none) or in a field.
    Text {
        /// The field, as written; none for full text.
        key: Option<String>,
        /// What to look for.
        value: Term,
    },
    /// A numeric comparison on a field.
    Compare {
        /// The field.
        key: String,
        /// The comparison.
        op: CmpOp,
        /// The number, as written.
        number: String,
    },
    /// A numeric range on a field.
    Range {
        /// The field.
        key: String,
        /// Lower bound as written (none: unbounded) and whether it is included.
        low: Option<(String, bool)>,
        /// Upper bound as written (none: unbounded) and whether it is included.
        high: Option<(String, bool)>,
    },
    /// The field is present (`key: *`).
    Exists {
        /// The field.
        key: String,
    },
}

/// What a text condition looks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    /// The text as written (unquoted).
    pub text: String,
    /// How it is matched.
    pub kind: TermKind,
}

/// How a term's text is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermKind {
    /// Every token present; `*` and `?` are wildcards.
    Word,
    /// Every token present, taken literally (`"…"`).
    Quoted,
    /// The tokens adjacent and in order (`#"…"`).
    Phrase,
}

/// A numeric comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=`
    Eq,
}

/// Why a search statement does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset in the statement.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "syntax error at position {}: {}", self.at, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Parses a search statement.
pub fn parse(statement: &str) -> Result<Expr, SyntaxError> {
    let tokens = lex(statement)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end: statement.len(),
        depth: 0,
    };
    if p.tokens.is_empty() {
        return Ok(Expr::All);
    }
    let expr = p.or()?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(t.at, format!("unexpected {}", t.kind)));
    }
    if expr.conditions() > MAX_CONDITIONS {
        return Err(p.error_at(
            0,
            format!("the statement has more than {MAX_CONDITIONS} conditions"),
        ));
    }
    Ok(expr)
}

/// The most conditions a search statement may have.
pub const MAX_CONDITIONS: usize = 1024;

impl Expr {
    /// How many conditions (terms, comparisons, ranges, existence tests) it has.
    pub fn conditions(&self) -> usize {
        match self {
            Expr::All => 0,
            Expr::And(v) | Expr::Or(v) => v.iter().map(Expr::conditions).sum(),
            Expr::Not(e) => e.conditions(),
            _ => 1,
        }
    }
}

/// How deep parentheses and `not`s may nest.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Colon,
    Op(CmpOp),
    Quoted(String),
    Phrase(String),
    Word(String),
    Range {
        low: Option<(String, bool)>,
        high: Option<(String, bool)>,
    },
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Colon => f.write_str("':'"),
            Tok::Op(_) => f.write_str("comparison"),
            Tok::Quoted(s) => write!(f, "\"{s}\""),
            Tok::Phrase(s) => write!(f, "#\"{s}\""),
            Tok::Word(w) => write!(f, "'{w}'"),
            Tok::Range { .. } => f.write_str("range"),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: Tok,
    at: usize,
    end: usize,
}

fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '(' | ')' | ':' | '"' | '<' | '>' | '='))
}

fn lex(s: &str) -> Result<Vec<Token>, SyntaxError> {
    let b = s.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let at = i;
        let prev_is_in = matches!(out.last(), Some(Token { kind: Tok::Word(w), .. }) if w.eq_ignore_ascii_case("in"));
        let kind = match c {
            '[' | '(' if prev_is_in => {
                let (range, next) = lex_range(s, i)?;
                i = next;
                range
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ':' => {
                i += 1;
                Tok::Colon
            }
            '>' | '<' => {
                let eq = b.get(i + 1) == Some(&b'=');
                i += 1 + usize::from(eq);
                Tok::Op(match (c, eq) {
                    ('>', false) => CmpOp::Gt,
                    ('>', true) => CmpOp::Ge,
                    ('<', false) => CmpOp::Lt,
                    _ => CmpOp::Le,
                })
            }
            '=' => {
                i += 1;
                Tok::Op(CmpOp::Eq)
            }
            '"' => {
                let (text, next) = lex_quoted(s, i)?;
                i = next;
                Tok::Quoted(text)
            }
            '#' if b.get(i + 1) == Some(&b'"') => {
                let (text, next) = lex_quoted(s, i + 1)?;
                i = next;
                Tok::Phrase(text)
            }
            _ => {
                let len: usize = s[i..]
                    .chars()
                    .take_while(|&c| is_word_char(c))
                    .map(char::len_utf8)
                    .sum();
                i += len;
                Tok::Word(s[at..i].to_string())
            }
        };
        out.push(Token { kind, at, end: i });
    }
    Ok(out)
}

/// A quoted string starting at the quote at `i`: `\"` and `\\` are escapes.
fn lex_quoted(s: &str, i: usize) -> Result<(String, usize), SyntaxError> {
    let mut text = String::new();
    let mut chars = s[i + 1..].char_indices();
    while let Some((j, c)) = chars.next() {
        match c {
            '"' => return Ok((text, i + 1 + j + 1)),
            '\\' => match chars.next() {
                Some((_, e)) => text.push(e),
                None => break,
            },
            c => text.push(c),
        }
    }
    Err(SyntaxError {
        at: i,
        message: "unterminated quoted string".into(),
    })
}

/// `[low high)` style range after `in`, starting at its bracket.
fn lex_range(s: &str, i: usize) -> Result<(Tok, usize), SyntaxError> {
    let err = |m: &str| SyntaxError {
        at: i,
        message: m.to_string(),
    };
    let low_inclusive = s[i..].starts_with('[');
    let close = s[i + 1..]
        .find([']', ')'])
        .map(|j| i + 1 + j)
        .ok_or_else(|| err("unterminated range"))?;
    let high_inclusive = s[close..].starts_with(']');
    let bounds: Vec<&str> = s[i + 1..close].split_whitespace().collect();
    let [low, high] = bounds[..] else {
        return Err(err("a range has two bounds: in [low high]"));
    };
    let bound = |b: &str, inclusive: bool| (b != "*").then(|| (b.to_string(), inclusive));
    Ok((
        Tok::Range {
            low: bound(low, low_inclusive),
            high: bound(high, high_inclusive),
        },
        close + 1,
    ))
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
    depth: usize,
}

fn keyword(t: &Token, k: &str) -> bool {
    matches!(&t.kind, Tok::Word(w) if w.eq_ignore_ascii_case(k))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_keyword(&self, k: &str) -> bool {
        self.peek().is_some_and(|t| keyword(t, k))
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            at,
            message: message.into(),
        }
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.at)
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut parts = vec![self.not()?];
        while self.peek_keyword("or") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(flatten(parts, Expr::Or))
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        let mut parts = vec![self.and()?];
        while self.peek_keyword("not") {
            self.pos += 1;
            parts.push(Expr::Not(Box::new(self.and()?)));
        }
        Ok(flatten(parts, Expr::And))
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut parts = vec![self.unary()?];
        loop {
            if self.peek_keyword("and") {
                self.pos += 1;
                parts.push(self.unary()?);
            } else if self.starts_operand() {
                parts.push(self.unary()?);
            } else {
                break;
            }
        }
        Ok(flatten(parts, Expr::And))
    }

    /// Whether the next token begins an operand joined by juxtaposition (not a keyword).
    fn starts_operand(&self) -> bool {
        match self.peek() {
            Some(t) => match &t.kind {
                Tok::LParen | Tok::Quoted(_) | Tok::Phrase(_) => true,
                Tok::Word(_) => !["and", "or", "not"].iter().any(|k| keyword(t, k)),
                _ => false,
            },
            None => false,
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.here(), "the statement nests too deeply"));
        }
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Expr, SyntaxError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_at(self.end, "the statement ends where a condition is expected"));
        };
        if keyword(&t, "not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if keyword(&t, "and") || keyword(&t, "or") {
            return Err(self.error_at(t.at, format!("{} needs a condition before it", t.kind)));
        }
        match t.kind {
            Tok::LParen => {
                self.pos += 1;
                let inner = self.or()?;
                match self.peek() {
                    Some(Token {
                        kind: Tok::RParen, ..
                    }) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error_at(self.here(), "missing ')'")),
                }
            }
            Tok::Word(w) if w == "*" && !self.key_follows() => {
                self.pos += 1;
                Ok(Expr::All)
            }
            Tok::Word(_) | Tok::Quoted(_) if self.key_follows() => self.keyed(),
            Tok::Word(w) => {
                self.pos += 1;
                word_term(None, w, t.at)
            }
            Tok::Quoted(text) => {
                self.pos += 1;
                Ok(text_expr(None, text, TermKind::Quoted))
            }
            Tok::Phrase(text) => {
                self.pos += 1;
                Ok(text_expr(None, text, TermKind::Phrase))
            }
            other => Err(self.error_at(t.at, format!("unexpected {other}"))),
        }
    }

    /// Whether the token after the current one makes it a key.
    fn key_follows(&self) -> bool {
        match self.tokens.get(self.pos + 1) {
            Some(
                Token {
                    kind: Tok::Colon, ..
                }
                | Token {
                    kind: Tok::Op(_), ..
                },
            ) => true,
            Some(t) => keyword(t, "in"),
            None => false,
        }
    }

    fn keyed(&mut self) -> Result<Expr, SyntaxError> {
        let key_tok = self.tokens[self.pos].clone();
        self.pos += 1;
        let mut key = match key_tok.kind {
            Tok::Word(w) | Tok::Quoted(w) => w,
            _ => unreachable!("keyed() starts at a word or quoted key"),
        };
        if key.is_empty() {
            return Err(self.error_at(key_tok.at, "empty key"));
        }
        // `__tag__:name:value`: the tag's name is part of the key.
        if key == "__tag__" && matches!(self.peek().map(|t| &t.kind), Some(Tok::Colon)) {
            match self.tokens.get(self.pos + 1).map(|t| t.kind.clone()) {
                Some(Tok::Word(name)) | Some(Tok::Quoted(name)) => {
                    key = format!("__tag__:{name}");
                    self.pos += 2;
                }
                _ => {
                    return Err(
                        self.error_at(key_tok.end, "__tag__ needs a tag name: __tag__:name:value")
                    )
                }
            }
        }
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_at(self.end, format!("'{key}' needs ':' and a value")));
        };
        self.pos += 1;
        match t.kind {
            Tok::Colon => self.value(key, t.end),
            Tok::Op(op) => {
                let number = self.number_after(&key)?;
                Ok(Expr::Compare { key, op, number })
            }
            Tok::Word(ref w) if w.eq_ignore_ascii_case("in") => match self.peek().cloned() {
                Some(Token {
                    kind: Tok::Range { low, high },
                    ..
                }) => {
                    self.pos += 1;
                    Ok(Expr::Range { key, low, high })
                }
                _ => Err(self.error_at(
                    self.here(),
                    format!("'{key} in' needs a range such as [100 200)"),
                )),
            },
            other => Err(self.error_at(t.at, format!("unexpected {other} after '{key}'"))),
        }
    }

    fn number_after(&mut self, key: &str) -> Result<String, SyntaxError> {
        match self.peek().cloned() {
            Some(Token {
                kind: Tok::Word(w), ..
            }) => {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.error_at(
                self.here(),
                format!("a comparison on '{key}' needs a number"),
            )),
        }
    }

    /// The value after `key:`, which must start right after the colon or after spaces.
    fn value(&mut self, key: String, colon_end: usize) -> Result<Expr, SyntaxError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_at(colon_end, format!("'{key}:' needs a value")));
        };
        match t.kind {
            Tok::Quoted(text) => {
                self.pos += 1;
                Ok(text_expr(Some(key), text, TermKind::Quoted))
            }
            Tok::Phrase(text) => {
                self.pos += 1;
                Ok(text_expr(Some(key), text, TermKind::Phrase))
            }
            Tok::Word(w) if w == "*" && !self.adjacent_continues(t.end) => {
                self.pos += 1;
                Ok(Expr::Exists { key })
            }
            Tok::Word(_) | Tok::Colon => {
                // Words and colons written together (`12:30:00`) are one value.
                let mut text = String::new();
                let mut end = t.at;
                while let Some(n) = self.peek() {
                    if n.at != end && !text.is_empty() {
                        break;
                    }
                    match &n.kind {
                        Tok::Word(w) => text.push_str(w),
                        Tok::Colon => text.push(':'),
                        _ => break,
                    }
                    end = n.end;
                    self.pos += 1;
                }
                word_term(Some(key), text, t.at)
            }
            other => Err(self.error_at(t.at, format!("unexpected {other} after '{key}:'"))),
        }
    }

    fn adjacent_continues(&self, end: usize) -> bool {
        self.tokens
            .get(self.pos + 1)
            .is_some_and(|n| n.at == end && matches!(n.kind, Tok::Word(_) | Tok::Colon))
    }
}

fn word_term(key: Option<String>, text: String, at: usize) -> Result<Expr, SyntaxError> {
    if text.starts_with(['*', '?']) {
        return Err(SyntaxError {
            at,
            message: format!("'{text}': a wildcard cannot be the first character of a term"),
        });
    }
    Ok(text_expr(key, text, TermKind::Word))
}

fn text_expr(key: Option<String>, text: String, kind: TermKind) -> Expr {
    Expr::Text {
        key,
        value: Term { text, kind },
    }
}

fn flatten(mut parts: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if parts.len() == 1 {
        parts.pop().unwrap_or(Expr::All)
    } else {
        make(parts)
    }
}

/// Splits a query into its search statement and its analytic statement (after the first `|`
/// outside quotes), each trimmed; the analytic statement is none without a `|`.
pub fn split_query(query: &str) -> (&str, Option<&str>) {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in query.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '|' if !in_quote => return (query[..i].trim(), Some(query[i + 1..].trim())),
            _ => {}
        }
    }
    (query.trim(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(key: Option<&str>, text: &str) -> Expr {
        text_expr(key.map(String::from), text.into(), TermKind::Word)
    }

    #[test]
    fn empty_and_star_are_everything() {
        assert_eq!(parse("").unwrap(), Expr::All);
        assert_eq!(parse("  * ").unwrap(), Expr::All);
    }

    #[test]
    fn juxtaposition_is_and_and_precedence_is_and_not_or() {
        assert_eq!(
            parse("a b").unwrap(),
            Expr::And(vec![word(None, "a"), word(None, "b")])
        );
        // and binds tighter than not, which binds tighter than or.
        assert_eq!(
            parse("a and b not c and d or e").unwrap(),
            Expr::Or(vec![
                Expr::And(vec![
                    Expr::And(vec![word(None, "a"), word(None, "b")]),
                    Expr::Not(Box::new(Expr::And(vec![word(None, "c"), word(None, "d")]))),
                ]),
                word(None, "e"),
            ])
        );
        assert_eq!(
            parse("NOT a AND (b OR c)").unwrap(),
            Expr::And(vec![
                Expr::Not(Box::new(word(None, "a"))),
                Expr::Or(vec![word(None, "b"), word(None, "c")]),
            ])
        );
    }

    #[test]
    fn keys_values_and_special_fields() {
        assert_eq!(parse("status:500").unwrap(), word(Some("status"), "500"));
        assert_eq!(
            parse("path : /api/*").unwrap(),
            word(Some("path"), "/api/*")
        );
        assert_eq!(
            parse("time:12:30:01").unwrap(),
            word(Some("time"), "12:30:01")
        );
        assert_eq!(
            parse("__tag__:__client_ip__:10.0.0.1").unwrap(),
            word(Some("__tag__:__client_ip__"), "10.0.0.1")
        );
        assert_eq!(
            parse("\"user agent\":\"Mozilla 5\"").unwrap(),
            text_expr(
                Some("user agent".into()),
                "Mozilla 5".into(),
                TermKind::Quoted
            )
        );
        assert_eq!(
            parse("msg:#\"connection refused\"").unwrap(),
            text_expr(
                Some("msg".into()),
                "connection refused".into(),
                TermKind::Phrase
            )
        );
        assert_eq!(
            parse("host:*").unwrap(),
            Expr::Exists { key: "host".into() }
        );
    }

    #[test]
    fn numbers_and_ranges() {
        assert_eq!(
            parse("latency >= 100").unwrap(),
            Expr::Compare {
                key: "latency".into(),
                op: CmpOp::Ge,
                number: "100".into()
            }
        );
        assert_eq!(
            parse("latency in [100 200)").unwrap(),
            Expr::Range {
                key: "latency".into(),
                low: Some(("100".into(), true)),
                high: Some(("200".into(), false)),
            }
        );
        assert_eq!(
            parse("latency in (1.5 *]").unwrap(),
            Expr::Range {
                key: "latency".into(),
                low: Some(("1.5".into(), false)),
                high: None,
            }
        );
    }

    #[test]
    fn bad_statements_say_where() {
        for bad in [
            "a and",
            "(a or b",
            "or a",
            "a)",
            "\"open",
            "*abc",
            "k:?x",
            "k >",
            "k in 3",
            "k in [1 2 3]",
            "__tag__:",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.at <= bad.len(), "{bad}: {e}");
        }
        let deep = "(".repeat(100) + "a" + &")".repeat(100);
        assert!(parse(&deep).unwrap_err().message.contains("nests"));
        let many = vec!["a"; MAX_CONDITIONS + 1].join(" or ");
        assert!(parse(&many).unwrap_err().message.contains("conditions"));
        assert!(parse(&vec!["a"; MAX_CONDITIONS].join(" or ")).is_ok());
    }

    #[test]
    fn the_analytic_statement_follows_the_first_bar_outside_quotes() {
        assert_eq!(split_query("a | select 1"), ("a", Some("select 1")));
        assert_eq!(
            split_query("\"a|b\" | select 1"),
            ("\"a|b\"", Some("select 1"))
        );
        assert_eq!(split_query("* | select a | b"), ("*", Some("select a | b")));
        assert_eq!(split_query(" x "), ("x", None));
    }
}
