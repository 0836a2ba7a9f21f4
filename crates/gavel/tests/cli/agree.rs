//! Tests of `gavel agree`.

#[allow(unused_imports)]
use crate::common::*;
