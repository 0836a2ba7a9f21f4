#!/usr/bin/env bash
# Creates the Python environment with the pinned reference implementations (sacrebleu,
# rouge-score, scikit-learn, scipy, statsmodels, krippendorff...) that the vector generators and
# benchmarks compare gavel against. Tests never need it: the vectors are committed.
#   scripts/reference/setup.sh            # creates .venv-ref
#   GAVEL_PYREF=/path/venv scripts/reference/setup.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${GAVEL_PYREF:-$here/../../.venv-ref}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q -r "$here/requirements.txt"
# PyTorch, for the judge-training references (large: see the file).
"$venv/bin/pip" install -q -r "$here/requirements-train.txt"
# gen_squad.py runs the SQuAD v2.0 metric of transformers 4.57.6 (the module is gone in 5.x)
# out of its wheel, without installing it.
"$venv/bin/pip" download -q --no-deps -d "$venv/wheels" transformers==4.57.6
"$venv/bin/pip" install -q --no-deps -r "$here/requirements-nodeps.txt"
echo "reference environment ready: $venv (python: $venv/bin/python)"
