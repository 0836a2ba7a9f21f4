//! Python's string semantics where sacrebleu depends on them, so that gavel tokenizes exactly
//! as sacrebleu does under CPython 3.11 (Unicode 14).
//!
//! Rust's defaults differ at the edges: `char::is_whitespace` leaves out U+001C..=U+001F,
//! which Python's `str.split()` splits on, and `str::to_lowercase` follows Rust's (newer)
//! Unicode version, so it lower-cases letters Python 3.11 leaves alone (e.g. U+A7CB). The
//! tables behind these functions are read off Python itself (`src/tables.rs`).

use std::borrow::Cow;

use crate::tables::{CASE_IGNORABLE, CASED, LOWER, PY_SPACE, in_ranges};

/// Python's `str.isspace()` for one character: the characters `str.split()` splits on.
#[inline]
pub fn is_space(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' '
        )
    } else {
        in_ranges(c, PY_SPACE)
    }
}

/// Python's `str.split()` (no argument): the runs of non-whitespace.
pub fn split(s: &str) -> Words<'_> {
    Words { s, pos: 0 }
}

/// ASCII bytes Python splits on (`\t\n\x0b\x0c\r`, `\x1c`-`\x1f`, space).
pub(crate) const ASCII_SPACE: [bool; 128] = {
    let mut t = [false; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = matches!(
            b as u8,
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' '
        );
        b += 1;
    }
    t
};

/// The iterator of [`split`]. It scans bytes: ASCII through a table, and only characters
/// whose first byte can start a non-ASCII space (U+0085, U+00A0, U+1680, U+2000..U+3000) are
/// decoded.
#[derive(Debug, Clone)]
pub struct Words<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Words<'a> {
    /// The byte length of the whitespace character at `i` (a character boundary), or 0.
    #[inline]
    fn space_at(&self, i: usize) -> usize {
        space_len(self.s, i)
    }
}

/// The byte length of the character at byte `i` of `s` (a character boundary) if it is
/// Python whitespace, else 0. Only characters whose first byte can start a non-ASCII space
/// (U+0085, U+00A0, U+1680, U+2000..U+3000) are decoded.
#[inline]
pub(crate) fn space_len(s: &str, i: usize) -> usize {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        return usize::from(ASCII_SPACE[usize::from(b)]);
    }
    if !matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3) {
        return 0;
    }
    match s[i..].chars().next() {
        Some(c) if in_ranges(c, PY_SPACE) => c.len_utf8(),
        _ => 0,
    }
}

/// The length of the UTF-8 character whose first byte is `b`.
#[inline]
pub(crate) fn char_len(b: u8) -> usize {
    match b {
        0..=0x7F => 1,
        0x80..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.s.as_bytes();
        let mut i = self.pos;
        while i < bytes.len() {
            let w = self.space_at(i);
            if w == 0 {
                break;
            }
            i += w;
        }
        if i >= bytes.len() {
            self.pos = i;
            return None;
        }
        let start = i;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                if ASCII_SPACE[usize::from(b)] {
                    break;
                }
                i += 1;
            } else if self.space_at(i) != 0 {
                break;
            } else {
                i += char_len(b);
            }
        }
        self.pos = i;
        Some(&self.s[start..i])
    }
}

/// Python's `str.rstrip()` (no argument).
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// Python's `str.strip()` (no argument).
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `str.lower()`, including its final-sigma rule; borrows when nothing changes.
pub fn lower(s: &str) -> Cow<'_, str> {
    let needs = s.chars().any(|c| {
        if c.is_ascii() {
            c.is_ascii_uppercase()
        } else {
            lower_char(c).is_some()
        }
    });
    if !needs {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if c == '\u{3A3}' {
            out.push(if final_sigma(s, i) { 'ς' } else { 'σ' });
        } else if c == '\u{130}' {
            out.push_str("i\u{307}");
        } else {
            out.push(lower_char(c).unwrap_or(c));
        }
    }
    Cow::Owned(out)
}

/// The one-character lower case of a non-ASCII character Python changes, if any (U+0130,
/// which becomes two characters, answers `i`).
fn lower_char(c: char) -> Option<char> {
    if c == '\u{130}' {
        return Some('i');
    }
    let cp = c as u32;
    LOWER
        .binary_search_by_key(&cp, |&(from, _)| from)
        .ok()
        .and_then(|k| char::from_u32(LOWER[k].1))
}

/// Whether the capital sigma at byte `i` of `s` is word-final: a cased letter before it
/// (skipping case-ignorable characters) and none after it (likewise). CPython's
/// `handle_capital_sigma`.
fn final_sigma(s: &str, i: usize) -> bool {
    let ignorable = |c: &char| in_ranges(*c, CASE_IGNORABLE);
    let cased = |c: char| in_ranges(c, CASED);
    let before = s[..i].chars().rev().find(|c| !ignorable(c));
    if !before.is_some_and(cased) {
        return false;
    }
    let after = s[i + '\u{3A3}'.len_utf8()..]
        .chars()
        .find(|c| !ignorable(c));
    !after.is_some_and(cased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_scanning_split_equals_splitting_on_is_space() {
        let pieces = [
            "a", "é", "語", "😀", " ", "\t", "\n", "\x1c", "\x1f", "\u{85}", "\u{a0}", "\u{1680}",
            "\u{2000}", "\u{200a}", "\u{200b}", "\u{2028}", "\u{202f}", "\u{205f}", "\u{3000}",
            "\u{e000}", "\u{c2}", "\u{1681}", "\u{2030}", "\u{3001}",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}x{c}{a}");
                    let want: Vec<&str> = text.split(is_space).filter(|t| !t.is_empty()).collect();
                    assert_eq!(split(&text).collect::<Vec<_>>(), want, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn whitespace_is_pythons() {
        let s = "a\x1cb\x1fc\u{85}d\u{a0}e\u{3000}f\u{200b}g";
        assert_eq!(
            split(s).collect::<Vec<_>>(),
            ["a", "b", "c", "d", "e", "f\u{200b}g"]
        );
        assert_eq!(rstrip(" x \x1d\t"), " x");
        assert_eq!(strip("\u{2028} x \u{2029}"), "x");
    }

    #[test]
    fn lower_is_pythons() {
        assert_eq!(lower("ABC"), "abc");
        assert!(matches!(lower("abc é"), Cow::Borrowed(_)));
        assert_eq!(lower("İ"), "i\u{307}");
        assert_eq!(lower("ΟΔΟΣ Σ ΑΣ1"), "οδος σ ας1");
        assert_eq!(lower("ΑΣ'Α"), "ασ'α");
        // U+A7CB has a lower case only since Unicode 16: Python 3.11 keeps it.
        assert_eq!(lower("\u{A7CB}"), "\u{A7CB}");
        assert_eq!(lower("\u{212A}"), "k");
    }
}
