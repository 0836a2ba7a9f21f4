//! (agreement statistics; to be written.)
