//! URL component decoding and encoding, and a constant-time comparison.

/// Decodes `%XX` escapes; with `plus_as_space`, `+` becomes a space (form encoding, which is
/// what `requests`, Go's `url.Values` and Java's `URLEncoder` produce for query strings).
/// Malformed escapes are kept as they are; invalid UTF-8 is replaced by U+FFFD.
pub(crate) fn decode(s: &str, plus_as_space: bool) -> String {
    let b = s.as_bytes();
    let needs_work = b.contains(&b'%') || (plus_as_space && b.contains(&b'+'));
    if !needs_work {
        return s.to_string();
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 encoding of UTF-8 bytes: `A-Z a-z 0-9 - _ . ~` stay, every other byte is `%XX`
/// with upper-case hex (a space is `%20`, `/` is `%2F`).
pub(crate) fn encode_rfc3986(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Keep the optimiser from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode("a%2Bb+c%3D%3d", true), "a+b c==");
        assert_eq!(decode("a%2Bb+c", false), "a+b+c");
        assert_eq!(decode("%zz%4", true), "%zz%4");
        assert_eq!(decode("%", true), "%");
        assert_eq!(decode("x%", true), "x%");
        assert_eq!(decode("%C3%A9", false), "é");
        assert_eq!(decode("%FF", false), "\u{FFFD}");
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_rfc3986("a b+c/~*é-_."), "a%20b%2Bc%2F~%2A%C3%A9-_.");
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
