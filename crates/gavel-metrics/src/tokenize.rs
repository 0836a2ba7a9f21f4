//! (sacrebleu port; to be written.)
