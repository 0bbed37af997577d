//! How text is cut into tokens (design §18.1): by the configured separator characters, folded to
//! lower case unless the rules keep case, with each Chinese character a token of its own when
//! Chinese segmentation is on. Stored values and query terms go through the same analyzer.

use std::borrow::Cow;

/// SLS's default separators, used for the fields that are searchable without configuration
/// (`__topic__`, `__source__`, `__tag__:…`).
pub const DEFAULT_SEPARATORS: &str = ", '\";=()[]{}?@&<>/:\n\t\r";

/// A text analyzer: the separators, case rule and Chinese segmentation of one index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analyzer {
    ascii: [bool; 128],
    other: Vec<char>,
    case_sensitive: bool,
    chn: bool,
}

impl Analyzer {
    /// An analyzer splitting at `separators`.
    pub fn new(
        separators: impl IntoIterator<Item = char>,
        case_sensitive: bool,
        chn: bool,
    ) -> Self {
        let mut ascii = [false; 128];
        let mut other = Vec::new();
        for c in separators {
            if c.is_ascii() {
                ascii[c as usize] = true;
            } else {
                other.push(c);
            }
        }
        other.sort_unstable();
        other.dedup();
        Analyzer {
            ascii,
            other,
            case_sensitive,
            chn,
        }
    }

    /// The analyzer of the fields every logstore can search: default separators, no case.
    pub fn default_rules() -> Self {
        Analyzer::new(DEFAULT_SEPARATORS.chars(), false, false)
    }

    /// Whether matching keeps case.
    pub fn case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    fn is_separator(&self, c: char) -> bool {
        if c.is_ascii() {
            self.ascii[c as usize]
        } else {
            self.other.binary_search(&c).is_ok()
        }
    }

    /// Calls `f` with each token of `text`, in order, folded as the rules say.
    pub fn for_each_token<'a>(&self, text: &'a str, f: impl FnMut(Cow<'a, str>)) {
        self.split(text, &[], f);
    }

    /// The tokens of a query term: as [`Analyzer::for_each_token`], except that the wildcard
    /// characters `*` and `?` stay inside tokens even where they are separators.
    pub fn query_tokens(&self, text: &str, wildcards: bool) -> Vec<String> {
        let keep: &[char] = if wildcards { &['*', '?'] } else { &[] };
        let mut out = Vec::new();
        self.split(text, keep, |t| out.push(t.into_owned()));
        out
    }

    fn split<'a>(&self, text: &'a str, keep: &[char], mut f: impl FnMut(Cow<'a, str>)) {
        let mut start = None;
        for (i, c) in text.char_indices() {
            let sep = self.is_separator(c) && !keep.contains(&c);
            let own = self.chn && is_cjk(c);
            if sep || own {
                if let Some(s) = start.take() {
                    f(self.fold(&text[s..i]));
                }
                if own {
                    f(self.fold(&text[i..i + c.len_utf8()]));
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            f(self.fold(&text[s..]));
        }
    }

    /// `s` folded as the rules say (lower case unless case is kept).
    pub fn fold<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if self.case_sensitive || !s.chars().any(char::is_uppercase) {
            Cow::Borrowed(s)
        } else {
            Cow::Owned(s.to_lowercase())
        }
    }
}

/// Chinese, Japanese and Korean ideographs: one token each under Chinese segmentation.
fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Whether `token` matches `pattern`, where `*` stands for any run of characters and `?` for
/// one character.
pub fn wildcard_match(pattern: &str, token: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = token.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(a: &Analyzer, s: &str) -> Vec<String> {
        let mut v = Vec::new();
        a.for_each_token(s, |t| v.push(t.into_owned()));
        v
    }

    #[test]
    fn splits_at_separators_and_folds_case() {
        let a = Analyzer::default_rules();
        assert_eq!(
            tokens(&a, "GET /api/Users?id=7"),
            ["get", "api", "users", "id", "7"]
        );
        assert_eq!(tokens(&a, ",,"), Vec::<String>::new());
        let kept = Analyzer::new([' '], true, false);
        assert_eq!(tokens(&kept, "Hello  World"), ["Hello", "World"]);
    }

    #[test]
    fn chinese_characters_are_tokens_under_segmentation() {
        let a = Analyzer::new([' '], false, true);
        assert_eq!(tokens(&a, "错误abc 中"), ["错", "误", "abc", "中"]);
        let off = Analyzer::new([' '], false, false);
        assert_eq!(tokens(&off, "错误abc"), ["错误abc"]);
    }

    #[test]
    fn query_tokens_keep_wildcards() {
        let a = Analyzer::default_rules();
        assert_eq!(a.query_tokens("/api/us?r*", true), ["api", "us?r*"]);
        assert_eq!(a.query_tokens("/api/us?r*", false), ["api", "us", "r*"]);
    }

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        assert!(wildcard_match("api*", "api"));
        assert!(wildcard_match("api*", "apis"));
        assert!(wildcard_match("a?i", "api"));
        assert!(!wildcard_match("a?i", "ai"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("错*", "错误"));
    }
}
