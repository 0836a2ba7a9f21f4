//! Tests of `gavel judge`.

#[allow(unused_imports)]
use crate::common::*;
