"""The OpenAI-compatible client against the real embedded llama.cpp server."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from ivr.errors import EngineTimeout, IvrError
from ivr.llm.client import LLMClient, LLMSettings
from ivr.llm.embedded import free_port

QUESTION = [{"role": "user", "content": "Say hello to the caller in one short sentence."}]


def test_streams_text_in_several_deltas(llm_server):
    async def go():
        client = LLMClient(LLMSettings(base_url=llm_server.base_url, max_tokens=30))
        deltas = [d async for d in client.stream(QUESTION)]
        await client.aclose()
        return deltas

    deltas = asyncio.run(go())
    assert len(deltas) > 2 and "".join(deltas).strip()


def test_cancelling_mid_stream_leaves_the_server_usable(llm_server):
    async def go():
        client = LLMClient(LLMSettings(base_url=llm_server.base_url, max_tokens=200))
        got: list[str] = []

        async def consume():
            async for delta in client.stream([{"role": "user", "content": "Count to one hundred."}]):
                got.append(delta)

        task = asyncio.create_task(consume())
        while len(got) < 3 and not task.done():   # a stream that fails must not hang the test
            await asyncio.sleep(0.01)
        assert not task.done(), f"the stream ended after {len(got)} deltas: {task.exception()!r}"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = await client.complete(QUESTION)
        await client.aclose()
        return got, after

    got, after = asyncio.run(go())
    assert len(got) >= 3 and after.strip()


def test_a_server_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"

    async def go():
        client = LLMClient(LLMSettings(base_url=url, first_token_timeout_s=0.5, total_timeout_s=2))
        try:
            await client.complete(QUESTION)
        finally:
            await client.aclose()

    with pytest.raises(EngineTimeout):
        asyncio.run(go())
    listener.close()


def test_nothing_listening_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}/v1"

    async def go():
        client = LLMClient(LLMSettings(base_url=url))
        try:
            await client.complete(QUESTION)
        finally:
            await client.aclose()

    with pytest.raises(IvrError, match="unreachable"):
        asyncio.run(go())
