//! SPL on a stream (design §18.7): the `query` of PullLogs, a pipeline of instructions that
//! filters, computes, picks, renames and extracts fields of the logs a consumer pulls.
//!
//! Fields are text (`__time__` and `__time_ns_part__` are bigint); `__topic__`, `__source__` and
//! `__tag__:<key>` are fields too, and a missing field is NULL. `where` and `extend` take SQL
//! expressions, evaluated by DataFusion with the analytic statement's functions; the other
//! instructions work on the columns directly.

mod parse;
mod run;
mod table;

use datafusion::sql::sqlparser::ast::Expr as SqlExpr;

pub use parse::parse;
pub use run::{run, SplOutput};

/// The longest statement accepted, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 10 * 1024;
/// The most instructions a statement may have.
pub const MAX_INSTRUCTIONS: usize = 16;

/// A parsed statement.
#[derive(Clone, Debug)]
pub struct Pipeline {
    instructions: Vec<Instruction>,
}

/// A field name, or a pattern where `*` matches any text (`-wildcard`).
#[derive(Clone, Debug, PartialEq)]
enum Pattern {
    Exact(String),
    Wildcard(String),
}

impl Pattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(p) => p == name,
            Pattern::Wildcard(p) => crate::analyze::wildcard_match(p, name),
        }
    }
}

/// One instruction.
#[derive(Clone, Debug)]
enum Instruction {
    /// Keeps the logs for which the expression is true.
    Where(Box<SqlExpr>),
    /// Sets each field to its expression's value, all computed from the log as it came in.
    Extend(Vec<(String, SqlExpr)>),
    /// Keeps the fields matched, in the order given; `(field, Some(new))` also renames.
    Project(Vec<(Pattern, Option<String>)>),
    /// Drops the fields matched.
    ProjectAway(Vec<Pattern>),
    /// Renames: `(new, field)`.
    ProjectRename(Vec<(String, String)>),
    /// Sets the outputs to the capture groups of the first match in `field`.
    ParseRegexp {
        field: String,
        re: regex::Regex,
        outputs: Vec<String>,
    },
    /// Splits `field` as one CSV record into the outputs.
    ParseCsv {
        field: String,
        delim: String,
        quote: char,
        strict: bool,
        outputs: Vec<String>,
    },
    /// Sets a field for each first-level key of the JSON object in `field` (at `path`).
    ParseJson {
        field: String,
        path: Option<String>,
        prefix: String,
        preserve: bool,
    },
    /// Sets a field for each `key<kv_sep>value` pair of `field`, pairs cut at any of `delims`.
    ParseKv {
        field: String,
        delims: String,
        kv_sep: String,
        prefix: String,
        preserve: bool,
    },
}
