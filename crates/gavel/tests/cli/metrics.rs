//! Tests of `gavel metrics`.

#[allow(unused_imports)]
use crate::common::*;
