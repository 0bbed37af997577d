//! Body compression as SLS uses it: `x-log-compresstype` on requests, `Accept-Encoding` on
//! PullLogs. LZ4 is the raw block format (no frame, no size prefix; the size travels in
//! `x-log-bodyrawsize`), zstd a standard frame, deflate a zlib stream (RFC 1950).

use std::io::Read;

/// A body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressType {
    /// Plain bytes.
    None,
    /// Raw LZ4 block.
    Lz4,
    /// Zstandard frame.
    Zstd,
    /// zlib-wrapped deflate (`deflate`; `gzip` is accepted as the same, as the Java SDK names it).
    Deflate,
}

/// Why a body could not be decompressed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// Unknown compression name.
    #[error("unknown compression {0:?}")]
    Unknown(String),
    /// A compressed body without its raw size.
    #[error("x-log-bodyrawsize is required for a compressed body")]
    MissingRawSize,
    /// The data is not valid for its format.
    #[error("corrupt {format} data: {detail}")]
    Corrupt {
        /// Format name.
        format: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// Decompressed to a size other than announced.
    #[error("decompressed to {actual} bytes but x-log-bodyrawsize is {declared}")]
    RawSizeMismatch {
        /// Announced size.
        declared: usize,
        /// Actual size.
        actual: usize,
    },
    /// More than the limit.
    #[error("body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

impl CompressType {
    /// Parses `x-log-compresstype`: absent or empty is no compression.
    pub fn from_header(value: Option<&str>) -> Result<Self, CodecError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("none") => Ok(Self::None),
            Some("lz4") => Ok(Self::Lz4),
            Some("zstd") => Ok(Self::Zstd),
            Some("deflate") | Some("gzip") => Ok(Self::Deflate),
            Some(other) => Err(CodecError::Unknown(other.to_string())),
        }
    }

    /// Chooses the response compression from `Accept-Encoding`: the first of lz4, zstd, deflate
    /// named (`gzip`, as the OpenAPI SDKs name zlib data, is deflate); absent means lz4 (every
    /// SDK's default); empty or nothing supported means none.
    pub fn from_accept_encoding(value: Option<&str>) -> Self {
        let Some(v) = value else { return Self::Lz4 };
        for token in v.split(',') {
            let name = token
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match name.as_str() {
                "lz4" => return Self::Lz4,
                "zstd" => return Self::Zstd,
                "deflate" | "gzip" => return Self::Deflate,
                _ => {}
            }
        }
        Self::None
    }

    /// The `x-log-compresstype` value, `None` for no compression.
    pub fn as_header(&self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Lz4 => Some("lz4"),
            Self::Zstd => Some("zstd"),
            Self::Deflate => Some("deflate"),
        }
    }
}

/// Decompresses `body`. `raw_size` is the announced size (`x-log-bodyrawsize`), required for lz4
/// and checked when given; nothing larger than `limit` is ever allocated.
pub fn decompress(
    ct: CompressType,
    body: &[u8],
    raw_size: Option<usize>,
    limit: usize,
) -> Result<Vec<u8>, CodecError> {
    if let Some(n) = raw_size {
        if n > limit {
            return Err(CodecError::TooLarge { limit });
        }
    }
    let check = |out: Vec<u8>| match raw_size {
        Some(n) if n != out.len() => Err(CodecError::RawSizeMismatch {
            declared: n,
            actual: out.len(),
        }),
        _ => Ok(out),
    };
    match ct {
        CompressType::None => {
            if body.len() > limit {
                return Err(CodecError::TooLarge { limit });
            }
            check(body.to_vec())
        }
        CompressType::Lz4 => {
            let n = raw_size.ok_or(CodecError::MissingRawSize)?;
            let mut out = vec![0u8; n];
            lz4_decompress_exact(body, &mut out)?;
            Ok(out)
        }
        CompressType::Zstd => {
            // Reading straight from the body: no buffer of its own in front of the decoder.
            let dec = zstd::stream::read::Decoder::with_buffer(body).map_err(|e| {
                CodecError::Corrupt {
                    format: "zstd",
                    detail: e.to_string(),
                }
            })?;
            check(read_bounded(dec, limit, raw_size, "zstd")?)
        }
        CompressType::Deflate => check(read_bounded(
            flate2::bufread::ZlibDecoder::new(body),
            limit,
            raw_size,
            "deflate",
        )?),
    }
}

/// Decompresses the raw LZ4 block `block` into `out`, which it must fill exactly.
pub fn lz4_decompress_exact(block: &[u8], out: &mut [u8]) -> Result<(), CodecError> {
    let n = lz4_flex::block::decompress_into(block, out).map_err(|e| CodecError::Corrupt {
        format: "lz4",
        detail: e.to_string(),
    })?;
    if n != out.len() {
        return Err(CodecError::RawSizeMismatch {
            declared: out.len(),
            actual: n,
        });
    }
    Ok(())
}

/// Reads `r` to its end into a buffer that never holds more than `limit` bytes: it grows by
/// doubling (from `hint`, the announced size) but is capped at `limit`, and the read stops with
/// [`CodecError::TooLarge`] as soon as the output would pass the limit.
fn read_bounded(
    mut r: impl Read,
    limit: usize,
    hint: Option<usize>,
    format: &'static str,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(hint.unwrap_or(0).min(limit));
    let mut chunk = [0u8; 16 << 10];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(CodecError::Corrupt {
                    format,
                    detail: e.to_string(),
                })
            }
        };
        if n > limit - out.len() {
            return Err(CodecError::TooLarge { limit });
        }
        if n > out.capacity() - out.len() {
            let want = out.capacity().saturating_mul(2).clamp(out.len() + n, limit);
            out.reserve_exact(want - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Compresses `data`.
pub fn compress(ct: CompressType, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress_into(ct, data, &mut out);
    out
}

/// Compresses `data` into `out` (cleared first), reusing its allocation.
pub fn compress_into(ct: CompressType, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    match ct {
        CompressType::None => out.extend_from_slice(data),
        CompressType::Lz4 => {
            out.resize(lz4_flex::block::get_maximum_output_size(data.len()), 0);
            let n =
                lz4_flex::block::compress_into(data, out).expect("buffer sized for the worst case");
            out.truncate(n);
        }
        CompressType::Zstd => {
            // Single-shot frames record the content size, which some clients rely on.
            *out = zstd::bulk::compress(data, 1).expect("zstd compression of an in-memory buffer");
        }
        CompressType::Deflate => {
            use std::io::Write;
            let mut enc = flate2::write::ZlibEncoder::new(
                std::mem::take(out),
                flate2::Compression::default(),
            );
            enc.write_all(data).expect("in-memory write");
            *out = enc.finish().expect("in-memory write");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..50_000u32)
            .flat_map(|i| format!("key{}=value{} ", i % 97, i % 13).into_bytes())
            .collect()
    }

    #[test]
    fn round_trips() {
        let data = sample();
        for ct in [
            CompressType::None,
            CompressType::Lz4,
            CompressType::Zstd,
            CompressType::Deflate,
        ] {
            let c = compress(ct, &data);
            assert_eq!(
                decompress(ct, &c, Some(data.len()), 1 << 30).unwrap(),
                data,
                "{ct:?}"
            );
            if ct != CompressType::Lz4 {
                assert_eq!(decompress(ct, &c, None, 1 << 30).unwrap(), data, "{ct:?}");
            }
        }
        assert_eq!(
            decompress(
                CompressType::Lz4,
                &compress(CompressType::Lz4, b""),
                Some(0),
                10
            )
            .unwrap(),
            b""
        );
    }

    #[test]
    fn zstd_frames_carry_content_size() {
        let data = sample();
        let c = compress(CompressType::Zstd, &data);
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&c).unwrap(),
            Some(data.len() as u64)
        );
    }

    #[test]
    fn raw_size_disagreements() {
        let data = sample();
        let lz = compress(CompressType::Lz4, &data);
        assert!(decompress(CompressType::Lz4, &lz, Some(data.len() + 1), 1 << 30).is_err());
        assert!(decompress(CompressType::Lz4, &lz, Some(data.len() - 1), 1 << 30).is_err());
        assert_eq!(
            decompress(CompressType::Lz4, &lz, None, 1 << 30),
            Err(CodecError::MissingRawSize)
        );
        let z = compress(CompressType::Zstd, &data);
        assert_eq!(
            decompress(CompressType::Zstd, &z, Some(10), 1 << 30),
            Err(CodecError::RawSizeMismatch {
                declared: 10,
                actual: data.len()
            })
        );
        let d = compress(CompressType::Deflate, &data);
        assert!(matches!(
            decompress(CompressType::Deflate, &d, Some(1), 1 << 30),
            Err(CodecError::RawSizeMismatch { .. })
        ));
    }

    #[test]
    fn garbage_and_limits() {
        let junk = [0xffu8; 64];
        for ct in [CompressType::Lz4, CompressType::Zstd, CompressType::Deflate] {
            assert!(
                matches!(
                    decompress(ct, &junk, Some(100), 1 << 20),
                    Err(CodecError::Corrupt { .. })
                ),
                "{ct:?}"
            );
        }
        let data = sample();
        for ct in [
            CompressType::None,
            CompressType::Zstd,
            CompressType::Deflate,
        ] {
            let c = compress(ct, &data);
            assert_eq!(
                decompress(ct, &c, None, 1000),
                Err(CodecError::TooLarge { limit: 1000 }),
                "{ct:?}"
            );
        }
        let lz = compress(CompressType::Lz4, &data);
        assert_eq!(
            decompress(CompressType::Lz4, &lz, Some(data.len()), 1000),
            Err(CodecError::TooLarge { limit: 1000 })
        );
        // Truncated compressed data never panics.
        for ct in [CompressType::Lz4, CompressType::Zstd, CompressType::Deflate] {
            let c = compress(ct, &data[..3000]);
            for cut in 0..c.len() {
                let _ = decompress(ct, &c[..cut], Some(3000), 1 << 20);
            }
        }
    }

    #[test]
    fn output_buffers_never_outgrow_the_limit() {
        // A body that decompresses to exactly the limit, or to far more than the raw size it
        // announces: the buffer holding the output stays within the limit either way.
        let data = vec![b'a'; 300_000];
        for ct in [CompressType::Zstd, CompressType::Deflate] {
            let c = compress(ct, &data);
            for (raw_size, limit) in [(None, data.len()), (Some(data.len()), data.len())] {
                let out = decompress(ct, &c, raw_size, limit).unwrap();
                assert_eq!(out, data);
                assert!(
                    out.capacity() <= limit,
                    "{ct:?}: {} bytes of capacity for a limit of {limit}",
                    out.capacity()
                );
            }
            let short = decompress(ct, &c, Some(10), 1 << 20);
            assert_eq!(
                short,
                Err(CodecError::RawSizeMismatch {
                    declared: 10,
                    actual: data.len()
                })
            );
        }
    }

    #[test]
    fn header_names() {
        assert_eq!(CompressType::from_header(None), Ok(CompressType::None));
        assert_eq!(CompressType::from_header(Some("")), Ok(CompressType::None));
        assert_eq!(
            CompressType::from_header(Some("LZ4")),
            Ok(CompressType::Lz4)
        );
        assert_eq!(
            CompressType::from_header(Some("zstd")),
            Ok(CompressType::Zstd)
        );
        assert_eq!(
            CompressType::from_header(Some("deflate")),
            Ok(CompressType::Deflate)
        );
        assert!(CompressType::from_header(Some("snappy")).is_err());
        assert_eq!(CompressType::from_accept_encoding(None), CompressType::Lz4);
        assert_eq!(
            CompressType::from_accept_encoding(Some("")),
            CompressType::None
        );
        assert_eq!(
            CompressType::from_accept_encoding(Some("zstd")),
            CompressType::Zstd
        );
        assert_eq!(
            CompressType::from_accept_encoding(Some("gzip, deflate")),
            CompressType::Deflate
        );
        assert_eq!(
            CompressType::from_accept_encoding(Some("gzip")),
            CompressType::Deflate
        );
        assert_eq!(
            CompressType::from_accept_encoding(Some("br")),
            CompressType::None
        );
    }
}
