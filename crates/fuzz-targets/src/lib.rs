//! The bodies of Cairn's fuzz targets: one `pub fn <target>(data: &[u8])` per family of untrusted
//! input, each asserting the properties that must hold for every input (it panics otherwise).
//!
//! The cargo-fuzz binaries in `fuzz/fuzz_targets/` call these functions, and so does
//! `tests/corpus.rs`, which replays every file of `fuzz/corpus/<target>/` through them on the
//! stable toolchain as part of the ordinary test run. [`TARGETS`] lists them by name.
//!
//! | target | input | properties |
//! |---|---|---|
//! | [`log_group`] | a PutLogs body after decompression | shortcuts agree with the general parser; accepted bytes decode with prost to as many Logs and re-encode to accepted bytes; no allocation on success |
//! | [`decompress`] | codec, raw size, limit, body | never more than the limit (plus a fixed decoder overhead) allocated; `x-log-bodyrawsize` enforced; LZ4 agrees with liblz4; compress → decompress round trips |
//! | [`lz4_join`] | declared raw size, a position, an LZ4 block | joinable blocks join into a block liblz4 decompresses to the concatenation; arbitrary positions and payloads are refused, never a panic |
//! | [`cursor`] | a cursor string | decoded positions re-encode and decode to themselves in every accepted form |
//! | [`sls_signature`] | an HTTP request head and body | verification never panics and never leaks the secret; the request re-signed v1 and v4 verifies, with a wrong secret does not, and not outside the clock skew |
//! | [`digest`] | method, request target, Digest `Authorization` | parse → print → parse round trips; the credentials with an independently computed response verify exactly when their fields allow it, once per nonce count |
//! | [`atlas_body`] | an Atlas request body | the three body parsers answer a typed request or a 400 in the Atlas error shape; accepted requests round trip through JSON |
//! | [`tracking_body`] | a JSON LogGroup body (web tracking, JSON PutLogs) | a typed batch or `400 PostBodyInvalid` with a bounded message; accepted batches round trip through JSON |

pub mod alloc;
mod atlas;
mod body;
mod cursor;
mod digest;
mod log_group;
mod lz4_join;
mod sls;
mod tracking;

pub use atlas::atlas_body;
pub use body::decompress;
pub use cursor::cursor;
pub use digest::digest;
pub use log_group::log_group;
pub use lz4_join::lz4_join;
pub use sls::sls_signature;
pub use tracking::tracking_body;

/// A target: it panics when a property does not hold for its input.
pub type Target = fn(&[u8]);

/// Every target by name: the name of its fuzz binary and of its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("log_group", log_group),
    ("decompress", decompress),
    ("lz4_join", lz4_join),
    ("cursor", cursor),
    ("sls_signature", sls_signature),
    ("digest", digest),
    ("atlas_body", atlas_body),
    ("tracking_body", tracking_body),
];

/// Splits `data` at the first `\n`: (first line, rest). Lossy UTF-8 for the line.
pub(crate) fn first_line(data: &[u8]) -> (String, &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (String::from_utf8_lossy(data).into_owned(), &[]),
    }
}
