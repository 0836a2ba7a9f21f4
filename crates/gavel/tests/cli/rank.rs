//! Tests of `gavel rank`.

#[allow(unused_imports)]
use crate::common::*;
