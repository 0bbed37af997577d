//! The PutLogs body decoders: `cairn_proto::decompress` for every codec.

use cairn_proto::{compress, decompress as decode, CodecError, CompressType};

use crate::alloc;

/// Largest output limit the target uses (PutLogs bodies are limited to a few MiB).
const MAX_LIMIT: usize = 4 << 20;
/// What a decoder may hold besides its output: the zlib window and state, reader buffers.
const DECODER_OVERHEAD: usize = 192 << 10;

const CODECS: [CompressType; 4] = [
    CompressType::None,
    CompressType::Lz4,
    CompressType::Zstd,
    CompressType::Deflate,
];

/// `data` = codec (low 2 bits of byte 0; bit 2: a raw size is declared) ‖ raw size (u32 LE) ‖
/// limit (u32 LE, taken modulo 4 MiB + 1) ‖ body.
pub fn decompress(data: &[u8]) {
    let Some((head, body)) = data.split_first_chunk::<9>() else {
        return round_trips(data);
    };
    let ct = CODECS[usize::from(head[0] & 3)];
    let raw = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let raw_size = (head[0] & 4 != 0).then_some(raw);
    let limit = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize % (MAX_LIMIT + 1);

    let (out, usage) = alloc::measure(|| decode(ct, body, raw_size, limit));
    if let Some(u) = usage {
        assert!(
            u.peak_bytes <= limit + DECODER_OVERHEAD,
            "{ct:?} with limit {limit} (raw size {raw_size:?}) allocated {} bytes",
            u.peak_bytes
        );
    }
    match &out {
        Ok(out) => {
            assert!(
                out.len() <= limit,
                "{ct:?}: {} bytes over limit {limit}",
                out.len()
            );
            if let Some(n) = raw_size {
                assert_eq!(out.len(), n, "{ct:?}: raw size not enforced");
            }
            if ct == CompressType::None {
                assert_eq!(out, body);
            }
        }
        Err(CodecError::TooLarge { limit: l }) => assert_eq!(*l, limit),
        Err(CodecError::MissingRawSize) => {
            assert!(ct == CompressType::Lz4 && raw_size.is_none())
        }
        Err(CodecError::Unknown(_)) => panic!("decompress reported an unknown codec"),
        Err(_) => {}
    }
    if let (CompressType::Lz4, Some(n)) = (ct, raw_size) {
        agrees_with_liblz4(body, n, limit, &out);
    }
    round_trips(body);
    if let Ok(s) = std::str::from_utf8(body) {
        if let Ok(ct) = CompressType::from_header(Some(s)) {
            assert_eq!(CompressType::from_header(ct.as_header()), Ok(ct));
        }
        let _ = CompressType::from_accept_encoding(Some(s));
    }
}

/// A block liblz4 decompresses to exactly `n` bytes (what the SDKs send) is accepted with the
/// same bytes; and whatever both accept, they decompress alike.
fn agrees_with_liblz4(block: &[u8], n: usize, limit: usize, ours: &Result<Vec<u8>, CodecError>) {
    let Ok(size) = i32::try_from(n) else { return };
    if n > limit {
        return;
    }
    let mut reference = vec![0u8; n];
    let Ok(got) = lz4::block::decompress_to_buffer(block, Some(size), &mut reference) else {
        return;
    };
    reference.truncate(got);
    match ours {
        Ok(out) => assert_eq!(
            *out, reference,
            "lz4_flex and liblz4 differ on {block:02x?}"
        ),
        Err(e) if got == n => {
            panic!("liblz4 decompresses {block:02x?} to {n} bytes, Cairn says {e}")
        }
        Err(_) => {}
    }
}

/// `data` compressed with each codec decompresses to itself, within a limit of exactly its
/// length, and is refused with a limit one byte shorter.
fn round_trips(data: &[u8]) {
    for ct in CODECS {
        let c = compress(ct, data);
        let n = data.len();
        assert_eq!(decode(ct, &c, Some(n), n).as_deref(), Ok(data), "{ct:?}");
        if ct != CompressType::Lz4 {
            assert_eq!(decode(ct, &c, None, n).as_deref(), Ok(data), "{ct:?}");
        }
        if n > 0 {
            let declared = (ct == CompressType::Lz4).then_some(n);
            assert_eq!(
                decode(ct, &c, declared, n - 1),
                Err(CodecError::TooLarge { limit: n - 1 }),
                "{ct:?}"
            );
        }
        if ct == CompressType::Lz4 {
            let mut out = vec![0u8; n];
            let got = lz4::block::decompress_to_buffer(&c, Some(n as i32), &mut out);
            assert_eq!(got.ok(), Some(n), "liblz4 refuses Cairn's LZ4 block");
            assert_eq!(out, data);
        }
    }
}
