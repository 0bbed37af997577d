//! The data plane: PutLogs, GetCursor, GetCursorTime, PullLogs.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use cairn_proto::CompressType;
use serde_json::json;

use super::{json_logs, Ctx, Reply};
use crate::excerpt::excerpt;
use crate::http::codes::SlsCode;
use crate::http::error::SlsError;
use crate::http::json;
use crate::service::{blocking, CursorFrom, Error, PullFormat, PutTarget};

pub(super) async fn put(ctx: Ctx, ls: &str, target: PutTarget) -> Reply {
    let project = ctx.project()?;
    let limit = ctx.raw_limit;
    let (ct, raw_size) = json_logs::compression(&ctx)?;
    let declared = if ct == CompressType::None {
        ctx.body.len()
    } else {
        raw_size.unwrap_or(0)
    };
    if declared > limit {
        return Err(SlsError::new(
            SlsCode::PostBodyTooLarge,
            format!("body of {declared} bytes is larger than the limit of {limit} bytes"),
        ));
    }
    if ctx.header("content-type").is_some_and(|c| {
        c.trim_start()
            .get(..16)
            .is_some_and(|t| t.eq_ignore_ascii_case("application/json"))
    }) {
        // A JSON LogGroup (the Java SDK's JSON mode; design §5.1a).
        let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
        json_logs::write_batch(&ctx, ct, raw_size, move |batch| {
            svc.put_json(&project, &ls, target, batch).map(|_| ())
        })
        .await?;
        return Ok(json::empty());
    }
    let (svc, ls, body) = (ctx.state.svc.clone(), ls.to_string(), ctx.body);
    blocking(move || svc.put_body(&project, &ls, target, ct, &body, raw_size, limit)).await?;
    Ok(json::empty())
}

fn parse_cursor(s: Option<&str>, name: &str) -> Result<u64, SlsError> {
    let s = s.ok_or_else(|| SlsError::param(format!("{name} is required")))?;
    cairn_proto::decode_cursor(s).map_err(|e| match e {
        // Well formed but before every shard's beginning: out of range, like any cursor < begin,
        // so consumer libraries take their InvalidCursor recovery path.
        cairn_proto::CursorError::Negative => Error::InvalidCursor(format!(
            "{name} {:?} is before the beginning of the shard",
            excerpt(s)
        ))
        .into(),
        e => SlsError::param(format!(
            "{name} {:?} is not a valid cursor: {e}",
            excerpt(s)
        )),
    })
}

pub(super) async fn get_cursor(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let from = match ctx.query.get("from") {
        Some("begin") => CursorFrom::Begin,
        Some("end") => CursorFrom::End,
        Some(t) => {
            CursorFrom::Time(t.parse::<i64>().ok().filter(|t| *t >= 0).ok_or_else(|| {
                SlsError::param(format!(
                    "from {:?} must be begin, end or a unix time in seconds",
                    excerpt(t)
                ))
            })?)
        }
        None => {
            return Err(SlsError::param(
                "from is required (begin, end or a unix time in seconds)",
            ))
        }
    };
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let cursor = blocking(move || svc.get_cursor(&project, &ls, shard, from)).await?;
    Ok(json::response(
        &json!({"cursor": cairn_proto::encode_cursor(cursor)}),
    ))
}

pub(super) async fn get_cursor_time(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let cursor = parse_cursor(ctx.query.get("cursor"), "cursor")?;
    let (svc, ls) = (ctx.state.svc.clone(), ls.to_string());
    let t = blocking(move || svc.get_cursor_time(&project, &ls, shard, cursor)).await?;
    Ok(json::response(&json!({"cursor_time": t})))
}

pub(super) async fn pull(ctx: Ctx, ls: &str, shard: u32) -> Reply {
    let project = ctx.project()?;
    let cursor = parse_cursor(ctx.query.get("cursor"), "cursor")?;
    let count = match ctx.query.get("count") {
        None => 1000,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| SlsError::param(format!("count {:?} is not a number", excerpt(c))))?,
    };
    // `end_cursor` as the Python, Java and Go SDKs send it; `endCursor` as the Rust SDK does.
    let end_cursor = match ctx
        .query
        .get("end_cursor")
        .or_else(|| ctx.query.get("endCursor"))
    {
        None | Some("") => None,
        s => Some(parse_cursor(s, "end_cursor")?),
    };
    // An SPL statement; consume processors (`processor`) are not kept by Cairn.
    let query = ctx.query.get("query").filter(|q| !q.trim().is_empty());
    if ctx
        .query
        .get("processor")
        .is_some_and(|p| !p.trim().is_empty())
    {
        return Err(SlsError::param(
            "consume processors are not supported; send the SPL statement as `query`",
        ));
    }
    let ct = CompressType::from_accept_encoding(ctx.header("accept-encoding"));
    let format = pull_format(ctx.header("accept"));
    let answer = ctx
        .state
        .svc
        .pull(
            &project, ls, shard, cursor, count, end_cursor, ct, format, query,
        )
        .await?;
    let res = &answer.result;
    let mut r = Response::new(Body::from(answer.body));
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static(match format {
            PullFormat::Protobuf => "application/x-protobuf",
            PullFormat::Json => "application/json",
        }),
    );
    h.insert(
        "x-log-cursor",
        hv(&cairn_proto::encode_cursor(res.next_cursor)),
    );
    h.insert("x-log-count", hv(&answer.count.to_string()));
    h.insert("x-log-bodyrawsize", hv(&answer.raw_len.to_string()));
    // What was read before the query; without one, the same data.
    match &answer.spl {
        Some(spl) => {
            h.insert("x-log-rawdatasize", hv(&spl.raw_bytes.to_string()));
            h.insert("x-log-rawdatacount", hv(&spl.raw_groups.to_string()));
            h.insert("x-log-rawdatalines", hv(&spl.raw_lines.to_string()));
            h.insert("x-log-resultlines", hv(&spl.lines.to_string()));
            h.insert("x-log-failedlines", hv(&spl.failed.to_string()));
        }
        None => {
            h.insert("x-log-rawdatasize", hv(&answer.raw_len.to_string()));
            h.insert("x-log-rawdatacount", hv(&res.records.len().to_string()));
        }
    }
    // The encoding asked for, also on an empty answer (its raw size 0 says there is nothing
    // to decompress); no header when none was asked.
    if let Some(name) = ct.as_header() {
        h.insert("x-log-compresstype", HeaderValue::from_static(name));
    }
    if let Some(last) = res.records.last() {
        h.insert("x-log-read-last-cursor", hv(&last.cursor.to_string()));
        h.insert(
            "x-log-cursor-time",
            hv(&(last.receive_millis / 1000).to_string()),
        );
    }
    if res.next_cursor >= res.shard_end {
        h.insert("x-log-end-of-cursor", HeaderValue::from_static("1"));
    }
    *r.status_mut() = StatusCode::OK;
    Ok(r)
}

/// JSON for a client that accepts `application/json` and not protobuf (the OpenAPI SDKs),
/// protobuf for everyone else (absent, `*/*`, `application/x-protobuf`).
fn pull_format(accept: Option<&str>) -> PullFormat {
    let Some(accept) = accept else {
        return PullFormat::Protobuf;
    };
    let types: Vec<String> = accept
        .split(',')
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let json = types.iter().any(|t| t == "application/json");
    let protobuf = types.iter().any(|t| t == "application/x-protobuf");
    if json && !protobuf {
        PullFormat::Json
    } else {
        PullFormat::Protobuf
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("header-safe value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clients_that_accept_json_and_not_protobuf_get_json() {
        let cases = [
            (None, PullFormat::Protobuf),
            (Some("application/x-protobuf"), PullFormat::Protobuf),
            (Some("*/*"), PullFormat::Protobuf),
            (Some("application/json"), PullFormat::Json),
            (Some("Application/JSON; charset=utf-8"), PullFormat::Json),
            (
                Some("application/json, application/x-protobuf"),
                PullFormat::Protobuf,
            ),
        ];
        for (accept, want) in cases {
            assert_eq!(pull_format(accept), want, "{accept:?}");
        }
    }
}
