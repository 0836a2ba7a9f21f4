"""Training data for the PandaLM-test-set experiment (docs/judge-training.md).

    python3 scripts/train/prepare_data.py [--data ../shared/data] [--out bench-out/train-data]
        [--with-hh]

Writes, from the human-labelled pairs in ../shared/data (see each SOURCE.md):

- OUT/dataset/train.jsonl, OUT/dataset/validation.jsonl: flat examples as `gavel dataset build`
  writes them (item, instruction, input, response_a, response_b, model_a, model_b, label,
  source), from the Auto-J pairwise test set (1,392 pairs, ties included), LLMBar (885 pairs:
  Natural, Adversarial and its processed FairEval / LLMEval^2 / MT-Bench subsets) and FairEval
  (80 pairs, ties included); with --with-hh also the Anthropic HH-RLHF harmless test split
  (2,312 pairs, no ties). The label of a pair is its human majority (Auto-J, LLMBar and
  FairEval have one label each).
- OUT/pandalm-items.jsonl: the 999 PandaLM test items, each with its two responses under the
  names of the models that wrote them, for `gavel judge`.
- OUT/pandalm-labels.jsonl: the three annotators' labels of each test item, and
  OUT/pandalm-published-judges.jsonl: the published verdicts of GPT-3.5 and PandaLM-7B (GPT-3.5's
  25 unparsable answers as null), both in the long Label form with the items' model pair, so
  that `gavel meta-eval` joins them with a trained judge's judgments.

Leakage: the PandaLM test set is kept out. Every training pair whose instruction (with its input)
equals a PandaLM test instruction after lower-casing and collapsing white space is dropped, and
the count is printed. A pair present in two sources (LLMBar's FairEval subset is FairEval without
its ties) is used once. The validation split is 10% of the training items, chosen by a seeded
hash of the item, never an item in both.

Standard library only.
"""

import argparse
import collections
import gzip
import hashlib
import json
import os
import re
import sys


def norm(text):
    return re.sub(r"\s+", " ", (text or "").strip().lower())


def majority(labels):
    c = collections.Counter(l["label"] for l in labels if l.get("label") is not None)
    if not c:
        return None
    (top, n), *rest = c.most_common()
    if rest and rest[0][1] == n:
        return None
    return top


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def hh_pairs(path):
    """HH-RLHF: the shared conversation is the instruction, the final Assistant turns the
    responses; `chosen` is response_a, so every label is A (the order does not matter to a
    reward model, which scores each response alone)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            cut_c = r["chosen"].rfind("\n\nAssistant:")
            cut_r = r["rejected"].rfind("\n\nAssistant:")
            if cut_c < 0 or r["chosen"][:cut_c] != r["rejected"][:cut_r]:
                continue
            prompt = r["chosen"][:cut_c].strip()
            a = r["chosen"][cut_c + len("\n\nAssistant:"):].strip()
            b = r["rejected"][cut_r + len("\n\nAssistant:"):].strip()
            if not a or not b or a == b:
                continue
            # Alternate the side of the preferred response so labels are balanced.
            if i % 2:
                a, b, label = b, a, "B"
            else:
                label = "A"
            yield {"id": str(i), "instruction": prompt, "input": None, "response_a": a,
                   "response_b": b, "model_a": "chosen" if label == "A" else "rejected",
                   "model_b": "rejected" if label == "A" else "chosen",
                   "human_labels": [{"annotator": "crowd", "label": label}]}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "bench-out", "train-data"))
    ap.add_argument("--with-hh", action="store_true")
    ap.add_argument("--validation-share", type=float, default=0.1)
    args = ap.parse_args()

    pandalm = list(read_jsonl(os.path.join(args.data, "pandalm", "normalized.jsonl")))
    test_instructions = {norm(r["instruction"] + " " + (r.get("input") or "")) for r in pandalm}
    test_bare = {norm(r["instruction"]) for r in pandalm}

    sources = [
        ("autoj", read_jsonl(os.path.join(args.data, "autoj_pairwise", "normalized.jsonl"))),
        ("llmbar", read_jsonl(os.path.join(args.data, "llmbar", "normalized.jsonl"))),
        ("faireval", read_jsonl(os.path.join(args.data, "faireval", "normalized.jsonl"))),
    ]
    if args.with_hh:
        sources.append(("hh", hh_pairs(os.path.join(args.data, "hh_rlhf_harmless",
                                                      "test.jsonl.gz"))))
    seen = set()
    counts = collections.Counter()
    train, validation = [], []
    for name, rows in sources:
        for r in rows:
            counts[f"{name}: read"] += 1
            label = majority(r["human_labels"])
            if label not in ("A", "B", "tie"):
                counts[f"{name}: no majority"] += 1
                continue
            instr = r["instruction"]
            full = norm(instr + " " + (r.get("input") or ""))
            if full in test_instructions or norm(instr) in test_bare:
                counts[f"{name}: dropped, instruction in the PandaLM test set"] += 1
                continue
            key = (full, *sorted([norm(r["response_a"]), norm(r["response_b"])]))
            if key in seen:
                counts[f"{name}: dropped, duplicate of an earlier pair"] += 1
                continue
            seen.add(key)
            item = f"{name}/{r['id']}"
            ex = {"item": item, "instruction": instr, "input": r.get("input"),
                  "response_a": r["response_a"], "response_b": r["response_b"],
                  "model_a": r.get("model_a"), "model_b": r.get("model_b"),
                  "label": label, "mode": "pairwise", "source": name}
            h = int(hashlib.sha256(("gavel-val/" + full).encode()).hexdigest()[:8], 16)
            if h / 0xFFFFFFFF < args.validation_share:
                validation.append(ex)
            else:
                train.append(ex)
            counts[f"{name}: kept"] += 1
            counts[f"label {label}"] += 1

    ds = os.path.join(args.out, "dataset")
    os.makedirs(ds, exist_ok=True)
    for fname, rows in (("train.jsonl", train), ("validation.jsonl", validation)):
        with open(os.path.join(ds, fname), "w", encoding="utf-8") as f:
            for ex in rows:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    with open(os.path.join(args.out, "pandalm-items.jsonl"), "w", encoding="utf-8") as f:
        for r in pandalm:
            # Six responses are the JSON value `true` in PandaLM's file (a model that answered
            # "true"); a response is text, so they become the string "true".
            def text(v):
                return v if isinstance(v, str) else json.dumps(v)

            item = {"id": r["id"], "instruction": r["instruction"], "input": r.get("input"),
                    "responses": {r["model_a"]: text(r["response_a"]),
                                  r["model_b"]: text(r["response_b"])}}
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    # The human labels and the two published judges in long form, in the items' model frame
    # (response1 is model_a), so that `gavel meta-eval` joins them with gavel's judgments.
    def pandalm_label(v):
        return {1: "A", 2: "B", 0: "tie", "1": "A", "2": "B", "0": "tie", "Tie": "tie"}.get(v)

    raw = {str(r["idx"]): r for r in json.load(open(os.path.join(args.data, "pandalm",
                                                                  "testset-v1.json")))}
    models = {r["id"]: (r["model_a"], r["model_b"]) for r in pandalm}
    with open(os.path.join(args.out, "pandalm-labels.jsonl"), "w", encoding="utf-8") as f:
        for idx, r in raw.items():
            a, b = models[idx]
            for ann in ("annotator1", "annotator2", "annotator3"):
                f.write(json.dumps({"item": idx, "annotator": ann, "model_a": a, "model_b": b,
                                    "label": pandalm_label(r[ann])}) + "\n")
    with open(os.path.join(args.out, "pandalm-published-judges.jsonl"), "w",
              encoding="utf-8") as f:
        for fname, field, name in (("gpt-3.5-turbo-testset-v1.json", "gpt_result",
                                    "gpt-3.5-turbo"),
                                   ("pandalm-7b-testset-v1.json", "pandalm_result",
                                    "PandaLM-7B")):
            for r in json.load(open(os.path.join(args.data, "pandalm", fname))):
                a, b = models[str(r["idx"])]
                # GPT-3.5's 25 "garbage" answers stay null (unparsed).
                f.write(json.dumps({"item": str(r["idx"]), "annotator": name, "model_a": a,
                                    "model_b": b, "label": pandalm_label(r[field])}) + "\n")

    for k in sorted(counts):
        print(f"{k}: {counts[k]}", file=sys.stderr)
    print(f"train {len(train)}, validation {len(validation)} -> {ds}; "
          f"{len(pandalm)} PandaLM test items -> {args.out}/pandalm-items.jsonl", file=sys.stderr)


if __name__ == "__main__":
    main()
