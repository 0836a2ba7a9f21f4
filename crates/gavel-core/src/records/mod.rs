//! The record types of CONTRACT.md.

pub mod battle;
pub mod item;
pub mod judgment;
pub mod label;
pub mod label_columns;
pub mod pair;
pub mod wide;
