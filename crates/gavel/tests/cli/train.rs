//! Tests of `gavel train`.

#[allow(unused_imports)]
use crate::common::*;
