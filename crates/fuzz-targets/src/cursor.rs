//! Cursor parsing.

use cairn_proto::{decode_cursor, encode_cursor, CursorError};

/// Decodes `data` as a cursor string; encodes the number in its first 8 bytes.
pub fn cursor(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    match decode_cursor(&s) {
        Ok(n) => round_trip(n),
        Err(CursorError::Empty) => assert!(s.trim().is_empty(), "{s:?} is not empty"),
        Err(_) => assert!(!s.trim().is_empty(), "{s:?} is empty"),
    }
    let mut word = [0u8; 8];
    let n = data.len().min(8);
    word[..n].copy_from_slice(&data[..n]);
    round_trip(u64::from_le_bytes(word));
    round_trip(u64::from(u32::from_le_bytes([
        word[0], word[1], word[2], word[3],
    ])));
}

/// `n` survives encoding, and every lenient form of its cursor decodes to it.
fn round_trip(n: u64) {
    let c = encode_cursor(n);
    assert!(
        c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
        "{c:?}"
    );
    let unpadded = c.trim_end_matches('=');
    let url_safe = c.replace('+', "-").replace('/', "_");
    for form in [
        c.clone(),
        unpadded.to_string(),
        url_safe.clone(),
        url_safe.trim_end_matches('=').to_string(),
        format!("{c}\n"),
        format!(" {c} "),
    ] {
        assert_eq!(decode_cursor(&form), Ok(n), "{form:?}");
    }
}
