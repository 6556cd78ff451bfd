#!/usr/bin/env bash
# Run every benchmark in sequence (they share 2 cores; parallel runs would distort each other).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python bench/accuracy.py
.venv/bin/python bench/train_speed.py
.venv/bin/python bench/fairness.py
.venv/bin/python bench/robustness.py
.venv/bin/python bench/explain.py
.venv/bin/python bench/pii.py
.venv/bin/python bench/dp.py
.venv/bin/python bench/dp_ceiling.py
.venv/bin/python bench/infer_speed.py --ffn-prune 0.5 --layer-prune 0.34 --recover-steps 600 --distill-weight 0.5
.venv/bin/python bench/serve_load.py
.venv/bin/python bench/dapt.py --max-length 128 --pretrain-epochs 1
.venv/bin/python bench/low_resource.py
.venv/bin/python bench/results_pages.py
