//! The LogGroup validator of PutLogs bodies.

use cairn_proto::{validate_log_group, validate_log_group_without_shortcuts, LogGroup};
use prost::Message;

use crate::alloc;

/// Validates `data` as a LogGroup, and also wrapped as the one Log of a group, as the one
/// Content of a Log and as a LogTag, so that the shortcuts for those messages see it whole.
pub fn log_group(data: &[u8]) {
    check(data);
    let mut as_log = Vec::with_capacity(data.len() + 16);
    field(&mut as_log, 1, data);
    check(&as_log);
    let mut log = vec![0x08, 0x01];
    field(&mut log, 2, data);
    let mut as_content = Vec::with_capacity(log.len() + 8);
    field(&mut as_content, 1, &log);
    check(&as_content);
    let mut as_tag = Vec::with_capacity(data.len() + 8);
    field(&mut as_tag, 6, data);
    check(&as_tag);
}

/// Appends a length-delimited field.
fn field(out: &mut Vec<u8>, number: u8, body: &[u8]) {
    out.push(number << 3 | 2);
    let mut n = body.len() as u64;
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(body);
}

fn check(buf: &[u8]) {
    let (fast, usage) = alloc::measure(|| validate_log_group(buf));
    let general = validate_log_group_without_shortcuts(buf);
    assert_eq!(
        fast, general,
        "the shortcuts and the general parser disagree on {buf:02x?}"
    );
    let Ok(info) = fast else { return };
    if let Some(u) = usage {
        assert_eq!(u.allocations, 0, "validating {buf:02x?} allocated");
    }
    let group = LogGroup::decode(buf)
        .unwrap_or_else(|e| panic!("validated bytes that prost refuses ({e}): {buf:02x?}"));
    assert_eq!(group.logs.len(), info.logs, "Log count of {buf:02x?}");
    let again = group.encode_to_vec();
    assert_eq!(
        validate_log_group(&again).map(|i| i.logs),
        Ok(info.logs),
        "prost's re-encoding of {buf:02x?}"
    );
    assert_eq!(LogGroup::decode(again.as_slice()).ok(), Some(group));
}
