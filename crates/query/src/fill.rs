//! Gap filling for `time_series` (design §18.3). SLS's `time_series(time, window, format,
//! padding)` keys a grouped statement by time windows and answers a row for every window of the
//! query's time range, padding the windows no log fell into.
//!
//! A statement is filled when its outermost `SELECT` projects `time_series(…)`, groups by one
//! expression, and is ordered by that column (or not ordered). Its `LIMIT` and offset are taken
//! out before it runs and applied to the filled rows; a hidden `min(time)` column tells each
//! answered row's window.

use std::collections::BTreeMap;

use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    ObjectNamePart, OrderByKind, Query, SelectItem, SetExpr, Value,
};

use crate::functions;
use crate::sql::SqlAnswer;
use crate::QueryError;

/// The hidden column that carries each answered row's earliest time.
const WINDOW_COLUMN: &str = "__cairn_time_series_window__";

/// What fills the windows without logs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Padding {
    /// `0`: numbers are 0, other columns null.
    Zero,
    /// `null`.
    Null,
    /// `last`: the values of the nearest earlier window with logs.
    Last,
    /// `next`: the values of the nearest later window with logs.
    Next,
    /// `avg`: numbers are the mean of the nearest earlier and later windows' values.
    Avg,
}

/// How one statement is filled.
#[derive(Debug)]
pub(crate) struct Fill {
    column: usize,
    window_ms: i64,
    format: String,
    padding: Padding,
    descending: bool,
    limit: u64,
    offset: u64,
}

fn literal(arg: &FunctionArg) -> Option<String> {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(v))) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.clone()),
            Value::Null => Some("null".into()),
            _ => None,
        },
        _ => None,
    }
}

fn time_series_args(expr: &SqlExpr) -> Option<&[FunctionArg]> {
    let SqlExpr::Function(f) = expr else {
        return None;
    };
    match (f.name.0.last(), &f.args) {
        (Some(ObjectNamePart::Identifier(id)), FunctionArguments::List(list))
            if id.value.eq_ignore_ascii_case("time_series") && f.over.is_none() =>
        {
            Some(&list.args)
        }
        _ => None,
    }
}

/// Whether `e` names the output column `alias`, or is `expr` itself.
fn refers_to(e: &SqlExpr, alias: Option<&Ident>, expr: &SqlExpr) -> bool {
    e == expr
        || matches!(e, SqlExpr::Identifier(id)
            if alias.is_some_and(|a| a.value.eq_ignore_ascii_case(&id.value)))
}

/// Finds a `time_series` column to fill in `query`, whose LIMIT and offset have been checked.
/// When it finds one it takes them out and adds the hidden window column.
pub(crate) fn plan(query: &mut Query, limit: u64, offset: u64) -> Result<Option<Fill>, QueryError> {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(None);
    };
    let GroupByExpr::Expressions(keys, modifiers) = &select.group_by else {
        return Ok(None);
    };
    if keys.len() != 1 || !modifiers.is_empty() {
        return Ok(None);
    }
    let found = select.projection.iter().enumerate().find_map(|(i, item)| {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
            _ => return None,
        };
        time_series_args(expr).map(|args| (i, expr, alias, args))
    });
    let Some((column, expr, alias, args)) = found else {
        return Ok(None);
    };
    let position = SqlExpr::value(Value::Number((column + 1).to_string(), false));
    if !refers_to(&keys[0], alias, expr) && keys[0] != position {
        return Ok(None);
    }
    let descending = match &query.order_by {
        None => false,
        Some(order) => match &order.kind {
            OrderByKind::Expressions(by) => match by.first() {
                Some(first) if refers_to(&first.expr, alias, expr) || first.expr == position => {
                    first.options.asc == Some(false)
                }
                _ => return Ok(None),
            },
            OrderByKind::All(_) => return Ok(None),
        },
    };
    if args.len() < 4 {
        return Ok(None);
    }
    let bad = |what: &str| QueryError::Invalid(format!("time_series: {what}"));
    let window_ms = literal(&args[1])
        .and_then(|w| functions::window_millis(&w))
        .ok_or_else(|| bad("the window must be a number and s, m, h or d, such as '1m'"))?;
    let format = literal(&args[2]).ok_or_else(|| bad("the format must be a string"))?;
    let padding = match literal(&args[3])
        .map(|p| p.trim().to_lowercase())
        .as_deref()
    {
        Some("0") => Padding::Zero,
        Some("null") => Padding::Null,
        Some("last") => Padding::Last,
        Some("next") => Padding::Next,
        Some("avg") => Padding::Avg,
        _ => {
            return Err(bad(
                "the padding must be '0', 'null', 'last', 'next' or 'avg'",
            ))
        }
    };
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(time)) = &args[0] else {
        return Ok(None);
    };
    let SqlExpr::Function(ts) = expr else {
        return Ok(None);
    };
    let mut earliest = ts.clone();
    earliest.name.0 = vec![ObjectNamePart::Identifier(Ident::new("min"))];
    if let FunctionArguments::List(list) = &mut earliest.args {
        list.args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(time.clone()))];
    }
    select.projection.push(SelectItem::ExprWithAlias {
        expr: SqlExpr::Function(earliest),
        alias: Ident::with_quote('"', WINDOW_COLUMN),
    });
    query.limit = None;
    query.offset = None;
    Ok(Some(Fill {
        column,
        window_ms,
        format,
        padding,
        descending,
        limit,
        offset,
    }))
}

fn number(v: &Option<String>) -> Option<f64> {
    v.as_deref().and_then(|s| s.parse::<f64>().ok())
}

fn render_number(x: f64, integer: bool) -> String {
    if integer && x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl Fill {
    /// Fills `answer` over the query's time range `[from, to)` (unix seconds), then applies the
    /// statement's offset and LIMIT.
    pub(crate) fn apply(&self, answer: &mut SqlAnswer, from: i64, to: i64) {
        let Some(hidden) = answer.keys.iter().position(|k| k == WINDOW_COLUMN) else {
            return;
        };
        answer.keys.remove(hidden);
        answer.types.remove(hidden);
        let mut by_window = BTreeMap::new();
        let mut unplaced = Vec::new();
        for mut row in std::mem::take(&mut answer.rows) {
            let earliest = row.remove(hidden);
            let window = earliest
                .and_then(|t| functions::millis(&ScalarValue::Utf8(Some(t))))
                .map(|t| t.div_euclid(self.window_ms) * self.window_ms);
            match window {
                Some(w) => {
                    by_window.insert(w, row);
                }
                None => unplaced.push(row),
            }
        }
        let wanted = self.offset.saturating_add(self.limit);
        let first = from.saturating_mul(1000).div_euclid(self.window_ms) * self.window_ms;
        let end = to.saturating_mul(1000);
        let mut at = if self.descending {
            (end - 1).div_euclid(self.window_ms) * self.window_ms
        } else {
            first
        };
        let mut rows = Vec::new();
        while (rows.len() as u64) < wanted && at >= first && at < end {
            let row = match by_window.get(&at) {
                Some(row) => row.clone(),
                None => self.padded(at, &by_window, answer),
            };
            rows.push(row);
            at = if self.descending {
                at - self.window_ms
            } else {
                at + self.window_ms
            };
        }
        // Rows outside the range (or without a time) follow the windows, in order.
        let mut rest: Vec<_> = by_window
            .into_iter()
            .filter(|(w, _)| *w < first || *w >= end)
            .map(|(_, r)| r)
            .collect();
        if self.descending {
            rest.reverse();
        }
        rows.extend(rest);
        rows.extend(unplaced);
        answer.rows = rows
            .into_iter()
            .skip(self.offset.min(usize::MAX as u64) as usize)
            .take(self.limit.min(usize::MAX as u64) as usize)
            .collect();
    }

    /// The row of window `at`, which no log fell into.
    fn padded(
        &self,
        at: i64,
        rows: &BTreeMap<i64, Vec<Option<String>>>,
        answer: &SqlAnswer,
    ) -> Vec<Option<String>> {
        let before = rows.range(..at).next_back().map(|(_, r)| r);
        let after = rows.range(at + 1..).next().map(|(_, r)| r);
        (0..answer.keys.len())
            .map(|i| {
                if i == self.column {
                    return functions::format_millis(at, &self.format);
                }
                let kind = answer.types[i].as_str();
                let numeric = matches!(kind, "bigint" | "double" | "decimal");
                match self.padding {
                    Padding::Zero => numeric.then(|| "0".to_string()),
                    Padding::Null => None,
                    Padding::Last => before.and_then(|r| r[i].clone()),
                    Padding::Next => after.and_then(|r| r[i].clone()),
                    Padding::Avg if numeric => {
                        let values: Vec<f64> = [before, after]
                            .into_iter()
                            .flatten()
                            .filter_map(|r| number(&r[i]))
                            .collect();
                        (!values.is_empty()).then(|| {
                            render_number(
                                values.iter().sum::<f64>() / values.len() as f64,
                                kind == "bigint",
                            )
                        })
                    }
                    Padding::Avg => None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn planned(sql: &str, limit: u64, offset: u64) -> (Option<Fill>, String) {
        let mut s = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
        let Statement::Query(q) = &mut s[0] else {
            panic!("not a query")
        };
        let fill = plan(q, limit, offset).unwrap();
        (fill, q.to_string())
    }

    /// What the statement answers before filling: windows 60 (c=2, earliest 65) and 180 (c=5).
    fn answered() -> SqlAnswer {
        let row =
            |t: &str, c: &str, at: &str| vec![Some(t.into()), Some(c.into()), Some(at.into())];
        SqlAnswer {
            keys: vec!["t".into(), "c".into(), WINDOW_COLUMN.into()],
            types: vec!["varchar".into(), "bigint".into(), "bigint".into()],
            rows: vec![row("00:01", "2", "65"), row("00:03", "5", "200")],
        }
    }

    fn filled(padding: &str, order: &str, limit: u64, offset: u64) -> Vec<Vec<Option<String>>> {
        let sql = format!(
            "select time_series(__time__, '1m', '%H:%i', '{padding}') as t, count(*) as c \
             from log group by t {order}"
        );
        let (fill, _) = planned(&sql, limit, offset);
        let mut a = answered();
        fill.expect("filled").apply(&mut a, 0, 300);
        assert_eq!(a.keys, ["t", "c"]);
        a.rows
    }

    fn rows(pairs: &[(&str, Option<&str>)]) -> Vec<Vec<Option<String>>> {
        pairs
            .iter()
            .map(|(t, c)| vec![Some(t.to_string()), c.map(str::to_string)])
            .collect()
    }

    #[test]
    fn every_window_of_the_range_is_answered_with_its_padding() {
        let at = ["00:00", "00:01", "00:02", "00:03", "00:04"];
        let expect = |c: [Option<&str>; 5]| rows(&at.iter().copied().zip(c).collect::<Vec<_>>());
        assert_eq!(
            filled("0", "order by t", 100, 0),
            expect([Some("0"), Some("2"), Some("0"), Some("5"), Some("0")])
        );
        assert_eq!(
            filled("null", "", 100, 0),
            expect([None, Some("2"), None, Some("5"), None])
        );
        assert_eq!(
            filled("last", "order by t", 100, 0),
            expect([None, Some("2"), Some("2"), Some("5"), Some("5")])
        );
        assert_eq!(
            filled("next", "order by t", 100, 0),
            expect([Some("2"), Some("2"), Some("5"), Some("5"), None])
        );
        assert_eq!(
            filled("avg", "order by t", 100, 0),
            expect([Some("2"), Some("2"), Some("3.5"), Some("5"), Some("5")])
        );
    }

    #[test]
    fn order_limit_and_offset_apply_to_the_filled_rows() {
        assert_eq!(
            filled("0", "order by t desc", 3, 1),
            rows(&[
                ("00:03", Some("5")),
                ("00:02", Some("0")),
                ("00:01", Some("2"))
            ])
        );
        assert_eq!(
            filled("0", "order by 1", 2, 0),
            rows(&[("00:00", Some("0")), ("00:01", Some("2"))])
        );
    }

    #[test]
    fn the_statement_runs_without_its_limit_and_with_the_window_column() {
        let (fill, sql) = planned(
            "select time_series(__time__, '1m', '%H:%i', '0') as t, count(*) as c \
             from log group by t order by t limit 10",
            10,
            0,
        );
        assert!(fill.is_some());
        assert!(!sql.to_lowercase().contains("limit"), "{sql}");
        assert!(
            sql.contains(&format!("min(__time__) AS \"{WINDOW_COLUMN}\"")),
            "{sql}"
        );
    }

    #[test]
    fn statements_not_keyed_and_ordered_by_time_series_are_not_filled() {
        for sql in [
            "select time_series(__time__, '1m', '%H:%i', '0') as t, count(*) as c from log group by t order by c desc",
            "select time_series(__time__, '1m', '%H:%i', '0') as t, status, count(*) as c from log group by t, status",
            "select time_series(__time__, '1m', '%H:%i', '0') as t from log",
            "select status, count(*) from log group by status",
        ] {
            let (fill, rewritten) = planned(sql, 100, 0);
            assert!(fill.is_none(), "{sql}");
            assert!(!rewritten.contains(WINDOW_COLUMN), "{sql}");
        }
    }

    #[test]
    fn a_bad_padding_or_window_is_refused() {
        for sql in [
            "select time_series(__time__, '1m', '%H:%i', 'zero') as t, count(*) from log group by t",
            "select time_series(__time__, '1 minute', '%H:%i', '0') as t, count(*) from log group by t",
        ] {
            let mut s = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
            let Statement::Query(q) = &mut s[0] else {
                panic!("not a query")
            };
            assert!(matches!(plan(q, 100, 0), Err(QueryError::Invalid(_))), "{sql}");
        }
    }
}
