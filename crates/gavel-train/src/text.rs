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

    fn layout(&self, first: Encoding, second: Encoding) -> Result<(Vec<u32>, Vec<u32>)> {
        let e = self
            .tok
            .post_process(first, Some(second), true)
            .map_err(|e| Error::Data(format!("post-processing failed: {e}")))?;
        Ok((e.get_ids().to_vec(), e.get_type_ids().to_vec()))
    }

    /// `context` and one `response`.
    pub fn pair(&self, context: &str, response: &str) -> Result<Encoded> {
        let mut c = self.tokens(context)?;
        let mut r = self.tokens(response)?;
        let budget = self.max_len - self.added_pair;
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
        let mut c = self.tokens(context)?;
        let mut ra = self.tokens(a)?;
        let mut rb = self.tokens(b)?;
        let budget = self.max_len - self.added_pair - 1;
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
