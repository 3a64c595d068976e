"""Teachers for training: score (query, passage) pairs better than the student, to drop false negatives
and to give soft labels to a distillation loss.

- `lexical`: stemmed BM25 (bm25s + PyStemmer).
- `fusion`: dense + BM25 score fusion and its weight, chosen on synthetic validation queries.
- `scoring`: the teachers (`HybridTeacher`, `CrossEncoderTeacher`).
- `labels`: `label_pairs`, the training rows with teacher-checked negatives and margins.
"""
