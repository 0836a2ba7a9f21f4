//! Tests of `gavel templates`.

#[allow(unused_imports)]
use crate::common::*;
