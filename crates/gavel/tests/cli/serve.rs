//! Tests of `gavel serve`.

#[allow(unused_imports)]
use crate::common::*;
