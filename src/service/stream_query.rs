//! PullLogs with an SPL `query` (design §18.7): the LogGroups read are decoded, run through the
//! statement, and the LogGroups left are answered. The cursor moves past everything read, also
//! when no log is left.

use cairn_proto::{CompressType, LogGroup};
use cairn_query::spl::{self, Pipeline, SplOutput};
use cairn_query::QueryError;
use prost::Message;

use super::logs::{decode_group, json_group, PullAnswer, PullFormat, PullResult};
use super::query::QueryLimits;
use super::{Error, Result};

/// What the response headers of a pull with a query report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SplCounts {
    /// LogGroups read from the shard.
    pub raw_groups: usize,
    /// Their size as a LogGroupList, uncompressed.
    pub raw_bytes: usize,
    /// Logs read.
    pub raw_lines: usize,
    /// Logs answered.
    pub lines: usize,
    /// Logs an expression failed on (dropped).
    pub failed: usize,
}

fn spl_error(e: QueryError) -> Error {
    match e {
        QueryError::Invalid(m) => Error::ParameterInvalid(m),
        QueryError::Internal(m) => Error::Internal(m),
        other => Error::QueryBudget(format!("the SPL statement ran past its budget: {other}")),
    }
}

/// Parses a PullLogs `query`.
pub fn pipeline(query: &str) -> Result<Pipeline> {
    spl::parse(query).map_err(spl_error)
}

/// Runs `pipeline` over what `result` read and encodes what is left in `format` and `ct`.
pub(super) fn answer(
    result: PullResult,
    pipeline: &Pipeline,
    limits: QueryLimits,
    format: PullFormat,
    ct: CompressType,
) -> Result<PullAnswer> {
    let mut groups = Vec::with_capacity(result.records.len());
    let mut raw_bytes = 0;
    let mut bytes = Vec::new();
    for r in &result.records {
        groups.push(decode_group(r, &mut bytes)?);
        raw_bytes += cairn_proto::framed_len(bytes.len());
    }
    let SplOutput {
        groups,
        lines_in,
        lines_out,
        failed,
    } = spl::run(pipeline, &groups, limits.memory_bytes, limits.time).map_err(spl_error)?;
    let (body, raw_len) = encode(&groups, format, ct);
    Ok(PullAnswer {
        count: groups.len(),
        spl: Some(SplCounts {
            raw_groups: result.records.len(),
            raw_bytes,
            raw_lines: lines_in,
            lines: lines_out,
            failed,
        }),
        result,
        body,
        raw_len,
    })
}

/// `groups` as the body of a PullLogs answer, and its uncompressed length.
fn encode(groups: &[LogGroup], format: PullFormat, ct: CompressType) -> (Vec<u8>, usize) {
    let raw = match format {
        PullFormat::Protobuf => {
            if groups.is_empty() {
                return (Vec::new(), 0);
            }
            let mut raw = Vec::new();
            for g in groups {
                cairn_proto::frame_header(&mut raw, g.encoded_len());
                g.encode_raw(&mut raw);
            }
            raw
        }
        PullFormat::Json => {
            let list: Vec<_> = groups.iter().map(json_group).collect();
            serde_json::to_vec(&serde_json::json!({ "logGroupList": list }))
                .expect("writing JSON into memory does not fail")
        }
    };
    let raw_len = raw.len();
    let body = match ct {
        CompressType::None => raw,
        _ => cairn_proto::compress(ct, &raw),
    };
    (body, raw_len)
}
