#!/usr/bin/env bash
# The GPU check, for any machine with an NVIDIA GPU and JAX's CUDA build (benchmarks/README.md, "GPU check").
#
#   bash benchmarks/gpu_check.sh tier1           on the GPU machine, one run per tier (tier1, then tier2)
#   bash benchmarks/gpu_check.sh --wheels        on a machine with network access: the packages a GPU machine
#                                                without network may lack, downloaded into .whl/ (copy it along)
#   bash benchmarks/gpu_check.sh --dry-run       both tiers' stages on this CPU at toy sizes (CI runs it)
#   bash benchmarks/gpu_check.sh tier2 --dry-run
#
# Each tier writes $OUT/TIER.json (rewritten after every stage), $OUT/TIER.log and, with matplotlib,
# $OUT/TIER.png; OUT defaults to ./gpu_check_out. Time guard: benchmarks/gpu_check.py starts a stage
# only while the tier's time limit (GPU_CHECK_BUDGET seconds, else the defaults below) holds its estimate;
# `timeout` kills it 60 s past the limit as a backstop, and the JSON is then marked as killed.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
# Needed by eqx_resnet and its tests and missing from some CUDA images that hold JAX and PyTorch, with what
# they need in turn: platformdirs for pooch, array-record and portpicker for grain.
WHEELS=(beartype==0.23.1 pooch==1.9.0 platformdirs==4.14.9 grain==0.2.18 array-record==0.8.6 portpicker==1.6.0)
# The default time limits: both tiers with their backstops take under 15 minutes.
BUDGET_TIER1=390
BUDGET_TIER2=300

usage() { echo "usage: bash benchmarks/gpu_check.sh tier1|tier2 [--dry-run] | --dry-run | --wheels" >&2; exit 2; }
tiers=() dry=()
for arg in "$@"; do
  case "$arg" in
    tier1 | tier2) tiers+=("$arg") ;;
    --dry-run) dry=(--dry-run) ;;
    --wheels)
      # CPython 3.12 manylinux wheels, no dependencies resolved: the GPU machine's Python, whatever this one's.
      exec "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}" ;;
    *) usage ;;
  esac
done
if [ ${#tiers[@]} -eq 0 ]; then
  [ ${#dry[@]} -eq 1 ] || usage  # on a GPU one tier per run: each fits a 10-minute job
  tiers=(tier1 tier2)
fi

OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
if [ ${#dry[@]} -eq 0 ] && compgen -G ".whl/*.whl" >/dev/null; then
  # The wheels of --wheels, copied along (CPython 3.12's: not for a dry run on this machine).
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl &&
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} || exit
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

status=0
for tier in "${tiers[@]}"; do
  budget="${GPU_CHECK_BUDGET:-$([ "$tier" = tier1 ] && echo $BUDGET_TIER1 || echo $BUDGET_TIER2)}"
  timeout -k 10 $((budget + 60)) "$PYTHON" benchmarks/gpu_check.py "$tier" "${dry[@]}" --out "$OUT" --budget "$budget" \
    2>&1 | tee "$OUT/$tier.log"
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    "$PYTHON" benchmarks/gpu_check.py --finalize "$OUT/$tier.json" 2>&1 | tee -a "$OUT/$tier.log"
  fi
  [ $rc -eq 0 ] || status=$rc
done
exit $status
