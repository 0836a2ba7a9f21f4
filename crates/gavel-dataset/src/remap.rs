//! Rewriting the references to the two responses in a rationale, for swap augmentation and for
//! templates that name the responses differently.
//!
//! A teacher's rationale says "Assistant A is more accurate than Assistant B". Shown with the
//! responses in the other order, the same reasoning must say "Assistant B is more accurate than
//! Assistant A"; under a template that calls them "Response 1" and "Response 2" it must use
//! those names. [`remap`] finds every mention of a response by position and rewrites it in one
//! pass, so that "A" and "B" trade places without one overwriting the other:
//!
//! - a noun (`Assistant`, `Response`, `Answer`, `Output`, `Model`, `Candidate`, in any case)
//!   followed by a marker: `A`/`B` (upper case only: "an assistant a user trusts" is not a
//!   mention), `1`/`2`, or `(a)`/`(b)`; it becomes the target naming's noun and marker for the
//!   mapped position, keeping the original's capitalisation;
//! - `first`/`second` before one of those nouns ("the first response");
//! - the verdict tokens `[[A]]` and `[[B]]`.
//!
//! Bare letters ("A is better than B") are left alone: they cannot be told apart from ordinary
//! words reliably. Templates avoid inviting them by naming the responses with a noun.

/// How a template names the two responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Naming {
    /// The noun, capitalised: `Assistant`, `Response`, `Output`.
    pub noun: &'static str,
    /// The markers.
    pub marker: Marker,
}

/// The marker after the noun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker {
    /// `A` and `B`.
    Letter,
    /// `1` and `2`.
    Digit,
    /// `(a)` and `(b)`.
    Paren,
}

impl Naming {
    /// "Assistant A" / "Assistant B" (MT-Bench).
    pub const ASSISTANT_LETTER: Naming = Naming {
        noun: "Assistant",
        marker: Marker::Letter,
    };
    /// "Assistant 1" / "Assistant 2" (JudgeLM).
    pub const ASSISTANT_DIGIT: Naming = Naming {
        noun: "Assistant",
        marker: Marker::Digit,
    };
    /// "Response 1" / "Response 2" (PandaLM, Auto-J).
    pub const RESPONSE_DIGIT: Naming = Naming {
        noun: "Response",
        marker: Marker::Digit,
    };
    /// "Response A" / "Response B" (Prometheus relative grading).
    pub const RESPONSE_LETTER: Naming = Naming {
        noun: "Response",
        marker: Marker::Letter,
    };
    /// "Output (a)" / "Output (b)" (AlpacaEval, LLMBar).
    pub const OUTPUT_PAREN: Naming = Naming {
        noun: "Output",
        marker: Marker::Paren,
    };

    /// How the response at `position` (1 or 2) is named, e.g. `Assistant B`.
    pub fn name(&self, position: u8) -> String {
        format!("{} {}", self.noun, self.marker.text(position))
    }
}

impl Marker {
    fn text(self, position: u8) -> &'static str {
        match (self, position) {
            (Marker::Letter, 1) => "A",
            (Marker::Letter, _) => "B",
            (Marker::Digit, 1) => "1",
            (Marker::Digit, _) => "2",
            (Marker::Paren, 1) => "(a)",
            (Marker::Paren, _) => "(b)",
        }
    }
}

const NOUNS: [&str; 6] = [
    "assistant",
    "response",
    "answer",
    "output",
    "model",
    "candidate",
];

/// A rationale with its mentions rewritten, and how many were rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remapped {
    /// The new text.
    pub text: String,
    /// Mentions whose position or name changed.
    pub changed: usize,
}

/// Rewrites the mentions of the two responses: to `naming`, and with positions 1 and 2
/// exchanged when `swap` is set.
pub fn remap(text: &str, naming: Naming, swap: bool) -> Remapped {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let mut changed = 0;
    let mut copied = 0; // bytes of `text` already in `out`
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Only ASCII letters start a mention, so `i` is on a character boundary when it is read.
        let at_word_start = || i == 0 || !text[..i].chars().next_back().is_some_and(is_word_char);
        if b == b'[' && swap {
            if let Some(pos) = verdict_token(&bytes[i..]) {
                out.push_str(&text[copied..i]);
                out.push_str(if pos == 1 { "[[B]]" } else { "[[A]]" });
                changed += 1;
                i += 5;
                copied = i;
                continue;
            }
        } else if b.is_ascii_alphabetic()
            && at_word_start()
            && let Some(m) = mention(&text[i..])
        {
            let new_pos = if swap { 3 - m.position } else { m.position };
            let replacement = match m.kind {
                MentionKind::Named { noun_len } => {
                    let noun = with_case(&text[i..i + noun_len], naming.noun);
                    format!("{noun} {}", naming.marker.text(new_pos))
                }
                MentionKind::Ordinal { word_len } => {
                    let word = if new_pos == 1 { "first" } else { "second" };
                    with_case(&text[i..i + word_len], word)
                }
            };
            let original = &text[i..i + m.len];
            if replacement != original {
                out.push_str(&text[copied..i]);
                out.push_str(&replacement);
                changed += 1;
                copied = i + m.len;
            }
            i += m.len;
            continue;
        }
        i += 1;
    }
    if copied == 0 {
        return Remapped {
            text: text.to_string(),
            changed,
        };
    }
    out.push_str(&text[copied..]);
    Remapped { text: out, changed }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `s` does not continue a word at its start.
fn word_ends(s: &str) -> bool {
    !s.chars().next().is_some_and(is_word_char)
}

fn verdict_token(s: &[u8]) -> Option<u8> {
    match s.get(..5)? {
        b"[[A]]" => Some(1),
        b"[[B]]" => Some(2),
        _ => None,
    }
}

enum MentionKind {
    Named { noun_len: usize },
    Ordinal { word_len: usize },
}

struct Mention {
    len: usize,
    position: u8,
    kind: MentionKind,
}

/// A mention at the start of `s` (which starts a word).
fn mention(s: &str) -> Option<Mention> {
    for (word, position) in [("first", 1u8), ("second", 2u8)] {
        if starts_with_ignore_case(s, word) {
            let rest = &s[word.len()..];
            let spaces = rest.bytes().take_while(|&c| c == b' ').count();
            if spaces >= 1 && NOUNS.iter().any(|n| noun_at(&rest[spaces..], n).is_some()) {
                return Some(Mention {
                    len: word.len(),
                    position,
                    kind: MentionKind::Ordinal {
                        word_len: word.len(),
                    },
                });
            }
            return None;
        }
    }
    let noun_len = NOUNS.iter().find_map(|n| noun_at(s, n))?;
    let rest = &s[noun_len..];
    let spaces = rest.bytes().take_while(|&c| c == b' ').count();
    if spaces != 1 {
        return None;
    }
    let m = &rest[1..];
    let boundary = |k: usize| m.get(k..).is_some_and(word_ends);
    let (position, marker_len) = match m.as_bytes().first()? {
        b'A' if boundary(1) => (1, 1),
        b'B' if boundary(1) => (2, 1),
        b'1' if boundary(1) => (1, 1),
        b'2' if boundary(1) => (2, 1),
        b'(' => match m.as_bytes().get(1..3)? {
            [b'a' | b'A', b')'] => (1, 3),
            [b'b' | b'B', b')'] => (2, 3),
            _ => return None,
        },
        _ => return None,
    };
    Some(Mention {
        len: noun_len + 1 + marker_len,
        position,
        kind: MentionKind::Named { noun_len },
    })
}

/// The length of `noun` at the start of `s` (case-insensitive, whole word; a plural `s` is not
/// accepted, since "Responses 1 and 2" names both).
fn noun_at(s: &str, noun: &str) -> Option<usize> {
    (starts_with_ignore_case(s, noun) && word_ends(&s[noun.len()..])).then_some(noun.len())
}

fn starts_with_ignore_case(s: &str, word: &str) -> bool {
    s.len() >= word.len() && s.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
}

/// `word` written in the case of `original`: all capitals, capitalised, or lower case.
fn with_case(original: &str, word: &str) -> String {
    let letters: Vec<char> = original.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() > 1 && letters.iter().all(|c| c.is_uppercase()) {
        word.to_uppercase()
    } else if letters.first().is_some_and(|c| c.is_uppercase()) {
        let mut cs = word.chars();
        match cs.next() {
            Some(f) => f
                .to_uppercase()
                .chain(cs.flat_map(char::to_lowercase))
                .collect(),
            None => String::new(),
        }
    } else {
        word.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, naming: Naming, swap: bool, expect: &str) {
        let got = remap(text, naming, swap);
        assert_eq!(got.text, expect, "from {text:?}");
    }

    #[test]
    fn swaps_both_assistants_without_overwriting() {
        check(
            "Assistant A is more accurate than Assistant B, but Assistant B's answer is shorter.",
            Naming::ASSISTANT_LETTER,
            true,
            "Assistant B is more accurate than Assistant A, but Assistant A's answer is shorter.",
        );
    }

    #[test]
    fn identity_when_nothing_changes() {
        let t = "Assistant A is better. The answer of assistant B is vague.";
        let got = remap(t, Naming::ASSISTANT_LETTER, false);
        assert_eq!(got.text, t);
        assert_eq!(got.changed, 0);
    }

    #[test]
    fn converts_between_namings() {
        check(
            "Response 1 explains the steps; response 2 only gives the result.",
            Naming::ASSISTANT_LETTER,
            false,
            "Assistant A explains the steps; assistant B only gives the result.",
        );
        check(
            "Output (a) is wrong and Output (b) is right.",
            Naming::RESPONSE_DIGIT,
            true,
            "Response 2 is wrong and Response 1 is right.",
        );
        check(
            "Assistant A beats Assistant B.",
            Naming::OUTPUT_PAREN,
            false,
            "Output (a) beats Output (b).",
        );
        check(
            "ASSISTANT A wins over Assistant 2.",
            Naming::ASSISTANT_DIGIT,
            true,
            "ASSISTANT 2 wins over Assistant 1.",
        );
    }

    #[test]
    fn ordinals_and_verdict_tokens() {
        check(
            "The first response is clear, the second answer is not. First answer wins: [[A]] over [[B]].",
            Naming::ASSISTANT_LETTER,
            true,
            "The second response is clear, the first answer is not. Second answer wins: [[B]] over [[A]].",
        );
        // "first" not before a response noun is left alone.
        check(
            "First, Assistant A checks the facts.",
            Naming::ASSISTANT_LETTER,
            true,
            "First, Assistant B checks the facts.",
        );
    }

    #[test]
    fn ordinary_words_are_not_mentions() {
        for t in [
            "An assistant a user trusts.",
            "The Model Airplane is nice.",
            "Responses 1 and 2 are both fine.",
            "The answer 12 is wrong.",
            "Assistant Alice was polite.",
            "see response(a",
            "Sub-assistant B",
        ] {
            let got = remap(t, Naming::RESPONSE_DIGIT, true);
            if t == "Sub-assistant B" {
                // A hyphen separates words: this one is a mention.
                assert_eq!(got.text, "Sub-response 1");
            } else {
                assert_eq!(got.text, t);
            }
        }
    }

    #[test]
    fn unicode_around_mentions() {
        check(
            "«Assistant A» est meilleur que «Assistant B» — vraiment.",
            Naming::ASSISTANT_LETTER,
            true,
            "«Assistant B» est meilleur que «Assistant A» — vraiment.",
        );
    }

    #[test]
    fn naming_names() {
        assert_eq!(Naming::OUTPUT_PAREN.name(2), "Output (b)");
        assert_eq!(Naming::ASSISTANT_LETTER.name(1), "Assistant A");
    }
}
