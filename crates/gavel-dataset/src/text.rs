//! Text keys and counts: the normalised instruction key that deduplication and splitting use,
//! and the token estimate used when no tokenizer is given.

/// The text that identifies a task: the instruction, and the input after it when there is one
/// (an instruction like "Summarise the text below." is a different task for every input).
pub fn task_text(instruction: &str, input: Option<&str>) -> String {
    match input {
        Some(i) if !i.trim().is_empty() => format!("{instruction}\n{i}"),
        _ => instruction.to_string(),
    }
}

/// The normalised form under which two tasks are exact duplicates: lower case, every run of
/// characters that are not letters or digits replaced by one space, trimmed. So `"What is
/// 2+2?"` and `"what  is 2 + 2"` are the same task.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        } else {
            gap = true;
        }
    }
    out
}

/// An estimate of the number of tokens a subword tokenizer gives a text, used when no
/// `tokenizer.json` is given: each run of letters or digits counts one token per four
/// characters (rounded up), each other visible character one token, and each CJK character one
/// token. Typical BPE vocabularies give English prose about four characters per token; the
/// estimate errs high on code and rare words.
pub fn estimate_tokens(text: &str) -> usize {
    // Bytes, not chars, for ASCII (nearly all of a typical prompt), classified by a table;
    // other characters are decoded where they start.
    let bytes = text.as_bytes();
    let mut tokens = 0usize;
    let mut run = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match ASCII_CLASS[usize::from(bytes[i])] {
            ALNUM => {
                let start = i;
                i += 1;
                while i < bytes.len() && ASCII_CLASS[usize::from(bytes[i])] == ALNUM {
                    i += 1;
                }
                run += i - start;
                continue;
            }
            SPACE => {
                i += 1;
                tokens += run.div_ceil(4);
                run = 0;
                continue;
            }
            OTHER => {
                i += 1;
                tokens += run.div_ceil(4) + 1;
                run = 0;
                continue;
            }
            _ => {}
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        i += c.len_utf8().max(1);
        if c.is_alphanumeric() && !is_cjk(c) {
            run += 1;
            continue;
        }
        tokens += run.div_ceil(4);
        run = 0;
        if !c.is_whitespace() {
            tokens += 1;
        }
    }
    tokens + run.div_ceil(4)
}

const ALNUM: u8 = 0;
const SPACE: u8 = 1;
const OTHER: u8 = 2;
const NON_ASCII: u8 = 3;

/// Each byte's class for [`estimate_tokens`]: ASCII letter or digit, ASCII whitespace, other
/// ASCII, or part of a non-ASCII character.
static ASCII_CLASS: [u8; 256] = {
    let mut t = [NON_ASCII; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() {
            ALNUM
        } else if c.is_ascii_whitespace() {
            SPACE
        } else {
            OTHER
        };
        b += 1;
    }
    t
};

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF) // CJK Compatibility Ideographs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_folds_case_space_and_punctuation() {
        assert_eq!(normalize("What is 2+2?"), "what is 2 2");
        assert_eq!(normalize("  what  IS 2 + 2 "), "what is 2 2");
        assert_eq!(normalize("Ünïcode—Straße"), "ünïcode straße");
        assert_eq!(normalize("?!"), "");
    }

    #[test]
    fn task_text_keeps_the_input() {
        assert_eq!(task_text("Sum up.", Some("text")), "Sum up.\ntext");
        assert_eq!(task_text("Sum up.", Some("  ")), "Sum up.");
        assert_eq!(task_text("Sum up.", None), "Sum up.");
    }

    #[test]
    fn token_estimate() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("hello"), 2);
        assert_eq!(estimate_tokens("a b c"), 3);
        assert_eq!(estimate_tokens("Hi, you!"), 4);
        assert_eq!(estimate_tokens("中文"), 2);
        // About a quarter of the characters for plain prose.
        let prose = "The quick brown fox jumps over the lazy dog and keeps running far away. ";
        let n = estimate_tokens(&prose.repeat(10));
        assert!((150..=250).contains(&n), "{n}");
    }

    /// The table-driven scan counts exactly as a plain character loop does.
    #[test]
    fn token_estimate_equals_the_plain_rule() {
        fn plain(text: &str) -> usize {
            let (mut tokens, mut run) = (0usize, 0usize);
            for c in text.chars() {
                if c.is_alphanumeric() && !is_cjk(c) {
                    run += 1;
                    continue;
                }
                tokens += run.div_ceil(4);
                run = 0;
                // ASCII whitespace as `u8::is_ascii_whitespace` has it (no vertical tab).
                let space = if c.is_ascii() {
                    c.is_ascii_whitespace()
                } else {
                    c.is_whitespace()
                };
                if !space {
                    tokens += 1;
                }
            }
            tokens + run.div_ceil(4)
        }
        let samples = [
            "",
            "x",
            "abcd efghi, jk!\n\t\r\x0b\x0c end",
            "Ünïcode—Straße 中文字 한국어 ｆｕｌｌ　width\u{2003}spaces é1",
            "<<<user question 0123456789>>>\nWrite about river-mountain 42 times.\n<<<end user question 0123456789>>>",
            "tail run abcdefghijklmnopq",
            "\u{7f}\u{80}\u{a0}\u{1f600}x",
        ];
        for s in samples {
            assert_eq!(estimate_tokens(s), plain(s), "{s:?}");
        }
    }
}
