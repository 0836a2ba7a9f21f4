//! (ranking statistics; to be written.)
