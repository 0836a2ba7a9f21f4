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
            Tokenizer::Tok13a => {
                tokenize_13a(line, buffers);
                join_words(buffers.text(), out);
            }
            Tokenizer::Zh => {
                tokenize_zh(line, buffers);
                join_words(buffers.text(), out);
            }
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

impl Tokenizer {
    /// Tokenizes one line into a text whose whitespace-separated parts (Python's `split()`)
    /// are the tokens of [`Tokenizer::tokenize`], without joining them with single spaces
    /// first: what BLEU needs, for less work. Borrows `line`, `buffers` or `out`.
    pub(crate) fn tokenize_for_split<'b>(
        self,
        line: &'b str,
        buffers: &'b mut Buffers,
        out: &'b mut String,
    ) -> &'b str {
        match self {
            Tokenizer::None => line,
            Tokenizer::Tok13a => {
                tokenize_13a(line, buffers);
                buffers.text()
            }
            Tokenizer::Zh => {
                tokenize_zh(line, buffers);
                buffers.text()
            }
            Tokenizer::Intl | Tokenizer::Char => {
                self.tokenize_into(line, buffers, out);
                out.as_str()
            }
        }
    }
}

impl Tokenizer {
    /// Calls `emit` with each token of `line`, in order: the whitespace-separated parts
    /// (Python's `split()`) of [`Tokenizer::tokenize`]. For 13a, the text is taken a word at a
    /// time (see [`tokens_13a`]), which spares most of the copying.
    pub(crate) fn for_each_token(
        self,
        line: &str,
        buffers: &mut Buffers,
        out: &mut String,
        mut emit: impl FnMut(&str),
    ) {
        if self == Tokenizer::Tok13a {
            tokens_13a(line, buffers, emit);
        } else {
            for token in python::split(self.tokenize_for_split(line, buffers, out)) {
                emit(token);
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

impl Buffers {
    /// The result of the 13a passes (in `a`) as text.
    fn text(&self) -> &str {
        // Only ASCII bytes were inserted, and only between characters: still UTF-8.
        std::str::from_utf8(&self.a).unwrap_or_default()
    }
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

/// Whether `bytes` has a `<`, a newline or a `&` (without which 13a's language-independent
/// part changes nothing). Sixteen bytes at a time with no early exit inside, so that the
/// compiler vectorizes it.
#[inline]
fn has_13a_trigger(bytes: &[u8]) -> bool {
    let hit = |b: u8| u8::from(b == b'<') | u8::from(b == b'\n') | u8::from(b == b'&');
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        let mut seen = 0u8;
        for &b in chunk {
            seen |= hit(b);
        }
        if seen != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| hit(b) != 0)
}

/// 13a's language-independent part: `<skipped>` and `-\n` removed, newlines made spaces,
/// four HTML entities decoded. Most lines need none of it, so nothing is copied then.
fn language_independent_13a(line: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(line);
    if !has_13a_trigger(line.as_bytes()) {
        return text;
    }
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
    text
}

/// 13a, up to the final split-and-join; the result is in `buffers.a`.
fn tokenize_13a(line: &str, buffers: &mut Buffers) {
    let text = language_independent_13a(line);
    let a = &mut buffers.a;
    a.clear();
    a.push(b' ');
    a.extend_from_slice(text.as_bytes());
    a.push(b' ');
    regexp_rules(buffers);
}

/// ASCII bytes for the 13a word scan: Python whitespace ([`SPACE`]), or a byte the
/// substitutions act on ([`SPECIAL`]: the punctuation class, and `.`, `,` and `-`; the space,
/// in the punctuation class, counts as whitespace).
const CLASS_13A: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ') {
            SPACE
        } else if is_13a_punct(c) || matches!(c, b'.' | b',' | b'-') {
            SPECIAL
        } else {
            0
        };
        b += 1;
    }
    t
};
const SPACE: u8 = 1;
const SPECIAL: u8 = 2;

/// The tokens of 13a, a word at a time: each whitespace-separated word of the text (after the
/// language-independent part) is tokenized on its own, between two spaces, and a word with none
/// of the bytes the substitutions act on is a token as it is.
///
/// This equals tokenizing the whole line: every substitution matches one or two adjacent
/// characters, never whitespace in the middle, and a whitespace character next to a word only
/// ever acts as what the added space is, a character that is no digit, no `.`, `,` or `-`
/// (the first substitution pads whitespace with more spaces, which changes nothing after the
/// split). A test checks this on every short string over the characters that matter.
fn tokens_13a(line: &str, buffers: &mut Buffers, mut emit: impl FnMut(&str)) {
    let text = language_independent_13a(line);
    let (text, bytes) = (&*text, text.as_bytes());
    let mut i = 0;
    loop {
        // Python's split, with a note of whether the word has a byte the passes act on.
        while i < bytes.len() {
            let space = python::space_len(text, i);
            if space == 0 {
                break;
            }
            i += space;
        }
        if i >= bytes.len() {
            return;
        }
        let start = i;
        let mut special = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                let class = CLASS_13A[usize::from(b)];
                if class == SPACE {
                    break;
                }
                special |= class;
                i += 1;
            } else if python::space_len(text, i) != 0 {
                break;
            } else {
                i += python::char_len(b);
            }
        }
        let word = &text[start..i];
        if special == 0 {
            emit(word);
            continue;
        }
        let a = &mut buffers.a;
        a.clear();
        a.push(b' ');
        a.extend_from_slice(word.as_bytes());
        a.push(b' ');
        regexp_rules(buffers);
        // The word has no whitespace and the passes only insert spaces, between characters.
        let out = buffers.text();
        let mut from = 0;
        for (k, &b) in out.as_bytes().iter().enumerate() {
            if b == b' ' {
                if k > from {
                    emit(&out[from..k]);
                }
                from = k + 1;
            }
        }
        if out.len() > from {
            emit(&out[from..]);
        }
    }
}

/// sacrebleu's `TokenizerRegexp` (the language-dependent part of 13a, also used by `zh`) on
/// the bytes in `buffers.a`, in place (Python's split-and-join is left to the caller).
fn regexp_rules(buffers: &mut Buffers) {
    let Buffers { a, b, .. } = buffers;
    pass_punct(a, b);
    pass_before_period_comma(b, a);
    pass_after_period_comma(a, b);
    pass_digit_dash(b, a);
}

/// `([\{-\~\[-\` -\&\(-\+\:-\@\/])` → `" \1 "`.
pub(crate) fn pass_punct(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    dst.reserve(src.len() + src.len() / 2);
    let mut copied = 0;
    for (i, &c) in src.iter().enumerate() {
        if PUNCT_13A[usize::from(c)] {
            dst.extend_from_slice(&src[copied..i]);
            dst.extend_from_slice(&[b' ', c, b' ']);
            copied = i + 1;
        }
    }
    dst.extend_from_slice(&src[copied..]);
}

/// The index of the next `.` or `,` at or after `from`.
#[inline]
fn next_period_comma(src: &[u8], from: usize) -> Option<usize> {
    src[from..]
        .iter()
        .position(|&d| d == b'.' || d == b',')
        .map(|k| from + k)
}

/// `([^0-9])([\.,])` → `"\1 \2 "`: period and comma split off unless after a digit. (On UTF-8
/// bytes this is the same: a multi-byte character ends in a byte that is not a digit.)
///
/// Matches are the pairs (k, k+1) found left to right without overlap, as `re.sub` finds them;
/// only the bytes around a `.` or `,` are looked at, the runs between are copied whole.
pub(crate) fn pass_before_period_comma(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    dst.reserve(src.len() + 16);
    // Every pair starting at `copied` or later is still free.
    let mut copied = 0;
    let mut from = 1;
    while from < src.len() {
        let Some(j) = next_period_comma(src, from) else {
            break;
        };
        let c = src[j - 1];
        if c.is_ascii_digit() {
            from = j + 1;
        } else {
            dst.extend_from_slice(&src[copied..j - 1]);
            dst.extend_from_slice(&[c, b' ', src[j], b' ']);
            copied = j + 1;
            from = j + 2;
        }
    }
    dst.extend_from_slice(&src[copied..]);
}

/// `([\.,])([^0-9])` → `" \1 \2"`: period and comma split off unless before a digit. (The
/// second character, when multi-byte, is copied a byte at a time; none of its bytes can start a
/// match.)
pub(crate) fn pass_after_period_comma(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    dst.reserve(src.len() + 16);
    let mut copied = 0;
    let mut from = 0;
    while from + 1 < src.len() {
        let Some(k) = next_period_comma(src, from) else {
            break;
        };
        match src.get(k + 1) {
            Some(&d) if !d.is_ascii_digit() => {
                dst.extend_from_slice(&src[copied..k]);
                dst.extend_from_slice(&[b' ', src[k], b' ', d]);
                copied = k + 2;
                from = k + 2;
            }
            _ => from = k + 1,
        }
    }
    dst.extend_from_slice(&src[copied..]);
}

/// `([0-9])(-)` → `"\1 \2 "`: a dash after a digit is split off.
pub(crate) fn pass_digit_dash(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    dst.reserve(src.len() + 16);
    let mut copied = 0;
    let mut from = 1;
    while from < src.len() {
        let Some(j) = src[from..]
            .iter()
            .position(|&d| d == b'-')
            .map(|k| from + k)
        else {
            break;
        };
        let c = src[j - 1];
        if c.is_ascii_digit() {
            dst.extend_from_slice(&src[copied..j - 1]);
            dst.extend_from_slice(&[c, b' ', b'-', b' ']);
            copied = j + 1;
            from = j + 2;
        } else {
            from = j + 1;
        }
    }
    dst.extend_from_slice(&src[copied..]);
}

/// [`is_13a_punct`] as a table.
const PUNCT_13A: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = is_13a_punct(b as u8);
        b += 1;
    }
    t
};

/// The 13a punctuation class: `{`-`~`, `[`-`` ` ``, space-`&`, `(`-`+`, `:`-`@`, `/`.
#[inline]
pub(crate) const fn is_13a_punct(c: u8) -> bool {
    matches!(c, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/')
}

/// zh, up to the final split-and-join; the result is in `buffers.a`.
fn tokenize_zh(line: &str, buffers: &mut Buffers) {
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
    regexp_rules(buffers);
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

    /// The passes as first written, one byte at a time: the oracle for the run-copying ones.
    fn passes_bytewise(src: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        for &c in src {
            if is_13a_punct(c) {
                a.extend_from_slice(&[b' ', c, b' ']);
            } else {
                a.push(c);
            }
        }
        let pair_pass =
            |src: &[u8], hit: &dyn Fn(u8, u8) -> bool, out: &dyn Fn(u8, u8) -> [u8; 4]| {
                let (mut dst, mut i) = (Vec::new(), 0);
                while i < src.len() {
                    match src.get(i + 1) {
                        Some(&d) if hit(src[i], d) => {
                            dst.extend_from_slice(&out(src[i], d));
                            i += 2;
                        }
                        _ => {
                            dst.push(src[i]);
                            i += 1;
                        }
                    }
                }
                dst
            };
        let pc = |x: u8| x == b'.' || x == b',';
        let b = pair_pass(&a, &|c, d| !c.is_ascii_digit() && pc(d), &|c, d| {
            [c, b' ', d, b' ']
        });
        let c = pair_pass(&b, &|c, d| pc(c) && !d.is_ascii_digit(), &|c, d| {
            [b' ', c, b' ', d]
        });
        pair_pass(&c, &|c, d| c.is_ascii_digit() && d == b'-', &|c, d| {
            [c, b' ', d, b' ']
        })
    }

    #[test]
    fn run_copying_passes_equal_the_bytewise_ones() {
        // Every string of up to 7 bytes over the bytes the passes look at.
        let alphabet = b"a1.,- &";
        let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
        let mut checked = 0;
        while let Some(text) = stack.pop() {
            let mut buffers = Buffers::default();
            buffers.a.extend_from_slice(&text);
            regexp_rules(&mut buffers);
            assert_eq!(
                buffers.a,
                passes_bytewise(&text),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
            checked += 1;
            if text.len() < 7 {
                for &c in alphabet {
                    let mut longer = text.clone();
                    longer.push(c);
                    stack.push(longer);
                }
            }
        }
        assert_eq!(checked, (0..=7).map(|n| 7usize.pow(n)).sum::<usize>());
    }

    #[test]
    fn thirteen_a_a_word_at_a_time_equals_the_whole_line() {
        // Every string of up to 6 characters over characters of each kind the passes tell
        // apart, whitespace of several kinds and a multi-byte letter among them, and a few
        // longer lines with the language-independent part at work.
        let alphabet = ["a", "1", ".", ",", "-", "&", " ", "\t", "\u{a0}", "é"];
        let check = |line: &str| {
            let whole = Tokenizer::Tok13a.tokenize(line);
            let want: Vec<&str> = python::split(&whole).collect();
            let mut got = Vec::new();
            Tokenizer::Tok13a.for_each_token(
                line,
                &mut Buffers::default(),
                &mut String::new(),
                |t| got.push(t.to_string()),
            );
            assert_eq!(got, want, "{line:?}");
        };
        let mut stack = vec![String::new()];
        let mut checked = 0;
        while let Some(text) = stack.pop() {
            check(&text);
            checked += 1;
            if text.chars().count() < 6 {
                for c in alphabet {
                    stack.push(format!("{text}{c}"));
                }
            }
        }
        assert_eq!(checked, (0..=6).map(|n| 10usize.pow(n)).sum::<usize>());
        for line in [
            "It costs $1,000.50, or so.",
            "a<skipped>b skip-\nped\nline &amp;lt; &quot;x&quot;",
            "3.14 and 1,000 but 5. and a.b 12-3 a-b (x) [y] {z}",
            "\u{1c}x.\u{3000}.y\u{85},1",
        ] {
            check(line);
        }
    }

    #[test]
    fn the_language_independent_trigger_is_seen_anywhere() {
        for len in 0..40 {
            assert!(!has_13a_trigger("a".repeat(len).as_bytes()));
            for at in 0..len {
                for t in [b'<', b'\n', b'&'] {
                    let mut line = vec![b'a'; len];
                    line[at] = t;
                    assert!(has_13a_trigger(&line), "{len} {at} {t}");
                }
            }
        }
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
