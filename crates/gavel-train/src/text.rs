//! From text to token ids: the model's own tokenizer and special-token layout, and truncation
//! that keeps the instruction.
//!
//! A judge input is the context (the instruction, then the input if there is one) as the first
//! segment and the response as the second, laid out by the tokenizer's post-processor exactly
//! as transformers lays out a sentence pair (`[CLS] context [SEP] response [SEP]` for BERT,
//! `<s> context </s></s> response </s>` for RoBERTa). The pair classifier puts both responses
//! in the second segment, separated by the separator token.
//!
//! Truncation, when the tokens do not fit `max_len`: the context keeps its beginning (the
//! instruction comes first, so a long input is what is cut) and gets at most half of the room
//! (a third with two responses) unless the responses need less; the responses keep their
//! beginnings and share the rest equally, one's unused share going to the other.

use std::path::Path;

use tokenizers::{Encoding, Token, Tokenizer, TruncationDirection};

use crate::error::{Error, Result};

/// Token ids and type ids of one input, with whether anything was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// Token-type ids (segment ids).
    pub types: Vec<u32>,
    /// Whether truncation removed tokens.
    pub truncated: bool,
}

/// The tokenizer of a model and the input length limit.
#[derive(Clone)]
pub struct TextEncoder {
    tok: Tokenizer,
    max_len: usize,
    added_pair: usize,
    sep: Token,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("max_len", &self.max_len)
            .field("added_pair", &self.added_pair)
            .finish()
    }
}

impl TextEncoder {
    /// Loads `tokenizer.json`; inputs will be cut to `max_len` tokens.
    pub fn load(path: &Path, max_len: usize) -> Result<TextEncoder> {
        let terr = |message: String| Error::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let mut tok = Tokenizer::from_file(path).map_err(|e| terr(format!("cannot read: {e}")))?;
        // gavel truncates and pads itself.
        tok.with_truncation(None)
            .map_err(|e| terr(format!("cannot turn truncation off: {e}")))?;
        tok.with_padding(None);
        let empty = || Encoding::from_tokens(Vec::new(), 0);
        let single = tok
            .post_process(empty(), None, true)
            .map_err(|e| terr(format!("post-processor failed: {e}")))?;
        let pair = tok
            .post_process(empty(), Some(empty()), true)
            .map_err(|e| terr(format!("post-processor failed: {e}")))?;
        let sep_id = *single.get_ids().last().ok_or_else(|| {
            terr("the tokenizer adds no special tokens; a BERT-family tokenizer adds [CLS] and [SEP]".into())
        })?;
        let sep_value = single.get_tokens().last().cloned().unwrap_or_default();
        let added_pair = pair.len();
        if max_len < added_pair + 8 {
            return Err(Error::Settings(format!(
                "max length {max_len} is too short: the special tokens alone take {added_pair}"
            )));
        }
        Ok(TextEncoder {
            tok,
            max_len,
            added_pair,
            sep: Token::new(sep_id, sep_value, (0, 0)),
        })
    }

    /// The length limit.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    fn tokens(&self, text: &str) -> Result<Encoding> {
        self.tok
            .encode_fast(text, false)
            .map_err(|e| Error::Data(format!("cannot tokenize a text: {e}")))
    }

    /// The tokens of `text` when it has at most `cap` of them; otherwise the tokens of a prefix
    /// of it, more than `cap` of them, whose first `cap` are the text's first `cap`. Inputs are
    /// cut to the length limit anyway, and tokenizing a long text whole costs time in
    /// proportion to its length (a 3,000-word response for a 512-token judge).
    ///
    /// The prefix ends before an ASCII whitespace byte (never inside a character), where
    /// BERT-family pre-tokenizers split, so the words before it are tokenized as in the whole
    /// text; [`PREFIX_MARGIN`] tokens beyond `cap` are asked for, so that a normalizer that
    /// looks across a word boundary near the cut cannot reach the tokens that are kept.
    fn tokens_capped(&self, text: &str, cap: usize, capped: bool) -> Result<Encoding> {
        let want = cap + PREFIX_MARGIN;
        // About 8 bytes per token at first (English text has 4-5), doubled while short.
        let mut end = want.saturating_mul(8);
        while capped && end < text.len() {
            let Some(space) = text.as_bytes()[end..]
                .iter()
                .position(|b| b.is_ascii_whitespace())
            else {
                break;
            };
            let cut = end + space;
            let e = self.tokens(&text[..cut])?;
            if e.len() >= want {
                return Ok(e);
            }
            end = cut.saturating_mul(2);
        }
        self.tokens(text)
    }

    fn layout(&self, first: Encoding, second: Encoding) -> Result<(Vec<u32>, Vec<u32>)> {
        let e = self
            .tok
            .post_process(first, Some(second), true)
            .map_err(|e| Error::Data(format!("post-processing failed: {e}")))?;
        Ok((e.get_ids().to_vec(), e.get_type_ids().to_vec()))
    }

    /// `context` and one `response`.
    pub fn pair(&self, context: &str, response: &str) -> Result<Encoded> {
        self.pair_with(context, response, true)
    }

    /// [`TextEncoder::pair`], tokenizing long texts only as far as needed when `capped`.
    /// Truncation depends on each part's length only up to the budget, so the result is the
    /// same either way (tested).
    fn pair_with(&self, context: &str, response: &str, capped: bool) -> Result<Encoded> {
        let budget = self.max_len - self.added_pair;
        let mut c = self.tokens_capped(context, budget, capped)?;
        let mut r = self.tokens_capped(response, budget, capped)?;
        let (kc, kr) = split_two(c.len(), r.len(), budget);
        let truncated = kc < c.len() || kr < r.len();
        cut(&mut c, kc);
        cut(&mut r, kr);
        let (ids, types) = self.layout(c, r)?;
        Ok(Encoded {
            ids,
            types,
            truncated,
        })
    }

    /// `context` and two responses in one input (the pair classifier).
    pub fn triple(&self, context: &str, a: &str, b: &str) -> Result<Encoded> {
        self.triple_with(context, a, b, true)
    }

    /// [`TextEncoder::triple`], tokenizing long texts only as far as needed when `capped`.
    fn triple_with(&self, context: &str, a: &str, b: &str, capped: bool) -> Result<Encoded> {
        let budget = self.max_len - self.added_pair - 1;
        let mut c = self.tokens_capped(context, budget, capped)?;
        let mut ra = self.tokens_capped(a, budget, capped)?;
        let mut rb = self.tokens_capped(b, budget, capped)?;
        let (kc, ka, kb) = split_three(c.len(), ra.len(), rb.len(), budget);
        let truncated = kc < c.len() || ka < ra.len() || kb < rb.len();
        cut(&mut c, kc);
        cut(&mut ra, ka);
        cut(&mut rb, kb);
        let type_id = rb.get_type_ids().first().copied().unwrap_or(0);
        let sep = Encoding::from_tokens(vec![self.sep.clone()], type_id);
        let second = Encoding::merge([ra, sep, rb], false);
        let (ids, types) = self.layout(c, second)?;
        Ok(Encoded {
            ids,
            types,
            truncated,
        })
    }
}

/// Tokens beyond the budget that a prefix must give before it stands for the whole text (see
/// [`TextEncoder::tokens_capped`]).
const PREFIX_MARGIN: usize = 8;

fn cut(e: &mut Encoding, keep: usize) {
    if keep < e.len() {
        e.truncate(keep, 0, TruncationDirection::Right);
        e.take_overflowing();
    }
}

/// Token counts kept of a context of `c` and a response of `r` tokens in `budget`.
pub fn split_two(c: usize, r: usize, budget: usize) -> (usize, usize) {
    if c + r <= budget {
        return (c, r);
    }
    let kc = c.min((budget / 2).max(budget.saturating_sub(r)));
    (kc, r.min(budget - kc))
}

/// Token counts kept of a context and two responses in `budget`.
pub fn split_three(c: usize, a: usize, b: usize, budget: usize) -> (usize, usize, usize) {
    if c + a + b <= budget {
        return (c, a, b);
    }
    let kc = c.min((budget / 3).max(budget.saturating_sub(a + b)));
    let rest = budget - kc;
    let half = rest / 2;
    let (ka, kb) = if a <= half {
        (a, b.min(rest - a))
    } else if b <= rest - half {
        (a.min(rest - b), b)
    } else {
        (half, rest - half)
    };
    (kc, ka, kb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokenizing only a long text's prefix gives the same inputs as tokenizing it whole, for
    /// BERT's and RoBERTa's tokenizers, at lengths around every cut, with punctuation,
    /// accents, CJK, long words, tabs, newlines and runs of spaces, and 150-character words
    /// (one token for BERT) that make a first prefix too short.
    #[test]
    fn prefix_tokenization_gives_the_same_inputs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
        let long_word = "x".repeat(150);
        let pieces = [
            "the",
            "quick",
            "Brown",
            "fox,",
            "jumps!",
            "über",
            "naïve",
            "東京で",
            "don't",
            "a\tb",
            "x\ny",
            "   ",
            "supercalifragilisticexpialidocious",
            "3.14",
            "(ok)",
            "émigré",
            "[SEP]",
            "--",
            "🙂",
            "end.",
        ];
        let mut rng = crate::rng::Rng::new(21);
        let mut text = |words: usize| -> String {
            let mut t = String::new();
            for i in 0..words {
                if i > 0 {
                    t.push(if rng.next_f32() < 0.1 { '\n' } else { ' ' });
                }
                let k = (rng.next_f32() * pieces.len() as f32) as usize % pieces.len();
                t.push_str(pieces[k]);
            }
            t
        };
        let mut compared = 0;
        for model in ["tiny-bert", "tiny-roberta"] {
            for max_len in [16, 40] {
                let enc =
                    TextEncoder::load(&dir.join(model).join("tokenizer.json"), max_len).unwrap();
                for words in [0, 3, 20, 60, 150, 400, 1200] {
                    for _ in 0..4 {
                        let (c, r, r2) = (text(words), text(words / 2 + 7), text(words * 2));
                        assert_eq!(
                            enc.pair_with(&c, &r, true).unwrap(),
                            enc.pair_with(&c, &r, false).unwrap(),
                            "{model} {max_len} {words}"
                        );
                        assert_eq!(
                            enc.triple_with(&c, &r, &r2, true).unwrap(),
                            enc.triple_with(&c, &r, &r2, false).unwrap(),
                            "{model} {max_len} {words}"
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 2 * 2 * 7 * 4);
        // Few tokens per byte: the first prefixes hold fewer tokens than the budget.
        let sparse = format!("{long_word} ").repeat(30);
        for model in ["tiny-bert", "tiny-roberta"] {
            let enc = TextEncoder::load(&dir.join(model).join("tokenizer.json"), 40).unwrap();
            assert_eq!(
                enc.pair_with(&sparse, &sparse, true).unwrap(),
                enc.pair_with(&sparse, &sparse, false).unwrap(),
                "{model}"
            );
        }
    }

    #[test]
    fn short_inputs_are_kept_whole() {
        assert_eq!(split_two(10, 20, 100), (10, 20));
        assert_eq!(split_three(10, 20, 30, 100), (10, 20, 30));
    }

    #[test]
    fn the_instruction_keeps_its_share() {
        // A short instruction is kept whole; the response is cut.
        assert_eq!(split_two(10, 500, 100), (10, 90));
        // A long context gets half, the response the rest.
        assert_eq!(split_two(300, 500, 100), (50, 50));
        // A short response leaves the room to the context.
        assert_eq!(split_two(300, 20, 100), (80, 20));
    }

    #[test]
    fn two_responses_share_fairly() {
        assert_eq!(split_three(10, 500, 500, 100), (10, 45, 45));
        assert_eq!(split_three(10, 20, 500, 100), (10, 20, 70));
        assert_eq!(split_three(10, 500, 20, 100), (10, 70, 20));
        assert_eq!(split_three(300, 500, 500, 99), (33, 33, 33));
        for (c, a, b) in [(0, 0, 500), (1000, 0, 0), (7, 8, 9), (40, 41, 42)] {
            let (x, y, z) = split_three(c, a, b, 50);
            assert!(x + y + z <= 50 && x <= c && y <= a && z <= b);
        }
    }
}
