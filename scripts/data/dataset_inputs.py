#!/usr/bin/env python3
"""Turns the shared Auto-J and PandaLM test sets into `gavel dataset build` inputs.

Reads ../shared/data (or --data) and writes into --out:
  items.jsonl            Item records: `autoj-N` (responses `response_1`, `response_2`) and
                         `pandalm-N` (responses under the model names of `cmp_key`)
  teacher-autoj13b.jsonl Auto-J-13B's verdicts on the Auto-J pairs as Judgments, both orders
                         (the swapped run already mapped back, as in normalized.jsonl)
  teacher-gpt35.jsonl    GPT-3.5-turbo's verdicts on the PandaLM pairs with its reasons
                         (`gpt_reason`); its 25 "garbage" outputs have a null label
  teacher-pandalm7b.jsonl PandaLM-7B's verdicts with its reasons (`pandalm_reason`)
  human-pandalm.jsonl    the PandaLM test set's three annotators per pair
  human-autoj.jsonl      the Auto-J test set's one human label per pair

Standard library only. Usage:
  python3 scripts/data/dataset_inputs.py --out /tmp/dsin
"""

import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data"))


def text(v):
    # A few PandaLM responses are JSON booleans (`true` for the text "True").
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    return json.dumps(v)


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    out = {name: open(os.path.join(a.out, name), "w", encoding="utf-8") for name in [
        "items.jsonl", "teacher-autoj13b.jsonl", "teacher-gpt35.jsonl",
        "teacher-pandalm7b.jsonl", "human-pandalm.jsonl", "human-autoj.jsonl"]}

    def write(name, obj):
        out[name].write(json.dumps(obj, ensure_ascii=False) + "\n")

    for r in jsonl(os.path.join(a.data, "autoj_pairwise", "normalized.jsonl")):
        item = f"autoj-{r['id']}"
        write("items.jsonl", {"id": item, "instruction": r["instruction"], "category": r["scenario"],
                              "responses": {"response_1": r["response_a"], "response_2": r["response_b"]}})
        ab, ba = r["judge_labels"]["Auto-J-13B"], r["judge_labels"]["Auto-J-13B#swap"]
        write("teacher-autoj13b.jsonl", {
            "item": item, "annotator": "judge:Auto-J-13B/auto-j-pair", "mode": "pairwise",
            "template": "auto-j-pair", "model_a": "response_1", "model_b": "response_2",
            "label": ab if ab == ba else "tie", "consistent": ab == ba,
            "orders": [{"order": "AB", "label": ab, "parse_error": None},
                       {"order": "BA", "label": ba, "parse_error": None}]})
        for h in r["human_labels"]:
            write("human-autoj.jsonl", {"item": item, "annotator": h["annotator"], "label": h["label"],
                                        "model_a": "response_1", "model_b": "response_2"})

    pandalm = os.path.join(a.data, "pandalm")
    gpt = {g["idx"]: g for g in json.load(open(os.path.join(pandalm, "gpt-3.5-turbo-testset-v1.json")))}
    p7b = {p["idx"]: p for p in json.load(open(os.path.join(pandalm, "pandalm-7b-testset-v1.json")))}
    verdict = {"1": "A", "2": "B", "0": "tie", "Tie": "tie"}
    for r in jsonl(os.path.join(pandalm, "normalized.jsonl")):
        idx = int(r["id"])
        item = f"pandalm-{idx}"
        ma, mb = r["model_a"], r["model_b"]
        write("items.jsonl", {"id": item, "instruction": r["instruction"], "input": r["input"],
                              "category": r["motivation_app"],
                              "responses": {ma: text(r["response_a"]), mb: text(r["response_b"])}})
        g = gpt[idx]
        label = verdict.get(str(g["gpt_result"]))
        rec = {"item": item, "annotator": "judge:gpt-3.5-turbo/pandalm", "mode": "pairwise",
               "template": "pandalm", "model_a": ma, "model_b": mb, "label": label,
               "rationale": g.get("gpt_reason") or None}
        if label is None:
            rec["parse_error"] = f"unreadable verdict {g['gpt_result']!r}"
        write("teacher-gpt35.jsonl", rec)
        p = p7b[idx]
        write("teacher-pandalm7b.jsonl", {
            "item": item, "annotator": "judge:PandaLM-7B/pandalm", "mode": "pairwise",
            "template": "pandalm", "model_a": ma, "model_b": mb,
            "label": verdict.get(str(p["pandalm_result"])), "rationale": p.get("pandalm_reason") or None})
        for h in r["human_labels"]:
            write("human-pandalm.jsonl", {"item": item, "annotator": h["annotator"], "label": h["label"],
                                          "model_a": ma, "model_b": mb})
    for f in out.values():
        f.close()


if __name__ == "__main__":
    main()
