//! The SPL statement grammar (design §18.7): `* | <instruction> | …`, with `--` and `/* */`
//! comments and an optional final `;`. An instruction is a name, `-option=value` and `-switch`
//! options, then its arguments: SQL expressions for `where` and `extend`, field lists for the
//! others.

use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::{Instruction, Pattern, Pipeline, MAX_INSTRUCTIONS, MAX_STATEMENT_BYTES};
use crate::QueryError;

fn invalid(msg: impl std::fmt::Display) -> QueryError {
    QueryError::Invalid(format!("invalid query: {msg}"))
}

/// Splits `text` at each `|` that is outside quotes and comments and is not part of `||`, and
/// drops the comments and a final `;`.
fn split(text: &str) -> Result<Vec<String>, QueryError> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let part = parts.last_mut().expect("one part at least");
        match c {
            '\'' | '"' => {
                part.push(c);
                loop {
                    match chars.next() {
                        Some(q) if q == c => {
                            part.push(q);
                            if chars.peek() == Some(&c) {
                                part.push(chars.next().expect("peeked"));
                            } else {
                                break;
                            }
                        }
                        Some(other) => part.push(other),
                        None => return Err(invalid(format!("unterminated {c}…{c}"))),
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        part.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    match chars.next() {
                        Some('/') if last == '*' => break,
                        Some(n) => last = n,
                        None => return Err(invalid("unterminated /* comment")),
                    }
                }
                part.push(' ');
            }
            '|' if chars.peek() == Some(&'|') => {
                chars.next();
                part.push_str("||");
            }
            '|' => parts.push(String::new()),
            ';' => {
                let rest: String = chars.by_ref().collect();
                if !rest.trim().is_empty() {
                    return Err(invalid("one statement is expected; text follows ';'"));
                }
            }
            c => part.push(c),
        }
    }
    Ok(parts)
}

/// Parses an SPL statement for a stream: its source must be `*` (or absent).
pub fn parse(text: &str) -> Result<Pipeline, QueryError> {
    if text.len() > MAX_STATEMENT_BYTES {
        return Err(invalid(format!(
            "the statement is {} bytes long; at most {MAX_STATEMENT_BYTES} are allowed",
            text.len()
        )));
    }
    let parts = split(text)?;
    let source = parts[0].trim();
    if !(source.is_empty() || source == "*") {
        return Err(invalid(format!(
            "a stream is read whole: the statement must start with '*', not {source:?}"
        )));
    }
    let steps: Vec<&String> = parts[1..].iter().collect();
    if steps.len() > MAX_INSTRUCTIONS {
        return Err(invalid(format!(
            "the statement has {} instructions; at most {MAX_INSTRUCTIONS} are allowed",
            steps.len()
        )));
    }
    let instructions = steps
        .into_iter()
        .map(|s| instruction(s.trim()))
        .collect::<Result<_, _>>()?;
    Ok(Pipeline { instructions })
}

/// A cursor over one instruction's text.
struct Lexer<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let r = self.rest();
        self.at += r.len() - r.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.rest().chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), QueryError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(invalid(format!(
                "{what}: '{c}' expected at {:?}",
                self.rest()
            )))
        }
    }

    fn word(&mut self) -> &'a str {
        self.skip_space();
        let r = self.rest();
        let n = r
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(r.len());
        self.at += n;
        &r[..n]
    }

    /// A keyword such as `as`, matched without regard to case and followed by a space.
    fn keyword(&mut self, k: &str) -> bool {
        self.skip_space();
        let r = self.rest();
        let ok = r.len() > k.len()
            && r[..k.len()].eq_ignore_ascii_case(k)
            && r[k.len()..].starts_with(char::is_whitespace);
        if ok {
            self.at += k.len();
        }
        ok
    }

    /// A quoted text: `'…'` or `"…"`, with the quote doubled inside.
    fn quoted(&mut self, q: char) -> Result<String, QueryError> {
        self.expect(q, "a quoted text")?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == q {
                if chars.peek().map(|(_, n)| *n) == Some(q) {
                    chars.next();
                    out.push(q);
                    continue;
                }
                self.at += i + 1;
                return Ok(out);
            }
            out.push(c);
        }
        Err(invalid(format!("unterminated {q}…{q}")))
    }

    /// A field name: bare (letters, digits, `_`, `.`, `*`) or double-quoted.
    fn field(&mut self) -> Result<String, QueryError> {
        if self.peek() == Some('"') {
            return self.quoted('"');
        }
        let r = self.rest();
        let n = r
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '*' | '@')))
            .unwrap_or(r.len());
        if n == 0 {
            return Err(invalid(format!("a field name expected at {r:?}")));
        }
        self.at += n;
        Ok(r[..n].to_string())
    }

    /// A comma-separated list of fields, each optionally `name=field` when `renames` allows.
    fn fields(&mut self, renames: bool) -> Result<Vec<(String, Option<String>)>, QueryError> {
        let mut out = Vec::new();
        loop {
            let first = self.field()?;
            let item = if renames && self.eat('=') {
                (self.field()?, Some(first))
            } else {
                (first, None)
            };
            out.push(item);
            if !self.eat(',') {
                return Ok(out);
            }
        }
    }

    fn end(&mut self, name: &str) -> Result<(), QueryError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(invalid(format!(
                "{name}: unexpected text {:?}",
                self.rest().trim()
            ))),
        }
    }
}

/// `-name=value` and `-switch` options, in any order.
#[derive(Default)]
struct Options(Vec<(String, Option<String>)>);

impl Options {
    fn read(lx: &mut Lexer) -> Result<Options, QueryError> {
        let mut out = Vec::new();
        while lx.peek() == Some('-') && lx.rest()[1..].starts_with(char::is_alphabetic) {
            lx.at += 1;
            let name = lx.word().to_lowercase();
            let value = if lx.eat('=') {
                Some(match lx.peek() {
                    Some(q @ ('\'' | '"')) => lx.quoted(q)?,
                    _ => {
                        let r = lx.rest();
                        let n = r.find(char::is_whitespace).unwrap_or(r.len());
                        lx.at += n;
                        r[..n].to_string()
                    }
                })
            } else {
                None
            };
            out.push((name, value));
        }
        Ok(Options(out))
    }

    fn check(&self, instruction: &str, allowed: &[&str]) -> Result<(), QueryError> {
        match self.0.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
            Some((n, _)) => Err(invalid(format!("{instruction} has no option -{n}"))),
            None => Ok(()),
        }
    }

    fn switch(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// A character option with `\t`, `\n`, `\\`, octal `\11` and hex `\x09` escapes.
    fn chars(&self, name: &str) -> Result<Option<String>, QueryError> {
        self.value(name).map(unescape).transpose()
    }

    /// `-mode`: whether values already there are kept (`preserve`) or replaced (`overwrite`).
    fn preserve(&self, instruction: &str) -> Result<bool, QueryError> {
        match self.value("mode").map(str::to_lowercase).as_deref() {
            None | Some("overwrite") => Ok(false),
            Some("preserve") => Ok(true),
            Some(m) => Err(invalid(format!(
                "{instruction}: -mode is 'overwrite' or 'preserve', not {m:?}"
            ))),
        }
    }
}

fn unescape(s: &str) -> Result<String, QueryError> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let digits = |chars: &mut std::iter::Peekable<std::str::Chars>, radix: u32, most: usize| {
            let mut v = String::new();
            while v.len() < most && chars.peek().is_some_and(|d| d.is_digit(radix)) {
                v.push(chars.next().expect("peeked"));
            }
            u32::from_str_radix(&v, radix).ok().and_then(char::from_u32)
        };
        let e = match chars.peek().copied() {
            Some('t') => Some('\t'),
            Some('n') => Some('\n'),
            Some('r') => Some('\r'),
            Some('\\') => Some('\\'),
            Some('\'') => Some('\''),
            Some('x') => {
                chars.next();
                out.push(digits(&mut chars, 16, 2).ok_or_else(|| invalid("bad \\x escape"))?);
                continue;
            }
            Some(d) if d.is_digit(8) => {
                out.push(digits(&mut chars, 8, 3).ok_or_else(|| invalid("bad octal escape"))?);
                continue;
            }
            _ => None,
        };
        match e {
            Some(e) => {
                chars.next();
                out.push(e);
            }
            // Kept as written: `\s` means white space to -delims.
            None => out.push('\\'),
        }
    }
    Ok(out)
}

fn sql_parser(sql: &str) -> Result<Parser<'static>, QueryError> {
    Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .map_err(invalid)
}

/// One SQL expression making up all of `sql`.
fn expression(sql: &str) -> Result<SqlExpr, QueryError> {
    let mut p = sql_parser(sql)?;
    let e = p.parse_expr().map_err(invalid)?;
    match p.peek_token().token {
        Token::EOF => Ok(e),
        t => Err(invalid(format!("unexpected {t} after the expression"))),
    }
}

/// `name = expression, …`.
fn assignments(sql: &str) -> Result<Vec<(String, SqlExpr)>, QueryError> {
    let mut p = sql_parser(sql)?;
    let mut out = Vec::new();
    loop {
        let name = p
            .parse_identifier()
            .map_err(|e| invalid(format!("extend: {e}")))?;
        p.expect_token(&Token::Eq)
            .map_err(|e| invalid(format!("extend: {e}")))?;
        out.push((name.value, p.parse_expr().map_err(invalid)?));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    match p.peek_token().token {
        Token::EOF => Ok(out),
        t => Err(invalid(format!(
            "extend: unexpected {t} after the assignments"
        ))),
    }
}

fn pattern(text: String, wildcard: bool) -> Pattern {
    if wildcard && text.contains('*') {
        Pattern::Wildcard(text)
    } else {
        Pattern::Exact(text)
    }
}

fn instruction(text: &str) -> Result<Instruction, QueryError> {
    let mut lx = Lexer { text, at: 0 };
    let name = lx.word().to_lowercase();
    let options = Options::read(&mut lx)?;
    let rest = || lx.rest().trim().to_string();
    let out = match name.as_str() {
        "where" => {
            options.check("where", &[])?;
            Instruction::Where(Box::new(expression(&rest())?))
        }
        "extend" => {
            options.check("extend", &[])?;
            let list = assignments(&rest())?;
            for (i, (n, _)) in list.iter().enumerate() {
                if list[..i].iter().any(|(m, _)| m == n) {
                    return Err(invalid(format!("extend assigns {n} twice")));
                }
            }
            Instruction::Extend(list)
        }
        "project" => {
            options.check("project", &["wildcard"])?;
            let wildcard = options.switch("wildcard");
            let list = lx.fields(true)?;
            lx.end("project")?;
            Instruction::Project(
                list.into_iter()
                    .map(|(field, out)| (pattern(field, wildcard && out.is_none()), out))
                    .collect(),
            )
        }
        "project-away" => {
            options.check("project-away", &["wildcard"])?;
            let wildcard = options.switch("wildcard");
            let list = lx.fields(false)?;
            lx.end("project-away")?;
            Instruction::ProjectAway(
                list.into_iter()
                    .map(|(f, _)| pattern(f, wildcard))
                    .collect(),
            )
        }
        "project-rename" => {
            options.check("project-rename", &[])?;
            let list = lx.fields(true)?;
            lx.end("project-rename")?;
            let renames = list
                .into_iter()
                .map(|(field, out)| match out {
                    Some(out) => Ok((out, field)),
                    None => Err(invalid(format!(
                        "project-rename: `{field}` is not `new_name=field`"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Instruction::ProjectRename(renames)
        }
        "parse-regexp" => {
            options.check("parse-regexp", &[])?;
            let field = lx.field()?;
            lx.expect(',', "parse-regexp")?;
            let pattern = lx.quoted('\'')?;
            let outputs = if lx.keyword("as") {
                lx.fields(false)?.into_iter().map(|(f, _)| f).collect()
            } else {
                Vec::new()
            };
            lx.end("parse-regexp")?;
            let re = regex::RegexBuilder::new(&pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| invalid(format!("parse-regexp: {e}")))?;
            let outputs = if outputs.is_empty() {
                let named: Vec<String> = re.capture_names().flatten().map(String::from).collect();
                if named.len() + 1 != re.captures_len() || named.is_empty() {
                    return Err(invalid(
                        "parse-regexp: name the outputs with `as`, or name every group (?P<name>…)",
                    ));
                }
                named
            } else if outputs.len() != re.captures_len() - 1 {
                return Err(invalid(format!(
                    "parse-regexp: the pattern has {} groups for {} outputs",
                    re.captures_len() - 1,
                    outputs.len()
                )));
            } else {
                outputs
            };
            Instruction::ParseRegexp { field, re, outputs }
        }
        "parse-csv" => {
            options.check("parse-csv", &["delim", "quote", "strict"])?;
            let delim = options.chars("delim")?.unwrap_or_else(|| ",".into());
            if delim.is_empty() || delim.chars().count() > 3 {
                return Err(invalid("parse-csv: -delim is 1 to 3 characters"));
            }
            let quote = match options.chars("quote")? {
                None => '"',
                Some(q) if q.chars().count() == 1 => q.chars().next().expect("one char"),
                Some(_) => return Err(invalid("parse-csv: -quote is one character")),
            };
            let field = lx.field()?;
            if !lx.keyword("as") {
                return Err(invalid(
                    "parse-csv: `as` and the output fields are expected",
                ));
            }
            let outputs = lx.fields(false)?.into_iter().map(|(f, _)| f).collect();
            lx.end("parse-csv")?;
            Instruction::ParseCsv {
                field,
                delim,
                quote,
                strict: options.switch("strict"),
                outputs,
            }
        }
        "parse-json" => {
            options.check("parse-json", &["path", "prefix", "mode"])?;
            let field = lx.field()?;
            lx.end("parse-json")?;
            Instruction::ParseJson {
                field,
                path: options.value("path").map(String::from),
                prefix: options.value("prefix").unwrap_or("").to_string(),
                preserve: options.preserve("parse-json")?,
            }
        }
        "parse-kv" => {
            options.check("parse-kv", &["delims", "kv-sep", "prefix", "mode"])?;
            let delims = options.chars("delims")?.unwrap_or_else(|| "&".into());
            let kv_sep = options.chars("kv-sep")?.unwrap_or_else(|| "=".into());
            if kv_sep.is_empty() || delims.is_empty() {
                return Err(invalid("parse-kv: -delims and -kv-sep may not be empty"));
            }
            let field = lx.field()?;
            lx.end("parse-kv")?;
            Instruction::ParseKv {
                field,
                delims,
                kv_sep,
                prefix: options.value("prefix").unwrap_or("").to_string(),
                preserve: options.preserve("parse-kv")?,
            }
        }
        "" => return Err(invalid("an instruction is expected after '|'")),
        other => {
            return Err(invalid(format!(
                "instruction {other} is not supported on a stream; use where, extend, project, \
                 project-away, project-rename, parse-regexp, parse-csv, parse-json or parse-kv"
            )))
        }
    };
    Ok(out)
}
