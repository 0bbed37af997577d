//! Cursors on the wire: standard base64 of the decimal string of a shard position
//! (design §3). `MTIz` is cursor 123.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

/// Why a cursor string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorError {
    /// Empty string.
    #[error("cursor is empty")]
    Empty,
    /// Not base64.
    #[error("cursor is not base64")]
    NotBase64,
    /// Base64 of something other than a decimal integer.
    #[error("cursor does not encode an integer")]
    NotDecimal,
    /// Base64 of a negative integer: well formed, but before every shard's beginning.
    #[error("cursor encodes a negative position")]
    Negative,
}

/// Encodes a shard position as a cursor.
pub fn encode_cursor(n: u64) -> String {
    STANDARD.encode(n.to_string())
}

/// Decodes a cursor. Accepts missing padding, the URL-safe alphabet and surrounding whitespace
/// (the Python SDK re-encodes cursors with a trailing newline).
pub fn decode_cursor(s: &str) -> Result<u64, CursorError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CursorError::Empty);
    }
    let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .ok_or(CursorError::NotBase64)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| CursorError::NotDecimal)?;
    if let Some(digits) = text.strip_prefix('-') {
        if !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CursorError::Negative);
        }
    }
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CursorError::NotDecimal);
    }
    text.parse().map_err(|_| CursorError::NotDecimal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_known_values() {
        assert_eq!(encode_cursor(123), "MTIz");
        assert_eq!(encode_cursor(0), "MA==");
        for n in [0, 1, 9, 10, 99, 12345, u64::MAX] {
            assert_eq!(decode_cursor(&encode_cursor(n)), Ok(n));
        }
        assert_eq!(
            decode_cursor("MTYxNDc1MDAyNzM3MzIwNTcxNA=="),
            Ok(1614750027373205714)
        );
    }

    #[test]
    fn lenient_forms() {
        assert_eq!(decode_cursor("MA"), Ok(0));
        assert_eq!(decode_cursor("MA==\n"), Ok(0));
        assert_eq!(decode_cursor(" MTIz "), Ok(123));
    }

    #[test]
    fn refusals() {
        assert_eq!(decode_cursor(""), Err(CursorError::Empty));
        assert_eq!(decode_cursor("%%%"), Err(CursorError::NotBase64));
        assert_eq!(
            decode_cursor(&STANDARD.encode("-1")),
            Err(CursorError::Negative)
        );
        assert_eq!(
            decode_cursor(&STANDARD.encode("-")),
            Err(CursorError::NotDecimal)
        );
        assert_eq!(
            decode_cursor(&STANDARD.encode("12a")),
            Err(CursorError::NotDecimal)
        );
        assert_eq!(decode_cursor(&STANDARD.encode("")), Err(CursorError::Empty));
        assert_eq!(
            decode_cursor(&STANDARD.encode("18446744073709551616")),
            Err(CursorError::NotDecimal)
        );
    }
}
