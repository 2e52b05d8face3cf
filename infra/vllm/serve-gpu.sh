#!/usr/bin/env bash
# vLLM for the hotline on a GPU host: the OpenAI-compatible API with tool calling (business
# look-ups from converse nodes), structured output (slots, tickets) and prefix caching (each
# converse node's prompt starts with the same system text on every call).
#
#   MODEL=/models/Qwen2.5-7B-Instruct ./serve-gpu.sh      # then, on the hotline host:
#   ivr serve --llm-url http://GPU_HOST:8000/v1 --llm-model hotline
#
# The named production model is Qwen2.5-7B-Instruct (Apache-2.0, Alibaba Qwen; HF safetensors),
# whose chat template writes tool calls as <tool_call> JSON: vLLM's `hermes` parser reads them.
set -euo pipefail
MODEL=${MODEL:-/models/Qwen2.5-7B-Instruct}
exec python -m vllm.entrypoints.openai.api_server \
  --model "$MODEL" --served-model-name hotline \
  --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
  --max-model-len 8192 --gpu-memory-utilization 0.85 \
  --enable-prefix-caching \
  --enable-auto-tool-choice --tool-call-parser hermes \
  --generation-config auto
