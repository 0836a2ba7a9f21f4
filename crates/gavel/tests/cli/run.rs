//! Tests of `gavel run`.

#[allow(unused_imports)]
use crate::common::*;
