//! Client input quoted in error messages: at most [`MAX_ECHO`] bytes of it (cut on a character
//! boundary), then an ellipsis and the total length, so an error never echoes a whole body,
//! cursor or header back.

use std::fmt;

/// Bytes of client input an error message quotes at most.
pub const MAX_ECHO: usize = 256;

/// `s` for an error message: `{}` shows it plain, `{:?}` quoted; either way at most
/// [`MAX_ECHO`] bytes of it, followed by `…` and its length when it is longer.
pub fn excerpt(s: &str) -> Excerpt<'_> {
    Excerpt(s)
}

/// See [`excerpt`].
#[derive(Clone, Copy)]
pub struct Excerpt<'a>(&'a str);

impl Excerpt<'_> {
    fn split(&self) -> (&str, bool) {
        let s = self.0;
        if s.len() <= MAX_ECHO {
            return (s, false);
        }
        let mut end = MAX_ECHO;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        (&s[..end], true)
    }
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.split() {
            (s, false) => f.write_str(s),
            (s, true) => write!(f, "{s}… ({} bytes)", self.0.len()),
        }
    }
}

impl fmt::Debug for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.split() {
            (s, false) => write!(f, "{s:?}"),
            (s, true) => write!(f, "{s:?}… ({} bytes)", self.0.len()),
        }
    }
}

/// A whole error message, cut the same way at `4 * MAX_ECHO` bytes: the last line of defence
/// for input quoted without [`excerpt`].
pub fn bounded_message(m: String) -> String {
    if m.len() <= 4 * MAX_ECHO {
        return m;
    }
    let mut end = 4 * MAX_ECHO;
    while !m.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &m[..end], m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_quoted_whole() {
        assert_eq!(format!("{}", excerpt("abc")), "abc");
        assert_eq!(format!("{:?}", excerpt("a\"b")), r#""a\"b""#);
    }

    #[test]
    fn long_input_is_cut_with_an_ellipsis_and_its_length() {
        let long = "x".repeat(5_000_000);
        let shown = format!("{:?}", excerpt(&long));
        assert_eq!(
            shown,
            format!("\"{}\"… (5000000 bytes)", "x".repeat(MAX_ECHO))
        );
        assert_eq!(
            format!("{}", excerpt(&long)),
            format!("{}… (5000000 bytes)", "x".repeat(MAX_ECHO))
        );
    }

    #[test]
    fn the_cut_falls_on_a_character_boundary() {
        // 'é' is 2 bytes: 255 ASCII bytes then 'é' straddles the limit.
        let s = format!("{}é{}", "a".repeat(MAX_ECHO - 1), "b".repeat(10));
        let shown = format!("{}", excerpt(&s));
        assert!(shown.starts_with(&"a".repeat(MAX_ECHO - 1)));
        assert!(shown.contains(&format!("… ({} bytes)", s.len())));
        assert!(!shown.contains('é'));
        let all_wide = "é".repeat(1000);
        assert!(format!("{}", excerpt(&all_wide)).starts_with(&"é".repeat(MAX_ECHO / 2)));
    }

    #[test]
    fn whole_messages_are_bounded() {
        assert_eq!(bounded_message("short".into()), "short");
        let m = bounded_message("y".repeat(100_000));
        assert!(m.len() < 5 * MAX_ECHO, "{}", m.len());
        assert!(m.ends_with("… (100000 bytes)"));
    }
}
