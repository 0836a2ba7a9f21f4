//! sacrebleu's BLEU tokenizers: `13a` (mteval-v13a, the default), `intl` (mteval-v14
//! international), `char`, `zh` and `none`, byte for byte as sacrebleu 2.6.0 writes them.
//!
//! ```
//! use gavel_metrics::tokenize::Tokenizer;
//!
//! assert_eq!(Tokenizer::Tok13a.tokenize("It costs $1,000.50, or so."), "It costs $ 1,000.50 , or so .");
//! assert_eq!(Tokenizer::Intl.tokenize("«Ça va?» 3.5€"), "« Ça va ? » 3.5 €");
//! assert_eq!(Tokenizer::Zh.tokenize("我爱北京。"), "我 爱 北 京 。");
//! assert_eq!(Tokenizer::Char.tokenize("ab c"), "a b   c");
//! ```
//!
//! Each tokenizer is a series of regular-expression substitutions in sacrebleu; here each is a
//! pass over the text that makes the same left-to-right, non-overlapping replacements. The
//! character classes are those of Python's `re` (ASCII ranges) and, for `intl`, of the `regex`
//! module's Unicode categories, taken from the module itself (`src/tables.rs`). Whitespace is
//! Python's (see [`crate::python`]).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::python;
use crate::tables::{REGEX_N, REGEX_P, REGEX_S, ZH_CHARS, in_ranges};

/// A BLEU tokenizer, named as in sacrebleu's `--tokenize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tokenizer {
    /// `none`: the text as it is (words are then its whitespace-separated parts).
    None,
    /// `zh`: every Chinese character (by sacrebleu's range table) is a token, the rest goes
    /// through the 13a punctuation rules.
    Zh,
    /// `13a`: mteval-v13a, WMT's standard (the default).
    #[default]
    Tok13a,
    /// `intl`: mteval-v14's international tokenization on Unicode punctuation and symbols.
    Intl,
    /// `char`: every character is a token.
    Char,
}

impl Tokenizer {
    /// Every tokenizer, in sacrebleu's order of names.
    pub const ALL: [Tokenizer; 5] = [
        Tokenizer::None,
        Tokenizer::Zh,
        Tokenizer::Tok13a,
        Tokenizer::Intl,
        Tokenizer::Char,
    ];

    /// The name, as in the signature (`tok:13a`).
    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::None => "none",
            Tokenizer::Zh => "zh",
            Tokenizer::Tok13a => "13a",
            Tokenizer::Intl => "intl",
            Tokenizer::Char => "char",
        }
    }

    /// Tokenizes one line: sacrebleu's `tokenizer(line)`. (BLEU strips trailing whitespace
    /// first; this function does not.)
    pub fn tokenize(self, line: &str) -> String {
        let mut buffers = Buffers::default();
        let mut out = String::new();
        self.tokenize_into(line, &mut buffers, &mut out);
        out
    }

    /// [`Tokenizer::tokenize`] into `out` (cleared first), reusing `buffers`.
    pub(crate) fn tokenize_into(self, line: &str, buffers: &mut Buffers, out: &mut String) {
        out.clear();
        match self {
            Tokenizer::None => out.push_str(line),
            Tokenizer::Tok13a => tokenize_13a(line, buffers, out),
            Tokenizer::Zh => tokenize_zh(line, buffers, out),
            Tokenizer::Intl => tokenize_intl(line, buffers, out),
            Tokenizer::Char => {
                // sacrebleu joins every character, whitespace included, with spaces; BLEU
                // then splits on whitespace, so whitespace characters never become tokens.
                for (i, c) in line.chars().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push(c);
                }
            }
        }
    }
}

impl fmt::Display for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a tokenizer gavel has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tokenizer `{0}` (expected 13a, intl, char, zh or none)")]
pub struct ParseTokenizerError(pub String);

impl FromStr for Tokenizer {
    type Err = ParseTokenizerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tokenizer::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| ParseTokenizerError(s.to_string()))
    }
}

/// Scratch space reused across calls.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    a: Vec<u8>,
    b: Vec<u8>,
    chars: Vec<char>,
    chars2: Vec<char>,
}

/// Writes Python's `' '.join(text.split())` into `out`.
pub(crate) fn join_words(text: &str, out: &mut String) {
    for word in python::split(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

fn tokenize_13a(line: &str, buffers: &mut Buffers, out: &mut String) {
    // The language-independent part; most lines need none of it, so nothing is copied then.
    let mut text = Cow::Borrowed(line);
    if text.contains("<skipped>") {
        text = Cow::Owned(text.replace("<skipped>", ""));
    }
    if text.contains('\n') {
        text = Cow::Owned(text.replace("-\n", "").replace('\n', " "));
    }
    if text.contains('&') {
        text = Cow::Owned(
            text.replace("&quot;", "\"")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">"),
        );
    }
    let a = &mut buffers.a;
    a.clear();
    a.push(b' ');
    a.extend_from_slice(text.as_bytes());
    a.push(b' ');
    regexp_rules(buffers, out);
}

/// sacrebleu's `TokenizerRegexp` (the language-dependent part of 13a, also used by `zh`) on
/// the bytes in `buffers.a`, then Python's split-and-join into `out`.
fn regexp_rules(buffers: &mut Buffers, out: &mut String) {
    let Buffers { a, b, .. } = buffers;
    pass_punct(a, b);
    pass_before_period_comma(b, a);
    pass_after_period_comma(a, b);
    pass_digit_dash(b, a);
    // Only ASCII bytes were inserted, and only between characters: still UTF-8.
    let text = std::str::from_utf8(a).unwrap_or_default();
    join_words(text, out);
}

/// `([\{-\~\[-\` -\&\(-\+\:-\@\/])` → `" \1 "`.
pub(crate) fn pass_punct(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    for &c in src {
        if is_13a_punct(c) {
            dst.extend_from_slice(&[b' ', c, b' ']);
        } else {
            dst.push(c);
        }
    }
}

/// `([^0-9])([\.,])` → `"\1 \2 "`: period and comma split off unless after a digit. (On UTF-8
/// bytes this is the same: a multi-byte character ends in a byte that is not a digit.)
pub(crate) fn pass_before_period_comma(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        match src.get(i + 1) {
            Some(&d) if !c.is_ascii_digit() && (d == b'.' || d == b',') => {
                dst.extend_from_slice(&[c, b' ', d, b' ']);
                i += 2;
            }
            _ => {
                dst.push(c);
                i += 1;
            }
        }
    }
}

/// `([\.,])([^0-9])` → `" \1 \2"`: period and comma split off unless before a digit. (The
/// second character, when multi-byte, is copied a byte at a time; none of its bytes can start a
/// match.)
pub(crate) fn pass_after_period_comma(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        match src.get(i + 1) {
            Some(&d) if (c == b'.' || c == b',') && !d.is_ascii_digit() => {
                dst.extend_from_slice(&[b' ', c, b' ', d]);
                i += 2;
            }
            _ => {
                dst.push(c);
                i += 1;
            }
        }
    }
}

/// `([0-9])(-)` → `"\1 \2 "`: a dash after a digit is split off.
pub(crate) fn pass_digit_dash(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if c.is_ascii_digit() && src.get(i + 1) == Some(&b'-') {
            dst.extend_from_slice(&[c, b' ', b'-', b' ']);
            i += 2;
        } else {
            dst.push(c);
            i += 1;
        }
    }
}

/// The 13a punctuation class: `{`-`~`, `[`-`` ` ``, space-`&`, `(`-`+`, `:`-`@`, `/`.
#[inline]
pub(crate) fn is_13a_punct(c: u8) -> bool {
    matches!(c, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/')
}

fn tokenize_zh(line: &str, buffers: &mut Buffers, out: &mut String) {
    let line = python::strip(line);
    let a = &mut buffers.a;
    a.clear();
    let mut utf8 = [0u8; 4];
    for c in line.chars() {
        let bytes = c.encode_utf8(&mut utf8).as_bytes();
        if !c.is_ascii() && in_ranges(c, ZH_CHARS) {
            a.push(b' ');
            a.extend_from_slice(bytes);
            a.push(b' ');
        } else {
            a.extend_from_slice(bytes);
        }
    }
    regexp_rules(buffers, out);
}

#[inline]
fn is_number(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        in_ranges(c, REGEX_N)
    }
}

#[inline]
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        // `regex`'s \p{P} on ASCII: string.punctuation less the symbols $+<=>^`|~.
        matches!(c, '!'..='#' | '%'..='*' | ','..='/' | ':' | ';' | '?' | '@' | '['..=']' | '_' | '{' | '}')
    } else {
        in_ranges(c, REGEX_P)
    }
}

#[inline]
fn is_symbol(c: char) -> bool {
    if c.is_ascii() {
        matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
    } else {
        in_ranges(c, REGEX_S)
    }
}

fn tokenize_intl(line: &str, buffers: &mut Buffers, out: &mut String) {
    let Buffers { chars, chars2, .. } = buffers;
    chars.clear();
    chars.extend(line.chars());
    // (\P{N})(\p{P}) -> "\1 \2 "
    chars2.clear();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match chars.get(i + 1) {
            Some(&d) if !is_number(c) && is_punct(d) => {
                chars2.extend_from_slice(&[c, ' ', d, ' ']);
                i += 2;
            }
            _ => {
                chars2.push(c);
                i += 1;
            }
        }
    }
    // (\p{P})(\P{N}) -> " \1 \2"
    chars.clear();
    let mut i = 0;
    while i < chars2.len() {
        let c = chars2[i];
        match chars2.get(i + 1) {
            Some(&d) if is_punct(c) && !is_number(d) => {
                chars.extend_from_slice(&[' ', c, ' ', d]);
                i += 2;
            }
            _ => {
                chars.push(c);
                i += 1;
            }
        }
    }
    // (\p{S}) -> " \1 ", then split and join.
    let mut word = false;
    for &c in chars.iter() {
        if is_symbol(c) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push(c);
            word = false;
        } else if python::is_space(c) {
            word = false;
        } else {
            if !word && !out.is_empty() {
                out.push(' ');
            }
            out.push(c);
            word = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_a() {
        let t = Tokenizer::Tok13a;
        assert_eq!(t.tokenize("Hello, world."), "Hello , world .");
        assert_eq!(
            t.tokenize("3.14 and 1,000 but 5. and a.b"),
            "3.14 and 1,000 but 5 . and a . b"
        );
        assert_eq!(t.tokenize("12-3 a-b"), "12 - 3 a-b");
        assert_eq!(t.tokenize("&amp;lt; &quot;x&quot;"), "< \" x \"");
        assert_eq!(
            t.tokenize("a<skipped>b skip-\nped\nline"),
            "ab skipped line"
        );
        assert_eq!(t.tokenize(""), "");
        assert_eq!(t.tokenize("é.ü"), "é . ü");
    }

    #[test]
    fn intl_and_symbols() {
        let t = Tokenizer::Intl;
        assert_eq!(t.tokenize("Hello, world."), "Hello , world .");
        assert_eq!(t.tokenize("In 2019."), "In 2019.");
        assert_eq!(t.tokenize("1,000.5 $5"), "1,000.5 $ 5");
        assert_eq!(t.tokenize("a+b"), "a + b");
    }

    #[test]
    fn zh_and_char_and_none() {
        assert_eq!(Tokenizer::Zh.tokenize(" 我们, ok. "), "我 们 , ok .");
        assert_eq!(Tokenizer::Char.tokenize("a\tb"), "a \t b");
        assert_eq!(Tokenizer::None.tokenize(" a  b "), " a  b ");
    }

    #[test]
    fn names_round_trip() {
        for t in Tokenizer::ALL {
            assert_eq!(t.name().parse::<Tokenizer>(), Ok(t));
        }
        assert!("13b".parse::<Tokenizer>().is_err());
    }
}
