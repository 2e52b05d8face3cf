"""A stub OpenAI-compatible chat endpoint for tests of what is sent to a served LLM (vLLM),
which cannot run on this machine's tests; the embedded llama.cpp server has its own tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, AsyncIterator

from ivr.llm.client import LLMClient, LLMSettings


class StubLLM:
    """Answers every chat completion with `reply` (streamed) after `delay_s`."""

    def __init__(self, reply: str, delay_s: float = 0.0) -> None:
        self.reply, self.delay_s = reply, delay_s
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                stub.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                time.sleep(stub.delay_s)
                chunk = json.dumps({"choices": [{"delta": {"content": stub.reply}}]})
                body = f"data: {chunk}\n\ndata: [DONE]\n\n".encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass  # the client stopped waiting (over its budget)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self) -> None:
        self.server.shutdown()


class ScriptedLLM(LLMClient):
    """An LLM whose reply is fixed, streamed word by word: to test what the grounding check
    lets through."""

    def __init__(self, reply: str) -> None:
        super().__init__(LLMSettings())
        self.reply = reply

    async def stream(self, messages, options=None, tool_calls=None) -> AsyncIterator[str]:
        for word in self.reply.split(" "):
            yield word + " "
