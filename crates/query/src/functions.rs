//! The Presto-style functions SLS analytic statements use that DataFusion lacks or names
//! differently (design §18.3). Times are UTC; a time argument may be a timestamp or unix
//! seconds (`__time__`), as SLS accepts both.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::functions_aggregate::approx_percentile_cont::ApproxPercentileAccumulator;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Function names SLS users write that DataFusion knows under another name.
pub const RENAMED: &[(&str, &str)] = &[
    ("split", "string_to_array"),
    ("element_at", "array_element"),
    ("arbitrary", "first_value"),
    ("stddev", "stddev_samp"),
    ("variance", "var_samp"),
];

/// Registers the functions of this module in `ctx`, replacing DataFusion's of the same name.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(DateTrunc::new()));
    for (name, ret, f) in ROW_FUNCTIONS {
        ctx.register_udf(ScalarUDF::new_from_impl(RowFn {
            name,
            ret: ret.clone(),
            f: *f,
            signature: Signature::variadic_any(Volatility::Immutable),
        }));
    }
    for a in [
        count_if(),
        by("max_by", true),
        by("min_by", false),
        histogram(),
    ] {
        ctx.register_udaf(AggregateUDF::new_from_impl(a));
    }
    ctx.register_udaf(AggregateUDF::new_from_impl(ApproxPercentile::new()));
}

type RowFunction = fn(&[ScalarValue]) -> Result<ScalarValue>;

const TS: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

static ROW_FUNCTIONS: &[(&str, DataType, RowFunction)] = &[
    ("from_unixtime", TS, from_unixtime),
    ("to_unixtime", DataType::Float64, to_unixtime),
    ("date_format", DataType::Utf8, date_format),
    ("time_series", DataType::Utf8, time_series),
    ("regexp_extract", DataType::Utf8, regexp_extract),
    ("json_extract", DataType::Utf8, json_extract),
    ("json_extract_scalar", DataType::Utf8, json_extract_scalar),
];

/// A scalar function evaluated one row at a time on [`ScalarValue`]s.
#[derive(Debug)]
struct RowFn {
    name: &'static str,
    ret: DataType,
    f: RowFunction,
    signature: Signature,
}

impl ScalarUDFImpl for RowFn {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = Vec::with_capacity(n);
        let mut row = Vec::with_capacity(arrays.len());
        for i in 0..n {
            row.clear();
            for a in &arrays {
                row.push(ScalarValue::try_from_array(a, i)?);
            }
            out.push((self.f)(&row)?.cast_to(&self.ret)?);
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(arrow::array::new_empty_array(
                &self.ret,
            )));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

/// A time argument in unix milliseconds: a timestamp, unix seconds (integer or not), or text
/// holding either.
pub(crate) fn millis(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampSecond(Some(s), _) => Some(s * 1000),
        ScalarValue::TimestampMillisecond(Some(m), _) => Some(*m),
        ScalarValue::TimestampMicrosecond(Some(u), _) => Some(u / 1000),
        ScalarValue::TimestampNanosecond(Some(n), _) => Some(n / 1_000_000),
        ScalarValue::Int64(Some(s)) => s.checked_mul(1000),
        ScalarValue::Int32(Some(s)) => Some(i64::from(*s) * 1000),
        ScalarValue::UInt32(Some(s)) => Some(i64::from(*s) * 1000),
        ScalarValue::Float64(Some(s)) if s.is_finite() => Some((s * 1000.0) as i64),
        ScalarValue::Utf8(Some(t))
        | ScalarValue::LargeUtf8(Some(t))
        | ScalarValue::Utf8View(Some(t)) => {
            let t = t.trim();
            t.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite())
                .map(|s| (s * 1000.0) as i64)
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
                        .ok()
                        .map(|d| d.and_utc().timestamp_millis())
                })
        }
        _ => None,
    }
}

fn text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.clone(),
        v if v.is_null() => None,
        v => Some(v.to_string()),
    }
}

fn arg<'a>(args: &'a [ScalarValue], i: usize, name: &str) -> Result<&'a ScalarValue> {
    match args.get(i) {
        Some(a) => Ok(a),
        None => exec_err!("{name} takes at least {} arguments", i + 1),
    }
}

fn utc(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn from_unixtime(args: &[ScalarValue]) -> Result<ScalarValue> {
    Ok(ScalarValue::TimestampMillisecond(
        millis(arg(args, 0, "from_unixtime")?),
        None,
    ))
}

fn to_unixtime(args: &[ScalarValue]) -> Result<ScalarValue> {
    Ok(ScalarValue::Float64(
        millis(arg(args, 0, "to_unixtime")?).map(|m| m as f64 / 1000.0),
    ))
}

/// MySQL-style format specifiers (as Presto's and SLS's `date_format`) turned into chrono's.
fn mysql_format(fmt: &str) -> String {
    let mut out = String::with_capacity(fmt.len() + 8);
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = match chars.next() {
            Some('i') => "%M",
            Some('s') | Some('S') => "%S",
            Some('H') => "%H",
            Some('k') => "%-H",
            Some('h') | Some('I') => "%I",
            Some('l') => "%-I",
            Some('Y') => "%Y",
            Some('y') => "%y",
            Some('m') => "%m",
            Some('c') => "%-m",
            Some('d') => "%d",
            Some('e') => "%-d",
            Some('M') => "%B",
            Some('b') => "%b",
            Some('W') => "%A",
            Some('a') => "%a",
            Some('p') => "%p",
            Some('T') => "%H:%M:%S",
            Some('r') => "%I:%M:%S %p",
            Some('f') => "%6f",
            Some('j') => "%j",
            Some('%') => "%%",
            Some(other) => {
                out.push(other);
                continue;
            }
            None => "%%",
        };
        out.push_str(spec);
    }
    out
}

pub(crate) fn format_millis(ms: i64, fmt: &str) -> Option<String> {
    let mut s = String::new();
    write!(s, "{}", utc(ms)?.format(&mysql_format(fmt))).ok()?;
    Some(s)
}

fn date_format(args: &[ScalarValue]) -> Result<ScalarValue> {
    let t = millis(arg(args, 0, "date_format")?);
    let fmt = text(arg(args, 1, "date_format")?);
    Ok(ScalarValue::Utf8(match (t, fmt) {
        (Some(t), Some(f)) => format_millis(t, &f),
        _ => None,
    }))
}

/// A window such as `1m`, `30s`, `2h`, `1d` in milliseconds.
pub(crate) fn window_millis(w: &str) -> Option<i64> {
    let w = w.trim();
    let split = w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len());
    let n: i64 = w[..split].parse().ok().filter(|n| *n > 0)?;
    let unit = match &w[split..] {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// `time_series(time, window, format, padding)`: the start of `time`'s window, formatted.
fn time_series(args: &[ScalarValue]) -> Result<ScalarValue> {
    let t = millis(arg(args, 0, "time_series")?);
    let Some(window) = text(arg(args, 1, "time_series")?).and_then(|w| window_millis(&w)) else {
        return exec_err!(
            "time_series: the window must be a number and s, m, h or d, such as '1m'"
        );
    };
    let fmt = text(arg(args, 2, "time_series")?).unwrap_or_else(|| "%Y-%m-%d %H:%i:%s".into());
    Ok(ScalarValue::Utf8(t.and_then(|t| {
        format_millis(t.div_euclid(window) * window, &fmt)
    })))
}

fn regex(pattern: &str) -> Result<regex::Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .or_else(|e| plan_err!("invalid regular expression {pattern:?}: {e}"))
}

fn regexp_extract(args: &[ScalarValue]) -> Result<ScalarValue> {
    let s = text(arg(args, 0, "regexp_extract")?);
    let Some(p) = text(arg(args, 1, "regexp_extract")?) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let group = match args.get(2) {
        Some(g) => match g.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(g)) if g >= 0 => g as usize,
            _ => return exec_err!("regexp_extract: the group must be a non-negative integer"),
        },
        None => 0,
    };
    let re = regex(&p)?;
    Ok(ScalarValue::Utf8(s.and_then(|s| {
        re.captures(&s)
            .and_then(|c| c.get(group))
            .map(|m| m.as_str().to_string())
    })))
}

/// Follows a JSONPath of the forms `$.a.b`, `$["a"]`, `$.a[0]`.
pub(crate) fn json_path<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let rest = path.trim().strip_prefix('$')?;
    let mut at = v;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    key.push(n);
                    chars.next();
                }
                at = at.get(key.as_str())?;
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim();
                at = match inner.trim_matches(|c| c == '"' || c == '\'') {
                    k if k.len() != inner.len() => at.get(k)?,
                    i => at.get(i.parse::<usize>().ok()?)?,
                };
            }
            _ => return None,
        }
    }
    Some(at)
}

fn json_args(args: &[ScalarValue], name: &str) -> Result<Option<serde_json::Value>> {
    let Some(s) = text(arg(args, 0, name)?) else {
        return Ok(None);
    };
    let Some(path) = text(arg(args, 1, name)?) else {
        return Ok(None);
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) else {
        return Ok(None);
    };
    Ok(json_path(&v, &path).cloned())
}

fn json_extract(args: &[ScalarValue]) -> Result<ScalarValue> {
    Ok(ScalarValue::Utf8(
        json_args(args, "json_extract")?.map(|v| v.to_string()),
    ))
}

fn json_extract_scalar(args: &[ScalarValue]) -> Result<ScalarValue> {
    Ok(ScalarValue::Utf8(
        json_args(args, "json_extract_scalar")?.and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }),
    ))
}

/// `date_trunc(unit, time)`, vectorised: it is in most time series.
#[derive(Debug)]
struct DateTrunc {
    signature: Signature,
}

impl DateTrunc {
    fn new() -> Self {
        DateTrunc {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// Seconds of a unit of fixed length.
fn fixed_step(unit: &str) -> Option<i64> {
    match unit {
        "second" => Some(1),
        "minute" => Some(60),
        "hour" => Some(3600),
        "day" => Some(86_400),
        _ => None,
    }
}

fn truncate(unit: &str, ms: i64) -> Option<i64> {
    let secs = ms.div_euclid(1000);
    if let Some(step) = fixed_step(unit) {
        return Some(secs.div_euclid(step) * step * 1000);
    }
    match unit {
        "week" | "month" | "quarter" | "year" => {
            let d = utc(ms)?.date_naive();
            let start = match unit {
                "week" => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
                "month" => NaiveDate::from_ymd_opt(d.year(), d.month(), 1)?,
                "quarter" => NaiveDate::from_ymd_opt(d.year(), (d.month() - 1) / 3 * 3 + 1, 1)?,
                _ => NaiveDate::from_ymd_opt(d.year(), 1, 1)?,
            };
            Some(start.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
        }
        _ => None,
    }
}

impl ScalarUDFImpl for DateTrunc {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "date_trunc"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(TS)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let unit = match &args.args[0] {
            ColumnarValue::Scalar(s) => text(s).unwrap_or_default().to_ascii_lowercase(),
            ColumnarValue::Array(_) => return exec_err!("date_trunc: the unit must be a constant"),
        };
        if truncate(&unit, 0).is_none() {
            return plan_err!(
                "date_trunc: unit '{unit}' is not one of second, minute, hour, day, week, month, quarter, year"
            );
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args[1..])?;
        let times = &arrays[0];
        let out: TimestampMillisecondArray = match times.data_type() {
            DataType::Int64 => {
                let a = times.as_any().downcast_ref::<Int64Array>().expect("Int64");
                match fixed_step(&unit) {
                    // Unix seconds cut to a unit of fixed length, without a lookup per row.
                    Some(step) => a
                        .iter()
                        .map(|v| v.and_then(|s| (s.div_euclid(step) * step).checked_mul(1000)))
                        .collect(),
                    None => a
                        .iter()
                        .map(|v| {
                            v.and_then(|s| s.checked_mul(1000))
                                .and_then(|ms| truncate(&unit, ms))
                        })
                        .collect(),
                }
            }
            _ => {
                let mut out = Vec::with_capacity(times.len());
                for i in 0..times.len() {
                    let v = ScalarValue::try_from_array(times, i)?;
                    out.push(millis(&v).and_then(|ms| truncate(&unit, ms)));
                }
                out.into_iter().collect()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

/// An aggregate function given by its name, signature, return type and accumulator.
#[derive(Debug)]
struct Aggregate {
    name: &'static str,
    signature: Signature,
    /// The return type from the argument types.
    ret: fn(&[DataType]) -> DataType,
    /// A new accumulator.
    make: fn(&AccumulatorArgs) -> Result<Box<dyn Accumulator>>,
    /// The accumulator's state keeps one value per argument, of the argument's type (else one
    /// value of the return type).
    state_per_argument: bool,
}

impl AggregateUDFImpl for Aggregate {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok((self.ret)(arg_types))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let types: Vec<DataType> = if self.state_per_argument {
            args.input_fields
                .iter()
                .map(|f| f.data_type().clone())
                .collect()
        } else {
            vec![args.return_type().clone()]
        };
        Ok(types
            .into_iter()
            .enumerate()
            .map(|(i, t)| Arc::new(Field::new(format!("{}[{i}]", args.name), t, true)))
            .collect())
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        (self.make)(&args)
    }
}

/// `count_if(condition)`.
fn count_if() -> Aggregate {
    Aggregate {
        name: "count_if",
        signature: Signature::exact(vec![DataType::Boolean], Volatility::Immutable),
        ret: |_| DataType::Int64,
        make: |_| Ok(Box::new(CountIfAcc(0))),
        state_per_argument: false,
    }
}

/// `max_by(x, y)` and `min_by(x, y)`: `x` where `y` is largest (smallest).
fn by(name: &'static str, max: bool) -> Aggregate {
    Aggregate {
        name,
        signature: Signature::any(2, Volatility::Immutable),
        ret: |types| types[0].clone(),
        make: if max {
            |a| by_acc(a, true)
        } else {
            |a| by_acc(a, false)
        },
        state_per_argument: true,
    }
}

fn by_acc(args: &AccumulatorArgs, max: bool) -> Result<Box<dyn Accumulator>> {
    let x = args.exprs[0].data_type(args.schema)?;
    let y = args.exprs[1].data_type(args.schema)?;
    Ok(Box::new(ByAcc {
        max,
        x: ScalarValue::try_from(&x)?,
        y: ScalarValue::try_from(&y)?,
    }))
}

/// `histogram(x)`: how many times each value occurs, as a JSON object.
fn histogram() -> Aggregate {
    Aggregate {
        name: "histogram",
        signature: Signature::any(1, Volatility::Immutable),
        ret: |_| DataType::Utf8,
        make: |_| Ok(Box::new(HistogramAcc::default())),
        state_per_argument: false,
    }
}

#[derive(Debug)]
struct CountIfAcc(i64);

impl Accumulator for CountIfAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if let Some(b) = values[0].as_any().downcast_ref::<BooleanArray>() {
            self.0 += b.iter().filter(|v| *v == Some(true)).count() as i64;
        }
        Ok(())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.0)))
    }
    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.0))])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        if let Some(a) = states[0].as_any().downcast_ref::<Int64Array>() {
            self.0 += a.iter().flatten().sum::<i64>();
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ByAcc {
    max: bool,
    x: ScalarValue,
    y: ScalarValue,
}

impl ByAcc {
    fn offer(&mut self, x: &ArrayRef, y: &ArrayRef) -> Result<()> {
        for i in 0..y.len() {
            if y.is_null(i) {
                continue;
            }
            let yv = ScalarValue::try_from_array(y, i)?;
            let better = self.y.is_null()
                || match yv.partial_cmp(&self.y) {
                    Some(o) => (o == std::cmp::Ordering::Greater) == self.max && o.is_ne(),
                    None => false,
                };
            if better {
                self.y = yv;
                self.x = ScalarValue::try_from_array(x, i)?;
            }
        }
        Ok(())
    }
}

impl Accumulator for ByAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.x.clone())
    }
    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.x.size() + self.y.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.x.clone(), self.y.clone()])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }
}

#[derive(Debug, Default)]
struct HistogramAcc {
    counts: BTreeMap<String, u64>,
    bytes: usize,
}

impl HistogramAcc {
    fn add(&mut self, key: String, n: u64) {
        let len = key.len();
        let slot = self.counts.entry(key).or_insert_with(|| 0);
        if *slot == 0 {
            self.bytes += len + 48;
        }
        *slot += n;
    }
}

impl Accumulator for HistogramAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = &values[0];
        for i in 0..a.len() {
            if !a.is_null(i) {
                let v = ScalarValue::try_from_array(a, i)?;
                self.add(text(&v).unwrap_or_default(), 1);
            }
        }
        Ok(())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Utf8(Some(
            serde_json::to_string(&self.counts).unwrap_or_default(),
        )))
    }
    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.bytes
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let a = &states[0];
        for i in 0..a.len() {
            if let Some(s) = text(&ScalarValue::try_from_array(a, i)?) {
                let m: BTreeMap<String, u64> = serde_json::from_str(&s).unwrap_or_default();
                for (k, n) in m {
                    self.add(k, n);
                }
            }
        }
        Ok(())
    }
}

/// `approx_percentile(x, percentage)`: a t-digest estimate of the `percentage` quantile of `x`
/// (DataFusion's digest), of the type of `x`. Unlike DataFusion's ordered-set
/// `approx_percentile_cont`, it asks for no sorted input.
#[derive(Debug)]
struct ApproxPercentile {
    signature: Signature,
}

impl ApproxPercentile {
    fn new() -> Self {
        ApproxPercentile {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for ApproxPercentile {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "approx_percentile"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !arg_types[0].is_numeric() {
            return plan_err!("approx_percentile: the values must be numbers");
        }
        Ok(arg_types[0].clone())
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // The digest's state (`TDigest::to_scalar_state`).
        let name = |part: &str| format!("{}[{part}]", args.name);
        Ok(vec![
            Field::new(name("max_size"), DataType::UInt64, false),
            Field::new(name("sum"), DataType::Float64, false),
            Field::new(name("count"), DataType::UInt64, false),
            Field::new(name("max"), DataType::Float64, false),
            Field::new(name("min"), DataType::Float64, false),
            Field::new_list(
                name("centroids"),
                Field::new_list_field(DataType::Float64, true),
                false,
            ),
        ]
        .into_iter()
        .map(Arc::new)
        .collect())
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let empty = datafusion::arrow::record_batch::RecordBatch::new_empty(Arc::new(
            datafusion::arrow::datatypes::Schema::empty(),
        ));
        let ColumnarValue::Scalar(p) = args.exprs[1].evaluate(&empty)? else {
            return plan_err!("approx_percentile: the percentage must be a constant");
        };
        let p = match p.cast_to(&DataType::Float64)? {
            ScalarValue::Float64(Some(p)) if (0.0..=1.0).contains(&p) => p,
            _ => return plan_err!("approx_percentile: the percentage must be between 0 and 1"),
        };
        let t = args.exprs[0].data_type(args.schema)?;
        Ok(Box::new(ApproxPercentileAccumulator::new(p, t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_formats_become_chrono_formats() {
        // 2021-03-17 10:10:05 UTC
        let ms = 1_615_975_805_000;
        assert_eq!(
            format_millis(ms, "%Y-%m-%d %H:%i:%s").unwrap(),
            "2021-03-17 10:10:05"
        );
        assert_eq!(format_millis(ms, "%H:%i").unwrap(), "10:10");
        assert_eq!(format_millis(ms, "%T").unwrap(), "10:10:05");
    }

    #[test]
    fn truncation_units() {
        let ms = 1_615_975_805_123; // Wednesday 2021-03-17 10:10:05.123
        let at = |u| format_millis(truncate(u, ms).unwrap(), "%Y-%m-%d %H:%i:%s").unwrap();
        assert_eq!(at("minute"), "2021-03-17 10:10:00");
        assert_eq!(at("hour"), "2021-03-17 10:00:00");
        assert_eq!(at("day"), "2021-03-17 00:00:00");
        assert_eq!(at("week"), "2021-03-15 00:00:00");
        assert_eq!(at("month"), "2021-03-01 00:00:00");
        assert_eq!(at("quarter"), "2021-01-01 00:00:00");
        assert_eq!(at("year"), "2021-01-01 00:00:00");
        assert_eq!(truncate("fortnight", ms), None);
    }

    #[test]
    fn json_paths() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":{"b":[1,{"c":"x"}]},"d e":2}"#).unwrap();
        assert_eq!(json_path(&v, "$.a.b[1].c").unwrap(), "x");
        assert_eq!(json_path(&v, "$[\"d e\"]").unwrap(), 2);
        assert!(json_path(&v, "$.missing").is_none());
        assert!(json_path(&v, "a.b").is_none());
    }

    #[test]
    fn windows() {
        assert_eq!(window_millis("1m"), Some(60_000));
        assert_eq!(window_millis("30s"), Some(30_000));
        assert_eq!(window_millis("0m"), None);
        assert_eq!(window_millis("5x"), None);
    }

    #[tokio::test]
    async fn approx_percentile_needs_no_sorted_input() {
        use datafusion::datasource::MemTable;
        let ctx = SessionContext::new();
        register(&ctx);
        let g: Vec<i64> = (0..10_000).map(|i| i % 2).collect();
        let v: Vec<i64> = (0..10_000).map(|i| (i * 7919) % 10_000).collect();
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            Field::new("g", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(g)), Arc::new(Int64Array::from(v))],
        )
        .unwrap();
        let t = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        ctx.register_table("t", Arc::new(t)).unwrap();
        let sql = "select g, approx_percentile(v, 0.9) as p from t group by g order by g";
        let plan = ctx.sql(&format!("explain {sql}")).await.unwrap();
        let shown = format!("{:?}", plan.collect().await.unwrap());
        assert!(!shown.contains("SortExec: expr=[v"), "{shown}");
        let rows = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let p = rows[0]
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(p.len(), 2);
        for x in p.iter() {
            let x = x.unwrap();
            assert!((8_900..=9_100).contains(&x), "{x}");
        }
        let bad = async {
            ctx.sql("select approx_percentile(v, 2) from t")
                .await?
                .collect()
                .await
        };
        let e = bad.await.unwrap_err().to_string();
        assert!(e.contains("between 0 and 1"), "{e}");
    }
}
