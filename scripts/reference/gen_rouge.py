#!/usr/bin/env python3
"""Generate the ROUGE and Porter-stemmer test vectors for gavel-metrics.

Run with the pinned reference environment (scripts/reference/requirements.txt):

    /work/pyref/venv/bin/python scripts/reference/gen_rouge.py [--data ../shared/data]

Writes, under crates/gavel-metrics/tests/vectors/:

- porter_words.tsv.gz: `word<TAB>stem` for every distinct word found in the shared data
  (rouge-score's own tokens, plus words with non-ASCII letters and mixed case) and a few
  hand-made oddities, stemmed by NLTK's PorterStemmer() (NLTK_EXTENSIONS mode).
- rouge_tokens.json: rouge-score's tokenizer output, with and without the stemmer, for the
  edge-case strings.
- rouge_cases.json: rouge-score scores (precision, recall, f-measure) for rouge1, rouge2,
  rouge3, rougeL and rougeLsum, with and without the stemmer, through `score` (one target)
  and `score_multi` (several targets): hand-written edge cases, random small-vocabulary texts
  (many LCS ties, which rougeLsum's union-LCS is sensitive to) and realistic pairs taken from
  the shared data.

The output is deterministic: same data and versions, same bytes.
"""

import argparse
import gzip
import json
import os
import random
import re
import sys
from pathlib import Path

import nltk
import rouge_score
from importlib.metadata import version
from nltk.stem.porter import PorterStemmer
from rouge_score import rouge_scorer, tokenizers

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "gavel-metrics" / "tests" / "vectors"
TYPES = ["rouge1", "rouge2", "rouge3", "rougeL", "rougeLsum"]

EXPECTED = {"rouge-score": "0.1.2", "nltk": "3.10.4"}


def check_versions():
    for name, want in EXPECTED.items():
        got = version(name)
        if got != want:
            sys.exit(f"{name} {got} is installed, the vectors need {want}")


# ----------------------------------------------------------------------------------------------
# Text sources


def shared_texts(data_dir):
    """Every string field of the shared data sets, in a fixed order."""
    texts = []
    for path in sorted(Path(data_dir).glob("**/*")):
        if not path.is_file():
            continue
        if path.suffix not in (".jsonl", ".json", ".gz", ".csv", ".md", ".txt"):
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                texts.append(f.read())
        except OSError:
            continue
    return texts


def realistic_pairs(data_dir):
    """(prediction, [targets]) pairs from the pairwise data sets: one response against the
    other, which gives related texts of different lengths, many with several lines."""
    pairs = []
    for name in ["pandalm", "llmbar", "faireval", "autoj_pairwise"]:
        path = Path(data_dir) / name / "normalized.jsonl"
        if not path.exists():
            continue
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        for row in rows:
            a, b = row.get("response_a"), row.get("response_b")
            if isinstance(a, str) and isinstance(b, str):
                pairs.append((a, b, row.get("instruction") or ""))
    hh = Path(data_dir) / "hh_rlhf_harmless" / "test.jsonl.gz"
    if hh.exists():
        with gzip.open(hh, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= 400:
                    break
                row = json.loads(line)
                pairs.append((row["chosen"], row["rejected"], ""))
    return pairs


def clip(text, limit):
    """Cut long texts at a line or word boundary so the vector file stays small."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit]


# ----------------------------------------------------------------------------------------------
# Porter word list


def porter_words(texts):
    words = set()
    for text in texts:
        low = text.lower()
        # rouge-score's own tokens: what the stemmer sees in ROUGE.
        words.update(re.findall(r"[a-z0-9]+", low))
        # Words with other letters (accents, other scripts) and their original case, for the
        # general `stem` function.
        for w in re.findall(r"\w+", text):
            if not w.isascii() or not w.islower():
                words.add(w)
    extra = [
        "", "a", "y", "yy", "yyy", "yyyy", "yyyyy", "ay", "ayy", "byy", "sky", "skies", "SKIES",
        "dying", "lying", "tying", "news", "innings", "inning", "outings", "outing", "cannings",
        "canning", "howe", "proceed", "exceed", "succeed", "ties", "tied", "pies", "cries",
        "ied", "eed", "ing", "ed", "s", "ss", "sss", "sses", "ies", "ied", "bled", "a*ded",
        "x*ding", "abli", "bli", "alli", "logi", "fulli", "radicalli", "hopefulli", "analogi",
        "İstanbul", "İİ", "ΣΊΣΥΦΟΣ", "ǅemal", "STRASSE", "straße", "ﬁnished", "naïvely",
        "cafe\u0301s", "Ünited", "1990s", "3rd", "42nd", "co2", "mp3s", "ipv6", "h2o",
    ]
    words.update(extra)
    return sorted(words)


# ----------------------------------------------------------------------------------------------
# Edge cases

LONG_LINE = " ".join(
    ["The", "committee", "reviewed", "running", "totals", "of", "3,141.59", "units,"] * 700
)
LONG_LINE_2 = " ".join(["the", "reviewing", "committees", "ran", "totals", "units"] * 900)

EDGE_STRINGS = [
    "",
    " ",
    "   \t  ",
    "\n",
    "\n\n\n",
    "\t\n\r\x0b\x0c",
    "...",
    "!!! ??? ;;; :::",
    "-- -- --",
    "1,000,000 and 3.14159 and 2.5e-3",
    "$1,234.56 (12%) +3 -4 1/2 12:30pm 2024-01-31",
    "https://example.com/path/to/page?q=rouge&lang=en#section-2",
    "Visit www.Example.ORG or mail test.user@example.com",
    "&amp; &lt;b&gt;bold&lt;/b&gt; &#39;quoted&#39; &nbsp; &quot;x&quot;",
    "<p>The <b>cat</b> sat</p>",
    "The cat sat on the mat.",
    "the cat\tsat\ton the\tmat",
    "The cat sat.\nThe dog ran.\n\nThe bird flew.",
    "line one\r\nline two\r\n",
    "  leading and trailing spaces  ",
    "猫がマットの上に座った。",
    "我们今天去公园散步。",
    "고양이가 매트 위에 앉았다.",
    "القط جلس على الحصيرة",
    "I ❤️ NY 🗽🍎 👩‍👩‍👧",
    "café crème brûlée",
    "cafe\u0301 cre\u0300me",
    "naïve coöperate",
    "İstanbul İzmir",
    "\u212aelvin and \u212a",
    "ＡＢＣ１２３ fullwidth",
    "Straße STRASSE",
    "ǅemal ǈudevit",
    "ΣΊΣΥΦΟΣ ΟΔΟΣ",
    "x\u00a0y\u2003z\u3000w",
    "snake_case and kebab-case and CamelCase",
    "don't won't it's the cats' toys",
    "running runs runner ran easily fairly",
    "The quick brown fox jumps over the lazy dog",
    "The quick brown dog jumps on the log.",
    LONG_LINE,
]

# (targets, prediction, name): handwritten cases; `targets` with one element also run through
# `score`.
HAND_CASES = [
    (["The quick brown fox jumps over the lazy dog"], "The quick brown dog jumps on the log.",
     "readme_example"),
    (["the cat sat on the mat"], "the cat sat on the mat", "identical"),
    (["The cat sat on the mat.\nIt was happy."], "The cat sat on the mat.\nIt was happy.",
     "identical_multiline"),
    ([""], "", "both_empty"),
    ([""], "the cat", "empty_target"),
    (["the cat"], "", "empty_prediction"),
    (["   "], "\t\n", "whitespace_only"),
    (["..."], "!!!", "punctuation_only"),
    (["the cat"], "...", "prediction_punctuation_only"),
    (["a"], "a", "single_token"),
    (["a b"], "b a", "swapped_two"),
    (["the the the the"], "the the", "repeated_tokens"),
    (["a b a b\nb a b a"], "b a b a\na b a b", "lsum_ties"),
    (["a b c\nd e f\n\na c e"], "a c\nb d f\ne", "lsum_union"),
    (["a a a\na a"], "a\na a a a", "lsum_clip_counts"),
    (["first line\n\n\nsecond line\n"], "\nsecond line\nfirst line", "lsum_blank_lines"),
    (["one\r\ntwo\r\nthree"], "one\ntwo\nthree", "carriage_returns"),
    (["a b\u2028c d\x85e f"], "a b\nc d\ne f", "unicode_line_separators_do_not_split"),
    (["a b\x1cc d"], "c d\na b", "information_separator"),
    (["the cat\tsat\non the mat"], "the cat sat on the mat", "tabs_and_newlines"),
    (["1,000,000 people paid $3.50"], "1 000 000 people paid 3 50", "numbers"),
    (["see https://example.com/a?b=c"], "see example com a b c", "url"),
    (["&amp; &lt;b&gt;"], "amp lt b gt", "html_entities"),
    (["猫がマットの上に座った。"], "猫がマットの上に座った。", "japanese_identical"),
    (["고양이가 매트 위에 앉았다."], "고양이가 매트에 앉아 있었다.", "korean"),
    (["我们今天去公园散步。"], "我们今天去公园。", "chinese"),
    (["القط جلس على الحصيرة"], "القط على الحصيرة", "arabic"),
    (["I love NY 🗽"], "I ❤️ NY 🗽", "emoji"),
    (["café crème"], "cafe\u0301 cre\u0300me", "combining_marks"),
    (["İstanbul is big"], "istanbul is big", "dotted_capital_i"),
    (["\u212aelvin scale"], "kelvin scale", "kelvin_sign"),
    (["the running dogs"], "the dog runs", "stemming_matters"),
    ([LONG_LINE], LONG_LINE_2, "very_long_lines"),
    (["the cat sat on the mat", "a cat was sitting on a mat today", "cat"],
     "the cat was sitting on the mat", "multi_three_lengths"),
    (["", "the cat"], "the cat", "multi_with_empty"),
    (["completely different", "also unrelated words"], "the cat sat", "multi_no_overlap"),
    (["the cat sat", "the cat sat"], "the cat sat", "multi_ties"),
    (["a b c d e f", "a b", "c d e"], "a b c", "multi_precision_recall_tradeoff"),
]


def random_cases(rng, count):
    """Small vocabularies give many equal-length LCS choices: the union LCS of rougeLsum
    depends on which one the backtracking picks."""
    vocab = ["a", "b", "c", "d", "running", "runs", "the"]
    cases = []
    for i in range(count):
        def text():
            lines = []
            for _ in range(rng.randint(0, 4)):
                lines.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 8))))
            sep = rng.choice(["\n", "\n", "\n\n", " \n"])
            return sep.join(lines)

        n_targets = rng.choice([1, 1, 1, 2, 3])
        cases.append(([text() for _ in range(n_targets)], text(), f"random_{i}"))
    return cases


def score_dict(scores, types):
    return {t: [float(scores[t].precision), float(scores[t].recall), float(scores[t].fmeasure)]
            for t in types}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                        help="the shared data directory (default: ../shared/data)")
    parser.add_argument("--realistic", type=int, default=300,
                        help="how many realistic pairs to keep (default 300)")
    args = parser.parse_args()
    check_versions()
    if not Path(args.data).is_dir():
        sys.exit(f"{args.data} is not a directory: pass --data")
    OUT.mkdir(parents=True, exist_ok=True)

    # Porter word list.
    stemmer = PorterStemmer()
    words = porter_words(shared_texts(args.data))
    lines = []
    for w in words:
        s = stemmer.stem(w)
        if "\t" in w or "\n" in w:
            continue
        lines.append(f"{w}\t{s}\n")
    with open(OUT / "porter_words.tsv.gz", "wb") as raw:
        # mtime=0 keeps the file byte-identical between runs.
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
            gz.write("".join(lines).encode("utf-8"))
    print(f"porter_words.tsv.gz: {len(lines)} words", file=sys.stderr)

    # Tokenizer outputs.
    plain = tokenizers.DefaultTokenizer(use_stemmer=False)
    stemmed = tokenizers.DefaultTokenizer(use_stemmer=True)
    tokens = [{"text": s, "tokens": plain.tokenize(s), "stemmed": stemmed.tokenize(s)}
              for s in EDGE_STRINGS if len(s) < 2000]

    # Scores.
    rng = random.Random(20261128)
    cases = list(HAND_CASES)
    for a in EDGE_STRINGS:
        cases.append(([a], "the cat sat on the mat 1,000", "edge_target"))
        cases.append((["The cat sat on the mat 1,000"], a, "edge_prediction"))
    cases += random_cases(rng, 300)
    pairs = realistic_pairs(args.data)
    rng.shuffle(pairs)
    for i, (a, b, instruction) in enumerate(pairs[: args.realistic]):
        a, b = clip(a, 1500), clip(b, 1500)
        if i % 4 == 3:
            cases.append(([b, clip(instruction, 400), b[: len(b) // 2]], a, f"realistic_multi_{i}"))
        else:
            cases.append(([b], a, f"realistic_{i}"))

    scorers = {
        "plain": rouge_scorer.RougeScorer(TYPES, use_stemmer=False),
        "stemmed": rouge_scorer.RougeScorer(TYPES, use_stemmer=True),
    }
    # rouge-score tokenizes differently when rougeLsum is the only type asked for; cover that.
    lsum_only = rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=True)
    out_cases = []
    for targets, prediction, name in cases:
        case = {"name": name, "targets": targets, "prediction": prediction}
        for key, scorer in scorers.items():
            if len(targets) == 1:
                case[key] = score_dict(scorer.score(targets[0], prediction), TYPES)
            else:
                case[key] = score_dict(scorer.score_multi(targets, prediction), TYPES)
        if len(targets) == 1:
            case["lsum_only_stemmed"] = score_dict(
                lsum_only.score(targets[0], prediction), ["rougeLsum"])["rougeLsum"]
        out_cases.append(case)

    meta = {
        "generator": "scripts/reference/gen_rouge.py",
        "rouge-score": version("rouge-score"),
        "nltk": version("nltk"),
        "python": sys.version.split()[0],
        "types": TYPES,
        "note": "scores are [precision, recall, fmeasure]; one target: score(), several: "
                "score_multi(); 'plain' without stemmer, 'stemmed' with",
    }
    with open(OUT / "rouge_cases.json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "cases": out_cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    with open(OUT / "rouge_tokens.json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "cases": tokens}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"rouge_cases.json: {len(out_cases)} cases; rouge_tokens.json: {len(tokens)} strings",
          file=sys.stderr)


if __name__ == "__main__":
    main()
