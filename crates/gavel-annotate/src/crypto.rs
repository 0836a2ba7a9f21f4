//! Secrets: random tokens, their SHA-256 digests (what is stored), and PBKDF2 password hashes.
//! Built on `ring`, which the workspace already compiles for TLS.

use std::num::NonZeroU32;

use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Rounds of PBKDF2-HMAC-SHA256 for new password hashes (OWASP's 2023 advice is 600,000).
pub const DEFAULT_PBKDF2_ROUNDS: u32 = 600_000;

/// `n` random bytes from the operating system, as lower-case hex.
pub fn random_hex(n: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::Internal("the system random source failed".into()))?;
    Ok(hex(&buf))
}

/// A new personal sign-in token (`gvl_` and 256 random bits).
pub fn new_token() -> Result<String, Error> {
    Ok(format!("gvl_{}", random_hex(32)?))
}

/// SHA-256 of `text`, as lower-case hex: how tokens and session ids are stored. They are
/// random with 256 bits of entropy, so a fast hash is enough (no dictionary to search).
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// A PBKDF2-HMAC-SHA256 hash of a password: `pbkdf2-sha256$ROUNDS$SALT$HASH` (hex).
pub fn hash_password(password: &str, rounds: u32) -> Result<String, Error> {
    let rounds = NonZeroU32::new(rounds.max(1)).unwrap_or(NonZeroU32::MIN);
    let salt = random_hex(16)?;
    let mut out = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt.as_bytes(),
        password.as_bytes(),
        &mut out,
    );
    Ok(format!("pbkdf2-sha256${rounds}${salt}${}", hex(&out)))
}

/// Whether `password` matches a stored hash (compared in constant time by `ring`).
pub fn verify_password(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(rounds), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let Some(rounds) = rounds.parse::<u32>().ok().and_then(NonZeroU32::new) else {
        return false;
    };
    let Some(expected) = unhex(hash) else {
        return false;
    };
    ring::pbkdf2::verify(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt.as_bytes(),
        password.as_bytes(),
        &expected,
    )
    .is_ok()
}

/// Compares two strings without an early exit on the first difference.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_salts_differ() {
        let a = hash_password("correct horse", 1000).unwrap();
        let b = hash_password("correct horse", 1000).unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("correct"));
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("correct horsE", &a));
        assert!(!verify_password("x", "plain"));
        assert!(!verify_password("x", "pbkdf2-sha256$0$aa$bb"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let t = new_token().unwrap();
        assert_eq!(t.len(), 68);
        assert_ne!(t, new_token().unwrap());
        assert_eq!(sha256_hex("abc").len(), 64);
        assert!(same("x", "x") && !same("x", "y"));
    }
}
