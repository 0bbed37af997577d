//! The analytic statement (design §18.3): SLS's SQL after `|`, run by Apache DataFusion over
//! the implicit table `log` of the logs the search statement matched.
//!
//! Before planning, the statement is rewritten: a `SELECT` without `FROM` reads `log`, and so does
//! `FROM log` or `FROM <logstore>`; unquoted column names are matched to the table's columns
//! without regard to case and quoted (so `__tag__:…` and json sub-key columns work); Presto
//! function names DataFusion knows under another name are renamed; an unknown function is refused
//! by name; a statement without `LIMIT` answers at most 100 rows.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Builder, Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    visit_relations, Expr as SqlExpr, Function, Ident, ObjectName, ObjectNamePart, Query, SetExpr,
    Statement, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::doc::Doc;
use crate::fill;
use crate::functions;
use crate::schema::{FieldType, Schema, Target};
use crate::QueryError;

/// Rows an analytic statement answers when it has no `LIMIT`.
pub const DEFAULT_ROWS: u64 = 100;
/// The largest `LIMIT` and offset accepted.
pub const MAX_ROWS: u64 = 1_000_000;
/// The most expressions an analytic statement may have: planning walks them recursively.
pub const MAX_EXPRESSIONS: usize = 4096;
/// The stack of the thread that plans and runs an analytic statement.
const SQL_STACK_BYTES: usize = 64 << 20;

/// The budgets and time range of one analytic statement.
#[derive(Clone, Copy, Debug)]
pub struct SqlLimits {
    /// Memory for the table and DataFusion's operators, in bytes.
    pub memory_bytes: usize,
    /// Wall time for planning and running it.
    pub time: Duration,
    /// The query's time range `[from, to)` in unix seconds: the windows `time_series` fills.
    pub range: (i64, i64),
}

/// What an analytic statement answers: column names and types, and rows of rendered values
/// (none for SQL NULL).
#[derive(Clone, Debug, PartialEq)]
pub struct SqlAnswer {
    /// Column names, in order.
    pub keys: Vec<String>,
    /// Column types, as SLS names them (`bigint`, `double`, `varchar`, `timestamp`, …).
    pub types: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Option<String>>>,
}

/// A column of the implicit table.
#[derive(Clone, Debug)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: FieldType,
    /// What it holds.
    pub target: Target,
}

/// Where the rows of the implicit table come from: the logs a search matched.
pub trait Rows: Send + Sync + std::fmt::Debug {
    /// The keys of the tags the logs have (each is a column `__tag__:<key>`).
    fn tag_keys(&self) -> Vec<String>;
    /// The values of `cols` for every log, as pieces of (rows, one array per column); at most
    /// `budget` bytes of them.
    fn arrays(
        &self,
        cols: &[Column],
        budget: usize,
    ) -> Result<Vec<(usize, Vec<ArrayRef>)>, QueryError>;
}

pub use arrow::array::ArrayRef;

/// The bytes an array holds.
pub fn array_bytes(a: &ArrayRef) -> usize {
    use arrow::array::Array;
    a.get_array_memory_size()
}

/// Rows held as logs.
#[derive(Debug)]
pub struct DocRows {
    /// The logs.
    pub docs: Vec<Doc>,
    /// Longest text value.
    pub max_text_len: usize,
}

impl Rows for DocRows {
    fn tag_keys(&self) -> Vec<String> {
        tag_keys(&self.docs)
    }

    fn arrays(
        &self,
        cols: &[Column],
        budget: usize,
    ) -> Result<Vec<(usize, Vec<ArrayRef>)>, QueryError> {
        Ok(vec![(
            self.docs.len(),
            table(cols, &self.docs, self.max_text_len, budget)?,
        )])
    }
}

/// The keys of the tags of `docs`, in order.
pub fn tag_keys(docs: &[Doc]) -> Vec<String> {
    let mut tags: Vec<String> = docs
        .iter()
        .flat_map(|d| d.tags.iter().map(|(k, _)| k.clone()))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// The columns of the table: `__time__`, `__topic__`, `__source__`, each tag of `tags`,
/// each indexed field (and its alias) and json sub-key.
fn columns(schema: &Schema, tags: &[String]) -> Vec<Column> {
    let mut cols = vec![
        Column {
            name: "__time__".into(),
            kind: FieldType::Long,
            target: Target::Time,
        },
        Column {
            name: "__topic__".into(),
            kind: FieldType::Text,
            target: Target::Topic,
        },
        Column {
            name: "__source__".into(),
            kind: FieldType::Text,
            target: Target::Source,
        },
    ];
    let mut seen: HashSet<String> = cols.iter().map(|c| c.name.clone()).collect();
    let mut push = |cols: &mut Vec<Column>, name: String, kind: FieldType, target: Target| {
        if seen.insert(name.clone()) {
            cols.push(Column { name, kind, target });
        }
    };
    for t in tags {
        push(
            &mut cols,
            format!("__tag__:{t}"),
            FieldType::Text,
            Target::Tag(t.to_string()),
        );
    }
    for (name, f) in &schema.fields {
        let kind = if f.kind == FieldType::Json {
            FieldType::Text
        } else {
            f.kind
        };
        push(&mut cols, name.clone(), kind, Target::Content(name.clone()));
        if let Some(alias) = &f.alias {
            push(
                &mut cols,
                alias.clone(),
                kind,
                Target::Content(name.clone()),
            );
        }
    }
    for (field, keys) in &schema.json {
        for (path, sub) in &keys.keys {
            let target = Target::Json(field.clone(), path.split('.').map(String::from).collect());
            push(
                &mut cols,
                format!("{field}.{path}"),
                sub.kind,
                target.clone(),
            );
            if let Some(alias) = &sub.alias {
                push(&mut cols, alias.clone(), sub.kind, target);
            }
        }
    }
    cols
}

fn arrow_type(kind: FieldType) -> DataType {
    match kind {
        FieldType::Long => DataType::Int64,
        FieldType::Double => DataType::Float64,
        FieldType::Text | FieldType::Json => DataType::Utf8,
    }
}

/// The values of `cols` over `docs`, charging `budget` for their bytes.
pub fn table(
    cols: &[Column],
    docs: &[Doc],
    max_text_len: usize,
    budget: usize,
) -> Result<Vec<ArrayRef>, QueryError> {
    let mut used = 0usize;
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
    for c in cols {
        let values = docs.iter().map(|d| d.value(&c.target));
        let array: ArrayRef = match c.kind {
            FieldType::Long => {
                let mut b = Int64Builder::with_capacity(docs.len());
                for v in values {
                    b.append_option(v.and_then(|v| v.trim().parse::<i64>().ok()));
                }
                Arc::new(b.finish())
            }
            FieldType::Double => {
                let mut b = Float64Builder::with_capacity(docs.len());
                for v in values {
                    b.append_option(v.and_then(|v| v.trim().parse::<f64>().ok()));
                }
                Arc::new(b.finish())
            }
            FieldType::Text | FieldType::Json => {
                let mut b = StringBuilder::new();
                for v in values {
                    match v {
                        Some(v) => {
                            let mut end = v.len().min(max_text_len);
                            while !v.is_char_boundary(end) {
                                end -= 1;
                            }
                            used += end;
                            b.append_value(&v[..end]);
                        }
                        None => b.append_null(),
                    }
                    if used > budget {
                        return Err(QueryError::MemoryExceeded(budget));
                    }
                }
                Arc::new(b.finish())
            }
        };
        used += docs.len() * 9;
        if used > budget {
            return Err(QueryError::MemoryExceeded(budget));
        }
        arrays.push(array);
    }
    Ok(arrays)
}

/// The implicit table: the columns DataFusion asks for, made when it asks.
#[derive(Debug)]
struct LogTable {
    cols: Vec<Column>,
    schema: SchemaRef,
    rows: Arc<dyn Rows>,
    budget: usize,
}

#[async_trait::async_trait]
impl TableProvider for LogTable {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[datafusion::prelude::Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let picked: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.cols.len()).collect(),
        };
        let cols: Vec<Column> = picked.iter().map(|&i| self.cols[i].clone()).collect();
        let schema = Arc::new(self.schema.project(&picked)?);
        let pieces = self.rows.arrays(&cols, self.budget).map_err(|e| match e {
            QueryError::MemoryExceeded(n) => DataFusionError::ResourcesExhausted(format!(
                "the logs to analyse need more than {n} bytes"
            )),
            e => DataFusionError::External(Box::new(e)),
        })?;
        // Batches of at most BATCH_ROWS rows, dealt to the partitions in turn, so that every
        // partition's thread does its share of the work from the scan on.
        let mut partitions = vec![Vec::new(); PARTITIONS];
        let mut next = 0;
        for (n, arrays) in pieces {
            let options = RecordBatchOptions::new().with_row_count(Some(n));
            let batch = RecordBatch::try_new_with_options(schema.clone(), arrays, &options)?;
            let mut at = 0;
            while at < n {
                let len = BATCH_ROWS.min(n - at);
                partitions[next % PARTITIONS].push(batch.slice(at, len));
                next += 1;
                at += len;
            }
        }
        let mem = MemTable::try_new(schema, partitions)?;
        mem.scan(state, None, &[], limit).await
    }
}

/// Rewrites a parsed statement as the module documentation says.
struct Rewrite<'a> {
    columns: HashMap<String, String>,
    tables: &'a [String],
    from_log: Vec<datafusion::sql::sqlparser::ast::TableWithJoins>,
    ctx: &'a SessionContext,
    error: Option<QueryError>,
    nodes: usize,
}

impl Rewrite<'_> {
    fn column(&self, name: &str) -> Option<&String> {
        self.columns.get(&name.to_lowercase())
    }

    fn fail(&mut self, e: QueryError) -> ControlFlow<()> {
        self.error = Some(e);
        ControlFlow::Break(())
    }
}

fn set_from(body: &mut SetExpr, from: &[datafusion::sql::sqlparser::ast::TableWithJoins]) {
    match body {
        SetExpr::Select(s) if s.from.is_empty() => s.from = from.to_vec(),
        SetExpr::SetOperation { left, right, .. } => {
            set_from(left, from);
            set_from(right, from);
        }
        _ => {}
    }
}

fn quoted(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

impl VisitorMut for Rewrite<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        set_from(&mut query.body, &self.from_log);
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        if let [ObjectNamePart::Identifier(id)] = relation.0.as_slice() {
            if self
                .tables
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&id.value))
            {
                *relation = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("log"))]);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<()> {
        self.nodes += 1;
        if self.nodes > MAX_EXPRESSIONS {
            return self.fail(QueryError::Invalid(format!(
                "the analytic statement has more than {MAX_EXPRESSIONS} expressions"
            )));
        }
        match expr {
            SqlExpr::Identifier(id) => {
                if let Some(name) = self.column(&id.value).cloned() {
                    if id.quote_style.is_none() || id.value == name {
                        *id = quoted(&name);
                    }
                }
            }
            SqlExpr::CompoundIdentifier(parts) => {
                // `field.sub` is a json sub-key column unless its first part is a table.
                let joined = parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                if let Some(name) = self.column(&joined).cloned() {
                    *expr = SqlExpr::Identifier(quoted(&name));
                }
            }
            SqlExpr::Function(f) => {
                if let Err(e) = rewrite_function(f, self.ctx) {
                    return self.fail(e);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Renames a Presto function DataFusion knows under another name, and refuses one `ctx` does
/// not know by its name.
pub(crate) fn rewrite_function(f: &mut Function, ctx: &SessionContext) -> Result<(), QueryError> {
    let Some(ObjectNamePart::Identifier(id)) = f.name.0.last_mut() else {
        return Ok(());
    };
    let lower = id.value.to_lowercase();
    if let Some((_, to)) = functions::RENAMED.iter().find(|(from, _)| *from == lower) {
        *id = Ident::new(*to);
        return Ok(());
    }
    let state = ctx.state();
    let known = state.scalar_functions().contains_key(&lower)
        || state.aggregate_functions().contains_key(&lower)
        || state.window_functions().contains_key(&lower);
    if known {
        Ok(())
    } else {
        Err(QueryError::Invalid(format!(
            "function {} is not supported",
            id.value
        )))
    }
}

fn row_bound(e: &SqlExpr, what: &str) -> Result<u64, QueryError> {
    match e {
        SqlExpr::Value(v) => match &v.value {
            Value::Number(n, _) => {
                n.parse::<u64>()
                    .ok()
                    .filter(|n| *n <= MAX_ROWS)
                    .ok_or_else(|| {
                        QueryError::Invalid(format!(
                            "{what} {n} is out of range: at most {MAX_ROWS}"
                        ))
                    })
            }
            other => Err(QueryError::Invalid(format!(
                "{what} must be a number, not {other}"
            ))),
        },
        other => Err(QueryError::Invalid(format!(
            "{what} must be a number, not {other}"
        ))),
    }
}

/// Runs `f` on a thread with a stack sized for the largest statement accepted: parsing,
/// rewriting, planning and optimising recurse over a statement.
pub(crate) fn on_sql_stack<T: Send>(
    f: impl FnOnce() -> Result<T, QueryError> + Send,
) -> Result<T, QueryError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cairn-sql".into())
            .stack_size(SQL_STACK_BYTES)
            .spawn_scoped(scope, f)
            .map_err(|e| QueryError::Internal(e.to_string()))?
            .join()
            .map_err(|_| QueryError::Internal("the analytic statement's thread panicked".into()))?
    })
}

/// The first table a statement reads (`FROM <name>`), as written; none when it reads none or
/// does not parse.
pub fn first_table(sql: &str) -> Option<String> {
    on_sql_stack(|| {
        let statements = Parser::parse_sql(&GenericDialect {}, sql)
            .map_err(|e| QueryError::Invalid(e.to_string()))?;
        let mut found = None;
        let _ = visit_relations(&statements, |name: &ObjectName| {
            if let [ObjectNamePart::Identifier(id)] = name.0.as_slice() {
                found = Some(id.value.clone());
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        Ok(found)
    })
    .ok()
    .flatten()
}

/// Runs `sql` over `rows`. `tables` are the names `FROM` may use for the implicit table
/// (besides `log`).
pub fn run(
    sql: &str,
    schema: &Schema,
    rows: Arc<dyn Rows>,
    tables: &[String],
    limits: SqlLimits,
) -> Result<SqlAnswer, QueryError> {
    on_sql_stack(|| run_here(sql, schema, rows, tables, limits))
}

fn run_here(
    sql: &str,
    schema: &Schema,
    rows: Arc<dyn Rows>,
    tables: &[String],
    limits: SqlLimits,
) -> Result<SqlAnswer, QueryError> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| QueryError::Invalid(format!("SQL syntax error: {e}")))?;
    if statements.len() != 1 {
        return Err(QueryError::Invalid(
            "the analytic statement must be one SELECT".into(),
        ));
    }
    let mut statement = statements.remove(0);
    let Statement::Query(query) = &mut statement else {
        return Err(QueryError::Invalid(
            "the analytic statement must be a SELECT".into(),
        ));
    };
    let limit = match &query.limit {
        Some(limit) => row_bound(limit, "LIMIT")?,
        None => {
            query.limit = Some(SqlExpr::value(Value::Number(
                DEFAULT_ROWS.to_string(),
                false,
            )));
            DEFAULT_ROWS
        }
    };
    let offset = match &query.offset {
        Some(offset) => row_bound(&offset.value, "offset")?,
        None => 0,
    };
    let fill = fill::plan(query, limit, offset)?;

    let cols = columns(schema, &rows.tag_keys());
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(GreedyMemoryPool::new(limits.memory_bytes)))
        .build_arc()
        .map_err(|e| QueryError::Internal(e.to_string()))?;
    let config = SessionConfig::new()
        .with_target_partitions(PARTITIONS)
        .with_information_schema(false);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    functions::register(&ctx);

    let mut all_tables = vec!["log".to_string()];
    all_tables.extend(tables.iter().cloned());
    let from_log = match Parser::parse_sql(&GenericDialect {}, "SELECT 1 FROM log")
        .ok()
        .and_then(|mut s| s.pop())
    {
        Some(Statement::Query(q)) => match *q.body {
            SetExpr::Select(s) => s.from,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let mut rewrite = Rewrite {
        columns: cols
            .iter()
            .map(|c| (c.name.to_lowercase(), c.name.clone()))
            .collect(),
        tables: &all_tables,
        from_log,
        ctx: &ctx,
        error: None,
        nodes: 0,
    };
    let _ = statement.visit(&mut rewrite);
    if let Some(e) = rewrite.error {
        return Err(e);
    }

    let table = LogTable {
        schema: Arc::new(ArrowSchema::new(
            cols.iter()
                .map(|c| Field::new(&c.name, arrow_type(c.kind), true))
                .collect::<Vec<_>>(),
        )),
        cols,
        rows,
        budget: limits.memory_bytes,
    };
    ctx.register_table("log", Arc::new(table))
        .map_err(|e| QueryError::Internal(e.to_string()))?;

    let (schema, batches) = execute(&ctx, statement, limits.time)?;
    let mut answer = render(&schema, &batches)?;
    if let Some(fill) = fill {
        fill.apply(&mut answer, limits.range.0, limits.range.1);
    }
    Ok(answer)
}

/// Partitions of an analytic statement's plan, each run by a thread of its own.
const PARTITIONS: usize = 2;
/// Rows of a batch of the table an analytic statement reads.
const BATCH_ROWS: usize = 64 * 1024;

/// Plans and runs `statement` within `time`: the answer's schema and rows.
fn execute(
    ctx: &SessionContext,
    statement: Statement,
    time: Duration,
) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(PARTITIONS)
        .thread_name("cairn-sql")
        .thread_stack_size(SQL_STACK_BYTES)
        .enable_time()
        .build()
        .map_err(|e| QueryError::Internal(e.to_string()))?;
    rt.block_on(async {
        let work = async {
            let plan = ctx
                .state()
                .statement_to_plan(DfStatement::Statement(Box::new(statement)))
                .await?;
            let frame = ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            Ok((schema, frame.collect().await?))
        };
        match tokio::time::timeout(time, work).await {
            Ok(r) => r.map_err(QueryError::from_datafusion),
            Err(_) => Err(QueryError::TimedOut(time)),
        }
    })
}

fn sls_type(t: &DataType) -> &'static str {
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => "bigint",
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => "bigint",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "double",
        DataType::Decimal128(..) | DataType::Decimal256(..) => "decimal",
        DataType::Boolean => "boolean",
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => "timestamp",
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => "array",
        DataType::Map(..) | DataType::Struct(_) => "map",
        _ => "varchar",
    }
}

fn render(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<SqlAnswer, QueryError> {
    let keys = schema.fields().iter().map(|f| f.name().clone()).collect();
    let types = schema
        .fields()
        .iter()
        .map(|f| sls_type(f.data_type()).to_string())
        .collect();
    let options = FormatOptions::default()
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.3f"))
        .with_null("null");
    let mut rows = Vec::new();
    for b in batches {
        let formatters = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string()))
                    .collect(),
            );
        }
    }
    Ok(SqlAnswer { keys, types, rows })
}
