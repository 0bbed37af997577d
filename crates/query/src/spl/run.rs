//! Runs a [`Pipeline`] over pulled LogGroups.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use cairn_proto::logs::LogGroup;
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ident, Expr, SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Ident, VisitMut, VisitorMut};

use super::table::{self, is_fixed, GROUP};
use super::{Instruction, Pattern, Pipeline};
use crate::sql::{on_sql_stack, rewrite_function};
use crate::{functions, QueryError};

/// What a pipeline made of the pulled LogGroups.
#[derive(Debug)]
pub struct SplOutput {
    /// The LogGroups left (none for a group all of whose logs were dropped).
    pub groups: Vec<LogGroup>,
    /// Logs read.
    pub lines_in: usize,
    /// Logs answered.
    pub lines_out: usize,
    /// Logs dropped because an expression failed on them (such as a cast of text that is not a
    /// number).
    pub failed: usize,
}

/// How many times a failing expression is retried on halves of the rows to find the logs it
/// fails on; past that, the rows of the failing parts are all counted as failed.
const RETRIES: usize = 256;

/// Runs `pipeline` over `groups` within `time`, with DataFusion's operators under
/// `memory_bytes`.
pub fn run(
    pipeline: &Pipeline,
    groups: &[LogGroup],
    memory_bytes: usize,
    time: Duration,
) -> Result<SplOutput, QueryError> {
    let lines_in = groups.iter().map(|g| g.logs.len()).sum();
    // Nothing read (a consumer at the end of its shard) or nothing to do: no table is built.
    if pipeline.instructions.is_empty() || lines_in == 0 {
        return Ok(SplOutput {
            groups: groups.to_vec(),
            lines_in,
            lines_out: lines_in,
            failed: 0,
        });
    }
    let deadline = Instant::now() + time;
    let batch = table::from_groups(groups)?;
    on_sql_stack(|| {
        let mut runner = Runner::new(memory_bytes, deadline, time)?;
        let mut batch = batch;
        for step in &pipeline.instructions {
            if Instant::now() >= deadline {
                return Err(QueryError::TimedOut(time));
            }
            batch = runner.step(step, batch)?;
        }
        let lines_out = batch.num_rows();
        Ok(SplOutput {
            groups: table::to_groups(&batch)?,
            lines_in,
            lines_out,
            failed: runner.failed,
        })
    })
}

struct Runner {
    ctx: SessionContext,
    rt: tokio::runtime::Runtime,
    deadline: Instant,
    time: Duration,
    memory_bytes: usize,
    failed: usize,
}

/// Quotes every field an expression names (fields are case-sensitive) and collects the names;
/// renames and checks functions as the analytic statement does.
struct Fields<'a> {
    ctx: &'a SessionContext,
    names: HashSet<String>,
    error: Option<QueryError>,
}

impl VisitorMut for Fields<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<()> {
        match expr {
            SqlExpr::Identifier(id) => {
                self.names.insert(id.value.clone());
                *id = Ident::with_quote('"', id.value.clone());
            }
            SqlExpr::CompoundIdentifier(parts) => {
                let name = parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                self.names.insert(name.clone());
                *expr = SqlExpr::Identifier(Ident::with_quote('"', name));
            }
            SqlExpr::Function(f) => {
                if let Err(e) = rewrite_function(f, self.ctx) {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.schema().index_of(name).ok().map(|i| batch.column(i))
}

fn columns(batch: &RecordBatch) -> Vec<(String, ArrayRef)> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .zip(batch.columns().iter().cloned())
        .collect()
}

/// A column as text: strings as they are, other types rendered.
fn text(a: &ArrayRef) -> Result<StringArray, QueryError> {
    if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
        return Ok(s.clone());
    }
    if let Ok(c) = arrow::compute::cast(a, &DataType::Utf8) {
        if let Some(s) = c.as_any().downcast_ref::<StringArray>() {
            return Ok(s.clone());
        }
    }
    let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
        .map_err(|e| QueryError::Internal(e.to_string()))?;
    Ok(StringArray::from_iter(
        (0..a.len()).map(|i| (!a.is_null(i)).then(|| f.value(i).to_string())),
    ))
}

/// Text values set on some rows of a batch; the other rows keep theirs.
struct Edit<'a> {
    batch: &'a RecordBatch,
    preserve: bool,
    changed: HashMap<String, Vec<Option<String>>>,
    order: Vec<String>,
}

impl<'a> Edit<'a> {
    fn new(batch: &'a RecordBatch, preserve: bool) -> Edit<'a> {
        Edit {
            batch,
            preserve,
            changed: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn set(&mut self, name: &str, row: usize, value: String) -> Result<(), QueryError> {
        if is_fixed(name) {
            return Ok(());
        }
        if !self.changed.contains_key(name) {
            let values = match column(self.batch, name) {
                Some(c) => text(c)?.iter().map(|v| v.map(String::from)).collect(),
                None => vec![None; self.batch.num_rows()],
            };
            self.changed.insert(name.to_string(), values);
            self.order.push(name.to_string());
        }
        let slot = &mut self.changed.get_mut(name).expect("inserted")[row];
        if !(self.preserve && slot.is_some()) {
            *slot = Some(value);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<RecordBatch, QueryError> {
        let mut out = columns(self.batch);
        for (name, a) in &mut out {
            if let Some(v) = self.changed.remove(name) {
                *a = Arc::new(StringArray::from(v));
            }
        }
        for name in self.order {
            if let Some(v) = self.changed.remove(&name) {
                out.push((name, Arc::new(StringArray::from(v))));
            }
        }
        table::batch(out)
    }
}

fn csv_fields(s: &str, delim: &str, quote: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut rest = s;
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = rest.chars().next() {
        if quoted {
            rest = &rest[c.len_utf8()..];
            if c == quote {
                if rest.starts_with(quote) {
                    field.push(quote);
                    rest = &rest[quote.len_utf8()..];
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        if rest.starts_with(delim) {
            out.push(std::mem::take(&mut field));
            rest = &rest[delim.len()..];
            at_start = true;
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if c == quote && at_start {
            quoted = true;
        } else {
            field.push(c);
        }
        at_start = false;
    }
    out.push(field);
    out
}

/// `key<sep>value` pairs of `s`, cut at any character of `delims` outside double quotes
/// (`\s` in `delims` stands for white space); values lose their double quotes.
fn kv_pairs(s: &str, delims: &str, sep: &str) -> Vec<(String, String)> {
    let space = delims.contains("\\s");
    let chars: Vec<char> = delims.replace("\\s", "").chars().collect();
    let is_delim = |c: char| chars.contains(&c) || (space && c.is_whitespace());
    let mut tokens = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && is_delim(c) {
            tokens.push(String::new());
        } else {
            tokens.last_mut().expect("one token").push(c);
        }
    }
    tokens
        .into_iter()
        .filter_map(|t| {
            let (k, v) = t.split_once(sep)?;
            let k = k.trim();
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Runner {
    fn new(memory_bytes: usize, deadline: Instant, time: Duration) -> Result<Runner, QueryError> {
        let internal = |e: &dyn std::fmt::Display| QueryError::Internal(e.to_string());
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(memory_bytes)))
            .build_arc()
            .map_err(|e| internal(&e))?;
        let ctx = SessionContext::new_with_config_rt(
            SessionConfig::new().with_target_partitions(1),
            runtime,
        );
        functions::register(&ctx);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| internal(&e))?;
        Ok(Runner {
            ctx,
            rt,
            deadline,
            time,
            memory_bytes,
            failed: 0,
        })
    }

    fn step(&mut self, step: &Instruction, batch: RecordBatch) -> Result<RecordBatch, QueryError> {
        match step {
            Instruction::Where(e) => self.sql(batch, std::slice::from_ref(e.as_ref()), None),
            Instruction::Extend(list) => {
                if let Some((n, _)) = list.iter().find(|(n, _)| n == GROUP) {
                    return Err(QueryError::Invalid(format!(
                        "invalid query: extend may not set {n}"
                    )));
                }
                let exprs: Vec<SqlExpr> = list.iter().map(|(_, e)| e.clone()).collect();
                let names: Vec<String> = list.iter().map(|(n, _)| n.clone()).collect();
                self.sql(batch, &exprs, Some(&names))
            }
            Instruction::Project(items) => project(&batch, items),
            Instruction::ProjectAway(patterns) => {
                let kept = columns(&batch)
                    .into_iter()
                    .filter(|(n, _)| is_fixed(n) || !patterns.iter().any(|p| p.matches(n)))
                    .collect();
                table::batch(kept)
            }
            Instruction::ProjectRename(renames) => rename(&batch, renames),
            Instruction::ParseRegexp { field, re, outputs } => {
                self.parse_each(&batch, field, false, |s, set| {
                    if let Some(c) = re.captures(s) {
                        for (i, name) in outputs.iter().enumerate() {
                            if let Some(m) = c.get(i + 1) {
                                set(name, m.as_str().to_string())?;
                            }
                        }
                    }
                    Ok(())
                })
            }
            Instruction::ParseCsv {
                field,
                delim,
                quote,
                strict,
                outputs,
            } => self.parse_each(&batch, field, false, |s, set| {
                let values = csv_fields(s, delim, *quote);
                if *strict && values.len() != outputs.len() {
                    return Ok(());
                }
                for (name, v) in outputs.iter().zip(values) {
                    set(name, v)?;
                }
                Ok(())
            }),
            Instruction::ParseJson {
                field,
                path,
                prefix,
                preserve,
            } => self.parse_each(&batch, field, *preserve, |s, set| {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(s) else {
                    return Ok(());
                };
                let at = match path {
                    Some(p) => functions::json_path(&v, p),
                    None => Some(&v),
                };
                if let Some(serde_json::Value::Object(map)) = at {
                    for (k, v) in map {
                        if let Some(v) = json_text(v) {
                            set(&format!("{prefix}{k}"), v)?;
                        }
                    }
                }
                Ok(())
            }),
            Instruction::ParseKv {
                field,
                delims,
                kv_sep,
                prefix,
                preserve,
            } => self.parse_each(&batch, field, *preserve, |s, set| {
                for (k, v) in kv_pairs(s, delims, kv_sep) {
                    set(&format!("{prefix}{k}"), v)?;
                }
                Ok(())
            }),
        }
    }

    /// Calls `f` with the text of `field` of each row that has it, and a setter for that row.
    fn parse_each(
        &mut self,
        batch: &RecordBatch,
        field: &str,
        preserve: bool,
        mut f: impl FnMut(
            &str,
            &mut dyn FnMut(&str, String) -> Result<(), QueryError>,
        ) -> Result<(), QueryError>,
    ) -> Result<RecordBatch, QueryError> {
        let Some(source) = column(batch, field) else {
            return Ok(batch.clone());
        };
        let source = text(source)?;
        let mut edit = Edit::new(batch, preserve);
        for (row, s) in source.iter().enumerate() {
            if row % 4096 == 0 && Instant::now() >= self.deadline {
                return Err(QueryError::TimedOut(self.time));
            }
            if let Some(s) = s {
                f(s, &mut |name, v| edit.set(name, row, v))?;
            }
        }
        edit.finish()
    }

    /// `where` (one expression, no names) or `extend` (an expression per name) over `batch`.
    fn sql(
        &mut self,
        batch: RecordBatch,
        exprs: &[SqlExpr],
        names: Option<&[String]>,
    ) -> Result<RecordBatch, QueryError> {
        let mut fields = Fields {
            ctx: &self.ctx,
            names: HashSet::new(),
            error: None,
        };
        let mut texts = Vec::with_capacity(exprs.len());
        for e in exprs {
            let mut e = e.clone();
            let _ = e.visit(&mut fields);
            if let Some(err) = fields.error.take() {
                return Err(QueryError::Invalid(format!("invalid query: {err}")));
            }
            texts.push(e.to_string());
        }
        // A field no log has is NULL.
        let mut cols = columns(&batch);
        let rows = batch.num_rows();
        for n in &fields.names {
            if column(&batch, n).is_none() {
                cols.push((
                    n.clone(),
                    arrow::array::new_null_array(&DataType::Utf8, rows),
                ));
            }
        }
        let input = table::batch(cols)?;
        let original: Vec<String> = columns(&batch).into_iter().map(|(n, _)| n).collect();
        let mut retries = RETRIES;
        let parts = self.eval(input, &texts, names, &original, &mut retries)?;
        if parts.is_empty() {
            return Ok(batch.slice(0, 0));
        }
        concat_batches(&parts[0].schema(), &parts).map_err(|e| QueryError::Internal(e.to_string()))
    }

    /// Evaluates on `input`; when evaluation fails, on each half, so that only the logs it fails
    /// on are dropped.
    fn eval(
        &mut self,
        input: RecordBatch,
        texts: &[String],
        names: Option<&[String]>,
        original: &[String],
        retries: &mut usize,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        let df = self
            .ctx
            .read_batch(input.clone())
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        let planned = (|| {
            let exprs = texts
                .iter()
                .map(|t| df.parse_sql_expr(t))
                .collect::<datafusion::error::Result<Vec<Expr>>>()?;
            match names {
                None => df.filter(exprs.into_iter().next().expect("one expression")),
                Some(names) => {
                    let mut select: Vec<Expr> = Vec::new();
                    for n in original {
                        match names.iter().position(|m| m == n) {
                            Some(i) => select.push(exprs[i].clone().alias(n)),
                            None => select.push(ident(n)),
                        }
                    }
                    for (n, e) in names.iter().zip(&exprs) {
                        if !original.contains(n) {
                            select.push(e.clone().alias(n));
                        }
                    }
                    df.select(select)
                }
            }
        })()
        .map_err(|e| match QueryError::from_datafusion(e) {
            QueryError::Invalid(m) => QueryError::Invalid(format!("invalid query: {m}")),
            other => other,
        })?;
        let left = self.deadline.saturating_duration_since(Instant::now());
        let result = self
            .rt
            .block_on(async { tokio::time::timeout(left, planned.collect()).await });
        match result {
            Err(_) => Err(QueryError::TimedOut(self.time)),
            Ok(Ok(batches)) => Ok(batches),
            Ok(Err(e)) => {
                match QueryError::from_datafusion(e) {
                    QueryError::Invalid(_) => {}
                    QueryError::MemoryExceeded(_) => {
                        return Err(QueryError::MemoryExceeded(self.memory_bytes))
                    }
                    other => return Err(other),
                }
                let rows = input.num_rows();
                if rows <= 1 || *retries == 0 {
                    self.failed += rows;
                    return Ok(Vec::new());
                }
                *retries -= 1;
                let half = rows / 2;
                let mut out = self.eval(input.slice(0, half), texts, names, original, retries)?;
                out.extend(self.eval(
                    input.slice(half, rows - half),
                    texts,
                    names,
                    original,
                    retries,
                )?);
                Ok(out)
            }
        }
    }
}

fn project(
    batch: &RecordBatch,
    items: &[(Pattern, Option<String>)],
) -> Result<RecordBatch, QueryError> {
    let all = columns(batch);
    let mut out: Vec<(String, ArrayRef)> =
        all.iter().filter(|(n, _)| is_fixed(n)).cloned().collect();
    for (pattern, rename) in items {
        for (n, a) in all
            .iter()
            .filter(|(n, _)| !is_fixed(n) && pattern.matches(n))
        {
            let name = rename.clone().unwrap_or_else(|| n.clone());
            if is_fixed(&name) {
                return Err(QueryError::Invalid(format!(
                    "invalid query: project may not rename a field to {name}"
                )));
            }
            if !out.iter().any(|(m, _)| *m == name) {
                out.push((name, a.clone()));
            }
        }
    }
    table::batch(out)
}

fn rename(batch: &RecordBatch, renames: &[(String, String)]) -> Result<RecordBatch, QueryError> {
    let mut out = columns(batch);
    for (new, old) in renames {
        if is_fixed(new) || is_fixed(old) {
            return Err(QueryError::Invalid(format!(
                "invalid query: project-rename may not rename {old} to {new}"
            )));
        }
        if out.iter().any(|(n, _)| n == old) {
            // A field already named `new` is replaced.
            out.retain(|(n, _)| n != new || new == old);
            if let Some(c) = out.iter_mut().find(|(n, _)| n == old) {
                c.0 = new.clone();
            }
        }
    }
    table::batch(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_keep_quoted_delimiters_and_doubled_quotes() {
        assert_eq!(csv_fields(r#"a,"b,c",d"#, ",", '"'), ["a", "b,c", "d"]);
        assert_eq!(
            csv_fields(r#""say ""hi""",x"#, ",", '"'),
            [r#"say "hi""#, "x"]
        );
        assert_eq!(csv_fields("a||b||", "||", '"'), ["a", "b", ""]);
        assert_eq!(csv_fields("", ",", '"'), [""]);
    }

    #[test]
    fn kv_pairs_skip_text_without_a_separator_and_unquote_values() {
        assert_eq!(
            kv_pairs(
                r#"k1="helloworld",the change world, k2="good""#,
                ",\\s",
                "="
            ),
            [
                ("k1".into(), "helloworld".into()),
                ("k2".into(), "good".into())
            ]
        );
        assert_eq!(
            kv_pairs(r#"a=1&b="x&y"&=3&c"#, "&", "="),
            [
                ("a".to_string(), "1".to_string()),
                ("b".into(), "x&y".into())
            ]
        );
        assert_eq!(kv_pairs("a:1;b:2", ";", ":").len(), 2);
    }

    fn run_one(statement: &str, groups: &[LogGroup]) -> SplOutput {
        let p = super::super::parse(statement).unwrap();
        run(&p, groups, 64 << 20, Duration::from_secs(30)).unwrap()
    }

    fn group(values: &[&str]) -> LogGroup {
        use cairn_proto::logs::{Log, LogContent};
        LogGroup {
            logs: values
                .iter()
                .map(|v| Log {
                    time: 1,
                    contents: vec![LogContent {
                        key: b"n".to_vec(),
                        value: v.as_bytes().to_vec(),
                    }],
                    time_ns: None,
                })
                .collect(),
            topic: Some("t".into()),
            ..Default::default()
        }
    }

    #[test]
    fn logs_an_expression_fails_on_are_dropped_and_counted() {
        let groups = [group(&["1", "x", "700", "y"]), group(&["900"])];
        let out = run_one("* | where cast(n as bigint) > 500", &groups);
        assert_eq!((out.lines_in, out.lines_out, out.failed), (5, 2, 2));
        assert_eq!(out.groups.len(), 2);
        assert_eq!(out.groups[0].logs[0].contents[0].value, b"700");
        assert_eq!(out.groups[0].topic.as_deref(), Some("t"));
    }

    #[test]
    fn a_group_with_no_log_left_is_not_answered() {
        let groups = [group(&["1"]), group(&["2"]), group(&["1"])];
        let out = run_one("* | where n = '1'", &groups);
        assert_eq!(out.groups.len(), 2);
        assert_eq!(out.lines_out, 2);
    }
}
