//! The two ROUGE tokenizers. Both hand each token, lower-cased, to a sink; stemming and
//! interning happen there.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// rouge-score's tokenizer: Python's `text.lower()`, every character outside `[a-z0-9]`
/// becomes a separator.
///
/// Python's `lower()` maps two non-ASCII characters into `[a-z]`: `İ` (U+0130) becomes `i`
/// followed by a combining dot (a separator), and the Kelvin sign (U+212A) becomes `k`. Every
/// other non-ASCII character is a separator.
pub(super) fn default_tokens(text: &str, word: &mut Vec<u8>, mut sink: impl FnMut(&[u8])) {
    word.clear();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii() {
            if b.is_ascii_alphanumeric() {
                word.push(b.to_ascii_lowercase());
            } else if !word.is_empty() {
                sink(word);
                word.clear();
            }
            i += 1;
            continue;
        }
        let c = text
            .get(i..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or('\u{FFFD}');
        i += c.len_utf8();
        match c {
            '\u{212A}' => word.push(b'k'),
            '\u{0130}' => {
                word.push(b'i');
                sink(word);
                word.clear();
            }
            _ => {
                if !word.is_empty() {
                    sink(word);
                    word.clear();
                }
            }
        }
    }
    if !word.is_empty() {
        sink(word);
        word.clear();
    }
}

/// The Unicode-aware tokenizer: NFKC, Unicode lower case, then words are runs of letters and
/// digits (in any script) with the combining marks that follow them; each CJK ideograph, hiragana or katakana
/// character is a token by itself, since those scripts do not separate words with spaces.
/// Everything else (punctuation, symbols, emoji, spaces) separates tokens and is dropped.
pub(super) fn unicode_tokens(text: &str, word: &mut Vec<u8>, mut sink: impl FnMut(&[u8])) {
    word.clear();
    let mut utf8 = [0u8; 4];
    for c in text.nfkc().flat_map(char::to_lowercase) {
        if c.is_ascii() {
            // Fast path, same decisions as below.
            if c.is_ascii_alphanumeric() {
                word.push(c as u8);
            } else if !word.is_empty() {
                sink(word);
                word.clear();
            }
        } else if is_cjk_unit(c) {
            if !word.is_empty() {
                sink(word);
                word.clear();
            }
            sink(c.encode_utf8(&mut utf8).as_bytes());
        } else if c.is_alphanumeric() || (is_combining_mark(c) && !word.is_empty()) {
            // A mark belongs to the letter before it; one with no letter (an emoji variation
            // selector after a symbol, a stray accent) is dropped like the symbol.
            word.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        } else if !word.is_empty() {
            sink(word);
            word.clear();
        }
    }
    if !word.is_empty() {
        sink(word);
        word.clear();
    }
}

/// Characters of scripts written without spaces between words, taken one per token: Han
/// ideographs (with their iteration and closing marks), hiragana and katakana (with the
/// prolonged sound mark). Hangul is written with spaces and is not included.
fn is_cjk_unit(c: char) -> bool {
    matches!(c as u32,
        0x3005..=0x3007       // 々 〆 〇
        | 0x3040..=0x309F     // Hiragana
        | 0x30A0..=0x30FF     // Katakana
        | 0x31F0..=0x31FF     // Katakana phonetic extensions
        | 0x3400..=0x4DBF     // CJK Unified Ideographs Extension A
        | 0x4E00..=0x9FFF     // CJK Unified Ideographs
        | 0xF900..=0xFAFF     // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F     // Halfwidth katakana (NFKC maps most to full width)
        | 0x1B000..=0x1B16F   // Kana supplement and extensions
        | 0x20000..=0x323AF   // CJK Unified Ideographs Extensions B-H
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        default_tokens(text, &mut Vec::new(), |t| {
            out.push(String::from_utf8_lossy(t).into())
        });
        out
    }

    fn unicode(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        unicode_tokens(text, &mut Vec::new(), |t| {
            out.push(String::from_utf8_lossy(t).into())
        });
        out
    }

    #[test]
    fn default_tokenizer_matches_rouge_score() {
        assert_eq!(default("The Cat, sat!"), ["the", "cat", "sat"]);
        assert_eq!(default(""), Vec::<String>::new());
        assert_eq!(default(" \t\n"), Vec::<String>::new());
        assert_eq!(default("3.14 1,000"), ["3", "14", "1", "000"]);
        assert_eq!(default("don't snake_case"), ["don", "t", "snake", "case"]);
        assert_eq!(default("café naïve"), ["caf", "na", "ve"]);
        assert_eq!(default("고양이 猫 cat"), ["cat"]);
        // Python's lower() turns these two into ASCII letters.
        assert_eq!(default("İstanbul"), ["i", "stanbul"]);
        assert_eq!(default("\u{212A}elvin"), ["kelvin"]);
        assert_eq!(default("ＡＢＣ"), Vec::<String>::new());
    }

    #[test]
    fn unicode_tokenizer_units() {
        assert_eq!(unicode("The Cat, sat!"), ["the", "cat", "sat"]);
        assert_eq!(unicode("고양이가 매트 위에"), ["고양이가", "매트", "위에"]);
        assert_eq!(unicode("我们去公园"), ["我", "们", "去", "公", "园"]);
        assert_eq!(
            unicode("猫がマットの上"),
            ["猫", "が", "マ", "ッ", "ト", "の", "上"]
        );
        assert_eq!(unicode("GPT模型"), ["gpt", "模", "型"]);
        assert_eq!(unicode("القط جلس"), ["القط", "جلس"]);
        // Decomposed and precomposed accents give the same token (NFKC).
        assert_eq!(unicode("cafe\u{301}"), unicode("café"));
        assert_eq!(unicode("café"), ["café"]);
        // Full-width letters and digits fold to ASCII (NFKC).
        assert_eq!(unicode("ＡＢＣ１２３"), ["abc123"]);
        // Emoji and punctuation separate and are dropped.
        assert_eq!(unicode("I ❤️ NY 🗽!"), ["i", "ny"]);
        // A mark with no letter before it is dropped.
        assert_eq!(unicode("\u{301}"), Vec::<String>::new());
        assert_eq!(unicode("x \u{301}y"), ["x", "y"]);
        assert_eq!(unicode("İstanbul"), ["i\u{307}stanbul"]);
        assert_eq!(unicode(""), Vec::<String>::new());
    }
}
