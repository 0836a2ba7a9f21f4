//! Tests of `gavel meta-eval`.

#[allow(unused_imports)]
use crate::common::*;
