//! Token interning: each distinct token becomes a small integer, so that n-gram counting and
//! LCS compare integers instead of strings, and each distinct word is stemmed once.
//!
//! A per-thread table maps a token (as the tokenizer wrote it, before stemming) to a global id,
//! which is the id of its stem when stemming; the table outlives calls, so a word seen before
//! costs one hash lookup. For each scoring call the global ids are renumbered densely (0, 1, 2,
//! … in order of first appearance) so that per-call arrays can be indexed by id. The table is
//! cleared when it grows past [`MAX_TOKENS`], which bounds memory on unbounded vocabularies.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::porter;

/// Distinct tokens kept before the table is cleared (about 20 MB at most).
const MAX_TOKENS: usize = 200_000;

/// The global id of a token that stems to nothing and is dropped, as rouge-score drops tokens
/// that fail its `^[a-z0-9]+$` check after stemming.
const DROPPED: u32 = u32::MAX;

pub(super) struct Interner {
    stem: bool,
    max_tokens: usize,
    /// Token → global id (of its stem when stemming), or [`DROPPED`].
    by_token: HashMap<Box<[u8]>, u32, BuildHasherDefault<WordHasher>>,
    /// Stem → global id; only used when stemming.
    by_stem: HashMap<Box<[u8]>, u32, BuildHasherDefault<WordHasher>>,
    n_global: u32,
    /// Per global id: the call (epoch) in which it last got a local id, and that id.
    epoch_of: Vec<u32>,
    local_of: Vec<u32>,
    epoch: u32,
    n_local: u32,
    stem_buf: Vec<u8>,
}

impl Interner {
    pub(super) fn new(stem: bool) -> Self {
        Interner {
            stem,
            max_tokens: MAX_TOKENS,
            by_token: HashMap::default(),
            by_stem: HashMap::default(),
            n_global: 0,
            epoch_of: Vec::new(),
            local_of: Vec::new(),
            epoch: 0,
            n_local: 0,
            stem_buf: Vec::new(),
        }
    }

    /// Starts a scoring call: local ids restart at 0. Clears the table if it is too big (only
    /// here, never within a call, so ids stay consistent within one call).
    pub(super) fn begin(&mut self) {
        if self.by_token.len() > self.max_tokens {
            self.by_token = HashMap::default();
            self.by_stem = HashMap::default();
            self.n_global = 0;
            self.epoch_of = Vec::new();
            self.local_of = Vec::new();
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.epoch_of.iter_mut().for_each(|e| *e = 0);
            self.epoch = 1;
        }
        self.n_local = 0;
    }

    /// The number of local ids handed out in this call.
    pub(super) fn n_local(&self) -> usize {
        self.n_local as usize
    }

    /// The local id of `token`, or `None` when the token is dropped (its stem is empty).
    #[inline]
    pub(super) fn local_id(&mut self, token: &[u8]) -> Option<u32> {
        let global = match self.by_token.get(token) {
            Some(&id) => id,
            None => self.insert(token),
        };
        if global == DROPPED {
            return None;
        }
        let g = global as usize;
        if self.epoch_of[g] != self.epoch {
            self.epoch_of[g] = self.epoch;
            self.local_of[g] = self.n_local;
            self.n_local += 1;
        }
        Some(self.local_of[g])
    }

    #[cold]
    fn insert(&mut self, token: &[u8]) -> u32 {
        let id = if !self.stem {
            self.new_global()
        } else {
            // rouge-score stems only tokens longer than 3 characters; the Unicode tokenizer
            // stems only ASCII words (the Porter algorithm is for English).
            self.stem_buf.clear();
            self.stem_buf.extend_from_slice(token);
            if token.len() > 3 && token.is_ascii() {
                porter::stem_ascii_in_place(&mut self.stem_buf);
            }
            if self.stem_buf.is_empty() {
                DROPPED
            } else if let Some(&id) = self.by_stem.get(self.stem_buf.as_slice()) {
                id
            } else {
                let id = self.new_global();
                self.by_stem.insert(self.stem_buf.as_slice().into(), id);
                id
            }
        };
        self.by_token.insert(token.into(), id);
        id
    }

    fn new_global(&mut self) -> u32 {
        let id = self.n_global;
        self.n_global += 1;
        self.epoch_of.push(0);
        self.local_of.push(0);
        id
    }
}

/// A small multiplicative hash for short byte strings (the FxHash scheme: rotate, xor, multiply
/// by a constant). Tokens are short, and SipHash would cost more than the rest of the lookup.
/// Not resistant to deliberately colliding input, which would only slow scoring down.
#[derive(Default, Clone, Copy)]
pub(super) struct WordHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_stem_same_id() {
        let mut interner = Interner::new(true);
        interner.begin();
        let a = interner.local_id(b"running");
        let b = interner.local_id(b"runs");
        let c = interner.local_id(b"cat");
        assert_eq!(a, Some(0));
        assert_eq!(b, Some(0));
        assert_eq!(c, Some(1));
        // A new call renumbers from 0 in order of appearance.
        interner.begin();
        assert_eq!(interner.local_id(b"cat"), Some(0));
        assert_eq!(interner.local_id(b"run"), Some(1));
        assert_eq!(interner.n_local(), 2);
    }

    #[test]
    fn no_stemming_keeps_forms_apart() {
        let mut interner = Interner::new(false);
        interner.begin();
        assert_eq!(interner.local_id(b"running"), Some(0));
        assert_eq!(interner.local_id(b"runs"), Some(1));
        assert_eq!(interner.local_id(b"running"), Some(0));
    }

    #[test]
    fn short_and_non_ascii_tokens_are_not_stemmed() {
        let mut interner = Interner::new(true);
        interner.begin();
        // "runs" is stemmed to "run"; "ran" (3 letters) and "rúns" are kept as they are.
        let runs = interner.local_id(b"runs");
        assert_eq!(interner.local_id(b"run"), runs);
        assert_ne!(interner.local_id("rúns".as_bytes()), runs);
        assert_ne!(interner.local_id(b"ran"), runs);
    }

    #[test]
    fn table_is_cleared_when_full() {
        let mut interner = Interner {
            max_tokens: 100,
            ..Interner::new(false)
        };
        interner.begin();
        for i in 0..=100 {
            interner.local_id(format!("w{i}").as_bytes());
        }
        interner.begin();
        assert_eq!(interner.by_token.len(), 0);
        assert_eq!(interner.local_id(b"w0"), Some(0));
    }
}
