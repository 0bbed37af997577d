//! LogGroups as one Arrow table for SPL, and back. Each log is a row; each field a column of
//! text, NULL where a log lacks it. `__time__` and `__time_ns_part__` are bigint columns, and a
//! hidden column keeps the index of the LogGroup each row came from.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use cairn_proto::logs::{Log, LogContent, LogGroup, LogTag};

use crate::QueryError;

/// The hidden column: the index of the input LogGroup of each row.
pub(super) const GROUP: &str = "__cairn_group__";
/// The time column.
pub(super) const TIME: &str = "__time__";
/// The nanosecond part of the time.
pub(super) const TIME_NS: &str = "__time_ns_part__";
const TOPIC: &str = "__topic__";
const SOURCE: &str = "__source__";
const TAG: &str = "__tag__:";

/// Fields that instructions other than `extend` may not remove, rename or overwrite.
pub(super) fn is_fixed(name: &str) -> bool {
    name == GROUP || name == TIME || name == TIME_NS
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Text columns built row by row.
#[derive(Default)]
pub(super) struct Columns {
    names: Vec<String>,
    index: HashMap<String, usize>,
    values: Vec<Vec<Option<String>>>,
    rows: usize,
}

impl Columns {
    pub(super) fn new(rows: usize) -> Columns {
        Columns {
            rows,
            ..Columns::default()
        }
    }

    /// Sets `name` of `row`, adding the column if it is new.
    pub(super) fn set(&mut self, name: &str, row: usize, value: String) {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.names.push(name.to_string());
                self.values.push(vec![None; self.rows]);
                self.index.insert(name.to_string(), self.values.len() - 1);
                self.values.len() - 1
            }
        };
        self.values[i][row] = Some(value);
    }

    /// The columns, in the order they were first set.
    pub(super) fn into_arrays(self) -> Vec<(String, ArrayRef)> {
        self.names
            .into_iter()
            .zip(self.values)
            .map(|(n, v)| (n, Arc::new(StringArray::from(v)) as ArrayRef))
            .collect()
    }
}

/// Builds a batch from named columns.
pub(super) fn batch(columns: Vec<(String, ArrayRef)>) -> Result<RecordBatch, QueryError> {
    let schema = Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .map_err(|e| QueryError::Internal(e.to_string()))
}

/// The logs of `groups` as one table.
pub(super) fn from_groups(groups: &[LogGroup]) -> Result<RecordBatch, QueryError> {
    let rows: usize = groups.iter().map(|g| g.logs.len()).sum();
    let mut group = Vec::with_capacity(rows);
    let mut time = Vec::with_capacity(rows);
    let mut time_ns = Vec::with_capacity(rows);
    let mut fields = Columns::new(rows);
    let mut row = 0;
    for (gi, g) in groups.iter().enumerate() {
        for log in &g.logs {
            group.push(gi as u32);
            time.push(i64::from(log.time));
            time_ns.push(log.time_ns.map(i64::from));
            if let Some(t) = &g.topic {
                fields.set(TOPIC, row, t.clone());
            }
            if let Some(s) = &g.source {
                fields.set(SOURCE, row, s.clone());
            }
            for t in &g.log_tags {
                fields.set(&format!("{TAG}{}", text(&t.key)), row, text(&t.value));
            }
            for c in &log.contents {
                fields.set(&text(&c.key), row, text(&c.value));
            }
            row += 1;
        }
    }
    let mut columns: Vec<(String, ArrayRef)> = vec![
        (GROUP.into(), Arc::new(UInt32Array::from(group))),
        (TIME.into(), Arc::new(Int64Array::from(time))),
        (TIME_NS.into(), Arc::new(Int64Array::from(time_ns))),
    ];
    columns.extend(
        fields
            .into_arrays()
            .into_iter()
            .filter(|(n, _)| !is_fixed(n)),
    );
    batch(columns)
}

/// What a column is in a LogGroup.
enum Role {
    Group,
    Time,
    TimeNs,
    Topic,
    Source,
    Tag(String),
    Content(String),
}

fn role(name: &str) -> Role {
    match name {
        GROUP => Role::Group,
        TIME => Role::Time,
        TIME_NS => Role::TimeNs,
        TOPIC => Role::Topic,
        SOURCE => Role::Source,
        n => match n.strip_prefix(TAG) {
            Some(k) => Role::Tag(k.to_string()),
            None => Role::Content(n.to_string()),
        },
    }
}

fn int(a: &ArrayRef, row: usize) -> Option<i64> {
    let a = a.as_any().downcast_ref::<Int64Array>()?;
    (!a.is_null(row)).then(|| a.value(row))
}

/// The rows of `batch` as LogGroups: consecutive rows of one input group with the same topic,
/// source and tags make one LogGroup; NULL fields are left out. Input groups without rows
/// left give none.
pub(super) fn to_groups(batch: &RecordBatch) -> Result<Vec<LogGroup>, QueryError> {
    let options = FormatOptions::default().with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.3f"));
    let schema = batch.schema();
    let roles: Vec<Role> = schema.fields().iter().map(|f| role(f.name())).collect();
    let columns: Vec<ArrayRef> = roles
        .iter()
        .zip(batch.columns())
        .map(|(role, c)| {
            let to = match role {
                Role::Group => return Ok(c.clone()),
                Role::Time | Role::TimeNs => DataType::Int64,
                _ => DataType::Utf8,
            };
            if c.data_type() == &to {
                return Ok(c.clone());
            }
            arrow::compute::cast(c, &to)
                .or_else(|e| {
                    if to != DataType::Utf8 {
                        return Err(e);
                    }
                    let f = ArrayFormatter::try_new(c.as_ref(), &options)?;
                    Ok(Arc::new(StringArray::from_iter(
                        (0..c.len()).map(|i| (!c.is_null(i)).then(|| f.value(i).to_string())),
                    )) as ArrayRef)
                })
                .map_err(|e| QueryError::Invalid(format!("invalid query: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let value = |c: &ArrayRef, row: usize| -> Option<String> {
        let s = c.as_any().downcast_ref::<StringArray>()?;
        (!s.is_null(row)).then(|| s.value(row).to_string())
    };
    let mut out: Vec<LogGroup> = Vec::new();
    let mut last_key = None;
    for row in 0..batch.num_rows() {
        let mut g = LogGroup::default();
        let mut log = Log::default();
        let mut source_group = None;
        for (role, c) in roles.iter().zip(&columns) {
            match role {
                Role::Group => source_group = int_u32(c, row),
                Role::Time => {
                    log.time = int(c, row)
                        .and_then(|t| u32::try_from(t).ok())
                        .unwrap_or_default()
                }
                Role::TimeNs => log.time_ns = int(c, row).and_then(|t| u32::try_from(t).ok()),
                Role::Topic => g.topic = value(c, row),
                Role::Source => g.source = value(c, row),
                Role::Tag(k) => {
                    if let Some(v) = value(c, row) {
                        g.log_tags.push(LogTag {
                            key: k.clone().into_bytes(),
                            value: v.into_bytes(),
                        });
                    }
                }
                Role::Content(k) => {
                    if let Some(v) = value(c, row) {
                        log.contents.push(LogContent {
                            key: k.clone().into_bytes(),
                            value: v.into_bytes(),
                        });
                    }
                }
            }
        }
        let key = (
            source_group,
            g.topic.clone(),
            g.source.clone(),
            g.log_tags.clone(),
        );
        if last_key.as_ref() != Some(&key) {
            out.push(g);
            last_key = Some(key);
        }
        out.last_mut().expect("a group was pushed").logs.push(log);
    }
    Ok(out)
}

fn int_u32(a: &ArrayRef, row: usize) -> Option<u32> {
    let a = a.as_any().downcast_ref::<UInt32Array>()?;
    (!a.is_null(row)).then(|| a.value(row))
}
