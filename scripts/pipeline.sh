#!/usr/bin/env bash
# End to end on a bundled model: convert it to a HookedTransformer, write a quiz dataset,
# train an SAE on it and evaluate the SAE. Sizes come from the environment:
#
#   MODEL            bundled model id (default 0)
#   QUIZZES          world quizzes in the dataset (default 20000)
#   PRESET           train-sae preset: cpu-smoke, default or fork (default: default)
#   HOOK             hook name (default: the last block's hook_mlp_out)
#   POSITIONS        all, answer or every (default: all)
#   TRAINING_TOKENS  activations to train on (default: the preset's)
#   EVAL_QUIZZES     evaluation quizzes per task and structure (default: the preset's)
#   DEVICE           torch device (default: cpu)
#   OUT              output folder (default: runs/pipeline); it must not hold an earlier run
#   CULTURECTL       how to run culturectl (default: culturectl)
#
# Example; it took 20 to 40 seconds on 2 otherwise idle CPU cores:
#   QUIZZES=2000 PRESET=cpu-smoke OUT=/tmp/pipeline scripts/pipeline.sh
set -euo pipefail

MODEL=${MODEL:-0}
QUIZZES=${QUIZZES:-20000}
PRESET=${PRESET:-default}
POSITIONS=${POSITIONS:-all}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-runs/pipeline}
CULTURECTL=${CULTURECTL:-culturectl}

options=(--preset "$PRESET" --positions "$POSITIONS" --device "$DEVICE")
if [[ -n "${HOOK:-}" ]]; then options+=(--hook "$HOOK"); fi
if [[ -n "${TRAINING_TOKENS:-}" ]]; then options+=(--training-tokens "$TRAINING_TOKENS"); fi
if [[ -n "${EVAL_QUIZZES:-}" ]]; then options+=(--eval-quizzes "$EVAL_QUIZZES"); fi

converted="$OUT/converted/gpt_$(printf '%03d' "$MODEL").hooked.safetensors"

# 1. The bundled MyGPT as a HookedTransformer, checked against MyGPT's logits.
$CULTURECTL convert --models "$MODEL" --out "$OUT/converted"

# 2. World quizzes as 405-token rows (the BOS 0, then the quiz).
$CULTURECTL dataset --n "$QUIZZES" --out "$OUT/dataset" --workers 1

# 3. The SAE, then its evaluation table; the SAE folder loads with sae_lens.SAE.load_from_disk.
$CULTURECTL train-sae --model "$converted" --dataset "$OUT/dataset" --out "$OUT/sae" "${options[@]}"
