//! Cairn's query layer (design §18): the SLS search statement, text analysis by a logstore's
//! index configuration, and the analytic statement run by Apache DataFusion.
//!
//! A query is `search [| analytic]`. [`compile`] parses both halves against a [`Schema`];
//! the search half becomes a [`Matcher`] that tells whether a log matches, the analytic half
//! runs with [`sql::run`] over the matched logs.

pub mod analyze;
pub mod doc;
mod fill;
pub mod functions;
pub mod index;
pub mod matcher;
pub mod schema;
pub mod search;
pub mod spl;
pub mod sql;

use std::time::Duration;

pub use doc::{Doc, LogAddress};
pub use matcher::Matcher;
pub use schema::Schema;

/// Why a query cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query is wrong: syntax, a field that is not indexed, an unsupported function.
    #[error("{0}")]
    Invalid(String),
    /// It needs more memory than its budget.
    #[error("the query needs more than its memory budget of {0} bytes")]
    MemoryExceeded(usize),
    /// It ran past its time budget.
    #[error("the query ran past its time budget of {0:?}")]
    TimedOut(Duration),
    /// Something that should not happen.
    #[error("query failed: {0}")]
    Internal(String),
}

impl QueryError {
    /// DataFusion's errors: resources exhausted is the memory budget; planning and execution
    /// errors are the statement's.
    pub fn from_datafusion(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        match e.find_root() {
            E::ResourcesExhausted(_) => QueryError::MemoryExceeded(0),
            E::Internal(m) => QueryError::Internal(m.clone()),
            E::IoError(m) => QueryError::Internal(m.to_string()),
            root => QueryError::Invalid(strip_context(&root.to_string())),
        }
    }
}

fn strip_context(m: &str) -> String {
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "SQL error: ",
        "Schema error: ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    m.to_string()
}

/// A compiled query.
#[derive(Clone, Debug)]
pub struct Query {
    /// The search statement.
    pub search: Matcher,
    /// The analytic statement, when there is one.
    pub sql: Option<String>,
    /// Whether answers carry each log's `__pack_meta__` and `__tag__:__pack_id__`
    /// (`| with_pack_meta`).
    pub with_pack_meta: bool,
}

/// Parses and binds `query` to `schema`.
pub fn compile(query: &str, schema: &Schema) -> Result<Query, QueryError> {
    let (search, analytic) = search::split_query(query);
    let expr = search::parse(search).map_err(|e| QueryError::Invalid(e.to_string()))?;
    let search = Matcher::compile(&expr, schema)?;
    let (sql, with_pack_meta) = match analytic {
        Some(a) if a.eq_ignore_ascii_case("with_pack_meta") => (None, true),
        Some("") => {
            return Err(QueryError::Invalid(
                "an analytic statement is expected after '|'".into(),
            ))
        }
        Some(a) => (Some(a.to_string()), false),
        None => (None, false),
    };
    Ok(Query {
        search,
        sql,
        with_pack_meta,
    })
}
