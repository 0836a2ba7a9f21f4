//! (rouge-score / SQuAD port; to be written.)
