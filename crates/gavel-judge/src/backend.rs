//! (backend, cache and runner; to be written.)
