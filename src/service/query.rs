//! Query and analysis (design §18): GetLogs, GetHistograms, GetContextLogs, ListTopics and
//! GetProjectLogs over a logstore's shards, with the logstore's index configuration deciding
//! what is searchable. Every query has a time and a memory budget (`[query]` in the
//! configuration); past them a search answers what it found as `Incomplete` and an analytic
//! statement fails with a clear error.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_query::schema::{Field, FieldType, JsonKeys, LineIndex, Schema, DEFAULT_MAX_TEXT_LEN};
use cairn_query::sql::{SqlAnswer, SqlLimits};
use cairn_query::{analyze::Analyzer, Doc, LogAddress, QueryError};
use parking_lot::{Condvar, Mutex};

use super::matched::{for_each_group, for_each_time, MatchedRows, Search, Window};
use super::{Error, Logstore, Result, Service};
use crate::excerpt::excerpt;
use crate::meta::index::{FieldIndex, IndexConfig, KeyType, TextRules};

/// Logs a search answers at most per call (`line`).
pub const MAX_LINES: u64 = 100;
/// Lines of context around a log at most, each way.
pub const MAX_CONTEXT_LINES: u64 = 100;

/// The budgets of every query (`[query]`).
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Wall time of one query.
    pub time: Duration,
    /// Memory of one query: the logs it holds and its analytic statement.
    pub memory_bytes: usize,
    /// Queries running at once; more wait for a turn (at most their time budget).
    pub max_running: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            time: Duration::from_secs(30),
            memory_bytes: 512 << 20,
            max_running: 4,
        }
    }
}

/// The turns of running queries: at most `max_running` at once, so that queries hold at most
/// `max_running × memory_bytes` together.
#[derive(Debug, Default)]
pub(super) struct QueryTurns {
    state: Mutex<TurnState>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct TurnState {
    running: usize,
    waiting: usize,
}

/// A running query's turn, given back when dropped.
struct Turn<'a>(&'a QueryTurns);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.state.lock().running -= 1;
        self.0.freed.notify_one();
    }
}

impl QueryTurns {
    /// A turn, waiting at most `wait` for one.
    fn take(&self, max: usize, wait: Duration) -> Result<Turn<'_>> {
        let max = max.max(1);
        let deadline = Instant::now() + wait;
        let mut state = self.state.lock();
        while state.running >= max {
            state.waiting += 1;
            let timed_out = self.freed.wait_until(&mut state, deadline).timed_out();
            state.waiting -= 1;
            if timed_out && state.running >= max {
                return Err(Error::ServerBusy(format!(
                    "{max} queries are running; retry later ([query] max_running)"
                )));
            }
        }
        state.running += 1;
        Ok(Turn(self))
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.state.lock().waiting
    }
}

/// Whether a query saw everything it was asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every log in the range was considered.
    Complete,
    /// The time or memory budget ran out first.
    Incomplete,
}

impl Progress {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Progress::Complete => "Complete",
            Progress::Incomplete => "Incomplete",
        }
    }
}

/// A GetLogs request.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    /// Start of the time range (log time, seconds, included).
    pub from: i64,
    /// End of the time range (excluded).
    pub to: i64,
    /// `search [| analytic]`.
    pub query: String,
    /// Only logs of this topic.
    pub topic: Option<String>,
    /// Logs per answer (search only; at most [`MAX_LINES`]).
    pub line: u64,
    /// Logs skipped (search only).
    pub offset: u64,
    /// Newest first.
    pub reverse: bool,
}

/// One log or one row of an answer: its fields in order, every value text.
pub type Row = Vec<(String, String)>;

/// What GetLogs answers.
#[derive(Clone, Debug)]
pub struct LogsAnswer {
    /// Whether everything in range was considered.
    pub progress: Progress,
    /// The logs or rows.
    pub rows: Vec<Row>,
    /// Logs considered.
    pub processed_rows: u64,
    /// Time taken.
    pub elapsed: Duration,
    /// Whether the query had an analytic statement.
    pub has_sql: bool,
    /// The search statement.
    pub where_query: String,
    /// The analytic statement.
    pub agg_query: String,
    /// The analytic statement's column names.
    pub keys: Vec<String>,
    /// The analytic statement's column types.
    pub column_types: Vec<String>,
}

/// One bucket of GetHistograms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Start (included).
    pub from: i64,
    /// End (excluded).
    pub to: i64,
    /// Matching logs.
    pub count: u64,
    /// Whether the bucket was counted in full.
    pub progress: Progress,
}

/// What GetContextLogs answers.
#[derive(Clone, Debug)]
pub struct ContextAnswer {
    /// The logs before, the log itself and the logs after, in storage order.
    pub logs: Vec<Row>,
    /// How many came before it.
    pub back_lines: u64,
    /// How many came after it.
    pub forward_lines: u64,
}

fn analyzer(t: &TextRules) -> Analyzer {
    Analyzer::new(
        t.token.iter().filter_map(|s| s.chars().next()),
        t.case_sensitive.unwrap_or(false),
        t.chn.unwrap_or(false),
    )
}

fn field(f: &FieldIndex) -> Field {
    Field {
        kind: match f.kind {
            KeyType::Text => FieldType::Text,
            KeyType::Long => FieldType::Long,
            KeyType::Double => FieldType::Double,
            KeyType::Json => FieldType::Json,
        },
        analyzer: f
            .text
            .as_ref()
            .map_or_else(Analyzer::default_rules, analyzer),
        alias: f.alias.clone(),
    }
}

/// What a logstore's index configuration makes searchable.
pub fn schema_of(cfg: &IndexConfig) -> Schema {
    Schema {
        line: cfg.line.as_ref().map(|l| LineIndex {
            analyzer: analyzer(&l.text),
            include: l.include_keys.as_ref().map(|k| k.iter().cloned().collect()),
            exclude: l.exclude_keys.iter().flatten().cloned().collect(),
        }),
        fields: cfg
            .keys
            .iter()
            .map(|(name, k)| (name.clone(), field(&k.field)))
            .collect(),
        json: cfg
            .keys
            .iter()
            .filter(|(_, k)| k.field.kind == KeyType::Json)
            .map(|(name, k)| {
                (
                    name.clone(),
                    JsonKeys {
                        keys: k
                            .json_keys
                            .iter()
                            .map(|(p, f)| (p.clone(), field(f)))
                            .collect(),
                        index_all: k.index_all.unwrap_or(true),
                    },
                )
            })
            .collect(),
        max_text_len: cfg
            .max_text_len
            .map_or(DEFAULT_MAX_TEXT_LEN, |n| n as usize),
    }
}

fn query_error(e: QueryError) -> Error {
    match e {
        QueryError::Invalid(m) => Error::ParameterInvalid(m),
        QueryError::MemoryExceeded(n) if n > 0 => Error::QueryBudget(format!(
            "the query needs more than its memory budget of {n} bytes; narrow the time range or the search"
        )),
        QueryError::MemoryExceeded(_) => Error::QueryBudget(
            "the query needs more than its memory budget; narrow the time range or the search".into(),
        ),
        QueryError::TimedOut(t) => Error::QueryBudget(format!(
            "the query ran past its time budget of {} ms; narrow the time range or the search",
            t.as_millis()
        )),
        QueryError::Internal(m) => Error::Internal(m),
    }
}

impl Service {
    /// The logstore and the schema of its index; a logstore without an index cannot be
    /// queried, as in SLS.
    fn queryable(&self, project: &str, logstore: &str) -> Result<(Arc<Logstore>, Schema)> {
        let ls = self.logstore(project, logstore)?;
        let Some(cfg) = &ls.rec.settings.index else {
            return Err(Error::IndexConfigNotExist(logstore.to_string()));
        };
        let schema = schema_of(cfg);
        Ok((ls, schema))
    }

    /// GetLogs: the logs a search matched, or the rows of its analytic statement.
    pub fn get_logs(&self, project: &str, logstore: &str, q: &LogQuery) -> Result<LogsAnswer> {
        let started = Instant::now();
        if q.from > q.to {
            return Err(Error::ParameterInvalid(format!(
                "from {} is after to {}",
                q.from, q.to
            )));
        }
        let (ls, schema) = self.queryable(project, logstore)?;
        let compiled = cairn_query::compile(&q.query, &schema).map_err(query_error)?;
        let _turn = self.query_turn()?;
        let (where_query, agg_query) = cairn_query::search::split_query(&q.query);
        let search = Search {
            matcher: &compiled.search,
            schema: &schema,
            window: Window {
                from: q.from,
                to: q.to,
                topic: q.topic.as_deref(),
            },
        };
        let mut answer = LogsAnswer {
            progress: Progress::Complete,
            rows: Vec::new(),
            processed_rows: 0,
            elapsed: Duration::ZERO,
            has_sql: compiled.sql.is_some(),
            where_query: where_query.to_string(),
            agg_query: agg_query
                .filter(|_| compiled.sql.is_some())
                .unwrap_or("")
                .to_string(),
            keys: Vec::new(),
            column_types: Vec::new(),
        };
        let Some(sql) = &compiled.sql else {
            let offset = q.offset.min(usize::MAX as u64) as usize;
            let line = q.line.min(MAX_LINES) as usize;
            let (docs, processed, progress) =
                self.find_page(&ls, &search, started, (q.reverse, offset, line))?;
            answer.rows = docs
                .iter()
                .map(|d| render(d, compiled.with_pack_meta))
                .collect();
            answer.processed_rows = processed;
            answer.progress = progress;
            answer.elapsed = started.elapsed();
            return Ok(answer);
        };
        let found = self.find(&ls, &search, started)?;
        answer.processed_rows = found.processed;
        if found.progress == Progress::Incomplete {
            return Err(Error::QueryBudget(
                "the logs to analyse do not fit the query's time or memory budget; narrow the time range or the search"
                    .into(),
            ));
        }
        let left = self.query_limits.time.saturating_sub(started.elapsed());
        let limits = SqlLimits {
            memory_bytes: self.query_limits.memory_bytes,
            time: left,
            range: (q.from, q.to),
        };
        let tables = [logstore.to_string()];
        let rows = Arc::new(MatchedRows {
            docs: found.docs,
            hits: found.hits,
            logstore: ls.clone(),
            max_text_len: schema.max_text_len,
        });
        let SqlAnswer { keys, types, rows } =
            cairn_query::sql::run(sql, &schema, rows, &tables, limits).map_err(query_error)?;
        answer.rows = rows
            .into_iter()
            .map(|r| {
                keys.iter()
                    .cloned()
                    .zip(r.into_iter().map(|v| v.unwrap_or_else(|| "null".into())))
                    .collect()
            })
            .collect();
        answer.keys = keys;
        answer.column_types = types;
        answer.elapsed = started.elapsed();
        Ok(answer)
    }

    /// GetHistograms: how many logs the search matches in each of up to 60 equal buckets of
    /// `[from, to)`.
    pub fn get_histograms(
        &self,
        project: &str,
        logstore: &str,
        from: i64,
        to: i64,
        topic: Option<&str>,
        query: &str,
    ) -> Result<Vec<Bucket>> {
        let started = Instant::now();
        if from > to {
            return Err(Error::ParameterInvalid(format!(
                "from {from} is after to {to}"
            )));
        }
        let (ls, schema) = self.queryable(project, logstore)?;
        let compiled = cairn_query::compile(query, &schema).map_err(query_error)?;
        if compiled.sql.is_some() {
            return Err(Error::ParameterInvalid(
                "GetHistograms takes a search statement without an analytic statement".into(),
            ));
        }
        let _turn = self.query_turn()?;
        let buckets = histogram_buckets(from, to);
        let mut counts = vec![0u64; buckets.len()];
        let width = buckets.first().map_or(1, |(f, t)| (t - f).max(1));
        let search = Search {
            matcher: &compiled.search,
            schema: &schema,
            window: Window { from, to, topic },
        };
        let found = self.find(&ls, &search, started)?;
        for_each_time(&found, |t| {
            let i = ((t - from) / width) as usize;
            if let Some(c) = counts.get_mut(i.min(buckets.len().saturating_sub(1))) {
                *c += 1;
            }
        })?;
        let progress = found.progress;
        Ok(buckets
            .into_iter()
            .zip(counts)
            .map(|((f, t), count)| Bucket {
                from: f,
                to: t,
                count,
                progress,
            })
            .collect())
    }

    /// ListTopics: the topics of the logstore's logs, in order, after `token`, at most `line`.
    pub fn list_topics(
        &self,
        project: &str,
        logstore: &str,
        token: &str,
        line: usize,
    ) -> Result<(Vec<String>, Option<String>)> {
        let started = Instant::now();
        let ls = self.logstore(project, logstore)?;
        let _turn = self.query_turn()?;
        let mut topics = BTreeSet::new();
        let all = Window {
            from: i64::MIN,
            to: i64::MAX,
            topic: None,
        };
        self.scan_all(&ls, all, started, |d| {
            if d.topic.as_str() > token && !topics.contains(&d.topic) {
                topics.insert(d.topic.clone());
            }
            false
        })?;
        let mut list: Vec<String> = topics.into_iter().collect();
        let next = (list.len() > line).then(|| list[line - 1].clone());
        list.truncate(line);
        Ok((list, next))
    }

    /// GetContextLogs: up to `back` logs before and `forward` logs after the log that
    /// `pack_meta` names, in storage order within its shard.
    pub fn get_context_logs(
        &self,
        project: &str,
        logstore: &str,
        pack_meta: &str,
        back: u64,
        forward: u64,
    ) -> Result<ContextAnswer> {
        for (name, n) in [("back_lines", back), ("forward_lines", forward)] {
            if n > MAX_CONTEXT_LINES {
                return Err(Error::ParameterInvalid(format!(
                    "{name} {n} is larger than {MAX_CONTEXT_LINES}"
                )));
            }
        }
        if back == 0 && forward == 0 {
            return Err(Error::ParameterInvalid(
                "back_lines and forward_lines cannot both be 0".into(),
            ));
        }
        let at = parse_pack_meta(pack_meta)?;
        let ls = self.logstore(project, logstore)?;
        let log = ls.shard_log(at.shard)?;
        let (begin, end) = (log.begin(), log.end());
        if at.cursor < begin || at.cursor >= end {
            return Err(Error::ParameterInvalid(format!(
                "pack_meta {:?} names a log that is not stored (any more)",
                excerpt(pack_meta)
            )));
        }
        let group_docs = |cursor: u64| -> Result<Vec<Doc>> {
            let mut docs = Vec::new();
            for_each_group(log, at.shard, cursor, cursor + 1, |g| {
                docs = g.docs();
                Ok(false)
            })?;
            Ok(docs)
        };
        let here = group_docs(at.cursor)?;
        let Some(center) = here.get(at.index as usize).cloned() else {
            return Err(Error::ParameterInvalid(format!(
                "pack_meta {:?} names a log that is not stored",
                excerpt(pack_meta)
            )));
        };
        // Before: earlier logs of its group, then earlier groups.
        let mut before: Vec<Doc> = here[..at.index as usize].to_vec();
        let mut c = at.cursor;
        while (before.len() as u64) < back && c > begin {
            c -= 1;
            let mut g = group_docs(c)?;
            g.append(&mut before);
            before = g;
        }
        let skip = before.len().saturating_sub(back as usize);
        let before: Vec<Doc> = before.into_iter().skip(skip).collect();
        let mut after: Vec<Doc> = here[at.index as usize + 1..].to_vec();
        let mut c = at.cursor;
        while (after.len() as u64) < forward && c + 1 < end {
            c += 1;
            after.extend(group_docs(c)?);
        }
        after.truncate(forward as usize);
        let (back_lines, forward_lines) = (before.len() as i64, after.len() as u64);
        let logs = before
            .iter()
            .chain(std::iter::once(&center))
            .chain(after.iter())
            .enumerate()
            .map(|(i, d)| {
                let mut row = render(d, true);
                row.push((
                    "__index_number__".into(),
                    (i as i64 - back_lines).to_string(),
                ));
                row
            })
            .collect();
        Ok(ContextAnswer {
            logs,
            back_lines: back_lines as u64,
            forward_lines,
        })
    }

    /// GetProjectLogs: an analytic statement whose `FROM` names a logstore of the project.
    pub fn get_project_logs(&self, project: &str, query: &str) -> Result<LogsAnswer> {
        let ls = from_logstore(query).ok_or_else(|| {
            Error::ParameterInvalid(
                "the query must be an analytic statement reading one logstore: select … from <logstore> where …"
                    .into(),
            )
        })?;
        let q = LogQuery {
            from: i64::MIN,
            to: i64::MAX,
            query: format!("* | {query}"),
            line: MAX_LINES,
            ..LogQuery::default()
        };
        self.get_logs(project, &ls, &q)
    }

    /// The query budgets.
    pub fn query_limits(&self) -> QueryLimits {
        self.query_limits
    }

    /// A turn to run a query, waiting at most the time budget for one.
    fn query_turn(&self) -> Result<Turn<'_>> {
        let l = self.query_limits;
        self.query_turns.take(l.max_running, l.time)
    }
}

/// The logstore a GetProjectLogs statement reads: the table of its first `FROM`.
fn from_logstore(query: &str) -> Option<String> {
    cairn_query::sql::first_table(query)
}

/// The equal buckets of a histogram of `[from, to)`: at most 60, whole seconds each.
pub fn histogram_buckets(from: i64, to: i64) -> Vec<(i64, i64)> {
    if to <= from {
        return Vec::new();
    }
    let span = to - from;
    let width = ((span + 59) / 60).max(1);
    let mut out = Vec::new();
    let mut f = from;
    while f < to {
        let t = (f + width).min(to);
        out.push((f, t));
        f = t;
    }
    out
}

/// Where a log is, as GetContextLogs takes it (`__pack_meta__`): `shard|cursor|count|index`.
fn pack_meta(d: &Doc) -> String {
    format!(
        "{}|{}|1|{}",
        d.address.shard,
        cairn_proto::encode_cursor(d.address.cursor),
        d.address.index
    )
}

fn parse_pack_meta(s: &str) -> Result<LogAddress> {
    let bad = || {
        Error::ParameterInvalid(format!(
            "pack_meta {:?} is not shard|cursor|count|index as GetLogs answers it",
            excerpt(s)
        ))
    };
    let parts: Vec<&str> = s.split('|').collect();
    let [shard, cursor, _, index] = parts[..] else {
        return Err(bad());
    };
    Ok(LogAddress {
        shard: shard.parse().map_err(|_| bad())?,
        cursor: cairn_proto::decode_cursor(cursor).map_err(|_| bad())?,
        index: index.parse().map_err(|_| bad())?,
    })
}

/// A log as GetLogs answers it: its contents, `__time__`, `__source__`, `__topic__` and tags
/// (`__tag__:<name>`), every value text; with `pack_meta`, also where it is stored.
fn render(d: &Doc, with_pack_meta: bool) -> Row {
    let mut row: Row = Vec::with_capacity(d.contents.len() + d.tags.len() + 4);
    for (k, v) in &d.contents {
        if !row.iter().any(|(x, _)| x == k) {
            row.push((k.clone(), v.clone()));
        }
    }
    row.push(("__time__".into(), d.time.to_string()));
    if let Some(ns) = d.time_ns {
        row.push(("__time_ns_part__".into(), ns.to_string()));
    }
    row.push(("__source__".into(), d.source.clone()));
    row.push(("__topic__".into(), d.topic.clone()));
    for (k, v) in &d.tags {
        row.push((format!("__tag__:{k}"), v.clone()));
    }
    if with_pack_meta {
        if d.tag("__pack_id__").is_none() {
            row.push((
                "__tag__:__pack_id__".into(),
                format!("{:X}-{:X}", d.address.shard, d.address.cursor),
            ));
        }
        row.push(("__pack_meta__".into(), pack_meta(d)));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::super::testing::{line_and_long, proj_ls1, service};
    use super::*;
    use cairn_proto::logs::LogGroup;
    use cairn_proto::{Log, LogContent};
    use prost::Message;

    /// `proj/ls1` (2 shards) with a full-text index and `n` as a long; logs `0..count` with
    /// time `T + i`, `n = i`, and a `pad` of `pad` bytes.
    fn indexed(svc: &Service, count: u32, pad: usize) {
        proj_ls1(svc, 2, 1);
        svc.create_index("proj", "ls1", line_and_long("n")).unwrap();
        for chunk in (0..count).collect::<Vec<_>>().chunks(50) {
            let g = LogGroup {
                logs: chunk
                    .iter()
                    .map(|&i| Log {
                        time: T + i,
                        contents: vec![
                            LogContent {
                                key: b"n".to_vec(),
                                value: i.to_string().into_bytes(),
                            },
                            LogContent {
                                key: b"pad".to_vec(),
                                value: vec![b'x'; pad],
                            },
                        ],
                        time_ns: None,
                    })
                    .collect(),
                ..Default::default()
            };
            svc.put_logs(
                "proj",
                "ls1",
                super::super::PutTarget::LoadBalance,
                &g.encode_to_vec(),
            )
            .unwrap();
        }
    }

    const T: u32 = 1_700_000_000;

    fn q(query: &str) -> LogQuery {
        LogQuery {
            from: i64::from(T),
            to: i64::from(T) + 100_000,
            query: query.into(),
            line: 100,
            ..LogQuery::default()
        }
    }

    #[test]
    fn searches_and_analyses_over_every_shard() {
        let (svc, _dir) = service();
        indexed(&svc, 300, 4);
        let a = svc.get_logs("proj", "ls1", &q("n >= 290")).unwrap();
        assert_eq!(a.progress, Progress::Complete);
        let ns: Vec<String> = a
            .rows
            .iter()
            .map(|r| r.iter().find(|(k, _)| k == "n").unwrap().1.clone())
            .collect();
        assert_eq!(ns, (290..300).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(a.processed_rows, 300);
        let a = svc
            .get_logs("proj", "ls1", &q("* | select count(*) as c, max(n) as m"))
            .unwrap();
        assert!(a.has_sql);
        assert_eq!(a.keys, ["c", "m"]);
        assert_eq!(
            a.rows,
            vec![vec![
                ("c".to_string(), "300".to_string()),
                ("m".to_string(), "299".to_string())
            ]]
        );
        let h = svc
            .get_histograms(
                "proj",
                "ls1",
                i64::from(T),
                i64::from(T) + 300,
                None,
                "n < 100",
            )
            .unwrap();
        assert_eq!(h.len(), 60);
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 100);
        assert_eq!(h[0].count, 5);
    }

    #[test]
    fn past_the_memory_budget_a_deep_page_is_incomplete_and_an_analysis_refused() {
        let (svc, _dir) = service();
        let svc = svc.with_query_limits(QueryLimits {
            time: Duration::from_secs(60),
            memory_bytes: 1 << 20,
            max_running: 1,
        });
        indexed(&svc, 600, 4096);
        // A search holds the logs of its page: 100 fit, 400 do not.
        let a = svc.get_logs("proj", "ls1", &q("*")).unwrap();
        assert_eq!(a.progress, Progress::Complete);
        assert_eq!(a.rows.len(), 100);
        let deep = LogQuery {
            offset: 300,
            ..q("*")
        };
        let a = svc.get_logs("proj", "ls1", &deep).unwrap();
        assert_eq!(a.progress, Progress::Incomplete);
        assert!(a.processed_rows < 600);
        let e = svc
            .get_logs("proj", "ls1", &q("* | select count(*)"))
            .unwrap_err();
        assert!(matches!(e, Error::QueryBudget(_)), "{e}");
        // A narrow search fits.
        let a = svc.get_logs("proj", "ls1", &q("n < 3")).unwrap();
        assert_eq!(a.progress, Progress::Complete);
        assert_eq!(a.rows.len(), 3);
    }

    #[test]
    fn past_the_time_budget_a_query_stops() {
        let (svc, _dir) = service();
        let svc = svc.with_query_limits(QueryLimits {
            time: Duration::ZERO,
            memory_bytes: 64 << 20,
            max_running: 1,
        });
        indexed(&svc, 100, 4);
        let a = svc.get_logs("proj", "ls1", &q("*")).unwrap();
        assert_eq!(a.progress, Progress::Incomplete);
        assert!(a.rows.is_empty());
        let e = svc
            .get_logs("proj", "ls1", &q("* | select count(*)"))
            .unwrap_err();
        assert!(matches!(e, Error::QueryBudget(_)), "{e}");
    }

    #[test]
    fn context_logs_cross_group_boundaries() {
        let (svc, _dir) = service();
        indexed(&svc, 120, 4);
        let meta_of = |n: u32| {
            let a = svc
                .get_logs("proj", "ls1", &q(&format!("n:{n} | with_pack_meta")))
                .unwrap();
            a.rows[0]
                .iter()
                .find(|(k, _)| k == "__pack_meta__")
                .unwrap()
                .1
                .clone()
        };
        let ns = |c: &ContextAnswer| -> Vec<u32> {
            c.logs
                .iter()
                .map(|r| r.iter().find(|(k, _)| k == "n").unwrap().1.parse().unwrap())
                .collect()
        };
        // Groups of 50 are written round robin to the 2 shards: 0..49 and 100..119 share one.
        let c = svc
            .get_context_logs("proj", "ls1", &meta_of(45), 15, 45)
            .unwrap();
        assert_eq!((c.back_lines, c.forward_lines), (15, 24));
        let got = ns(&c);
        assert_eq!(got[..16], (30..46).collect::<Vec<_>>()[..]);
        assert_eq!(got.last(), Some(&119));
        let c = svc
            .get_context_logs("proj", "ls1", &meta_of(102), 5, 1)
            .unwrap();
        assert_eq!(ns(&c), [47, 48, 49, 100, 101, 102, 103]);
        let meta = meta_of(60);
        assert!(svc.get_context_logs("proj", "ls1", &meta, 101, 0).is_err());
        assert!(svc.get_context_logs("proj", "ls1", "junk", 1, 1).is_err());
    }

    #[test]
    fn queries_past_the_running_limit_wait_then_are_refused() {
        let turns = QueryTurns::default();
        let a = turns.take(2, Duration::ZERO).unwrap();
        let _b = turns.take(2, Duration::ZERO).unwrap();
        let e = turns.take(2, Duration::ZERO).err().unwrap();
        assert!(matches!(e, Error::ServerBusy(_)), "{e}");
        drop(a);
        let _c = turns.take(2, Duration::ZERO).unwrap();
        // A waiting query gets the turn a finishing one gives back.
        std::thread::scope(|s| {
            let waiter = s.spawn(|| turns.take(2, Duration::from_secs(60)).map(|_| ()));
            while turns.waiting() == 0 {
                std::thread::yield_now();
            }
            drop(_c);
            waiter.join().unwrap().unwrap();
        });
    }

    #[test]
    fn a_logstore_without_an_index_cannot_be_queried() {
        let (svc, _dir) = service();
        proj_ls1(&svc, 1, 1);
        let e = svc.get_logs("proj", "ls1", &q("*")).unwrap_err();
        assert!(matches!(e, Error::IndexConfigNotExist(_)), "{e}");
    }

    #[test]
    fn histogram_buckets_cover_the_range_in_at_most_sixty() {
        assert_eq!(
            histogram_buckets(0, 60),
            (0..60).map(|i| (i, i + 1)).collect::<Vec<_>>()
        );
        let b = histogram_buckets(100, 100 + 3600);
        assert_eq!(b.len(), 60);
        assert_eq!(b[0], (100, 160));
        assert_eq!(b.last().unwrap().1, 3700);
        let odd = histogram_buckets(0, 61);
        assert_eq!(odd.len(), 31);
        assert_eq!(odd.last().unwrap(), &(60, 61));
        assert!(histogram_buckets(5, 5).is_empty());
    }

    #[test]
    fn pack_meta_round_trips() {
        let a = LogAddress {
            shard: 3,
            cursor: 12345,
            index: 7,
        };
        let d = Doc {
            address: a,
            time: 0,
            time_ns: None,
            topic: String::new(),
            source: String::new(),
            tags: Vec::new(),
            contents: Vec::new(),
        };
        assert_eq!(parse_pack_meta(&pack_meta(&d)).unwrap(), a);
        assert!(parse_pack_meta("1|x|1|0").is_err());
    }

    #[test]
    fn project_logs_name_their_logstore_after_from() {
        assert_eq!(
            from_logstore("select count(*) from web where a > 1").as_deref(),
            Some("web")
        );
        assert_eq!(
            from_logstore("SELECT * FROM \"my ls\"").as_deref(),
            Some("my ls")
        );
        assert_eq!(from_logstore("select 1"), None);
    }
}
