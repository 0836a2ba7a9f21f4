//! Tests of `gavel dataset`.

#[allow(unused_imports)]
use crate::common::*;
