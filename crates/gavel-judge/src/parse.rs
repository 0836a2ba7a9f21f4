//! (templates and verdict parsers; to be written.)
