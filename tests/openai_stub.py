"""A stand-in for OpenAI's chat completions endpoint on loopback, so that LangChain's real
``init_chat_model("gpt-4o-mini", model_provider="openai")`` -- ``ChatOpenAI`` and the ``openai``
client -- runs offline: point ``OPENAI_BASE_URL`` at :attr:`OpenAIStub.base_url`.

It answers like the service: a user's message last gets ``reply_to_user`` (a text, or a tool
call when ``call`` is set, arguments taken from the user's text by ``call``); a tool's result
last gets ``Done: <the result>``.  Every request body is kept in :attr:`requests`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Call = Callable[[str], tuple[str, dict[str, Any]]]


@dataclass
class OpenAIStub:
    base_url: str = ""
    reply_to_user: str = "A draft."
    call: Call | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        last = body["messages"][-1]
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if last["role"] == "tool":
            message["content"] = f"Done: {last['content']}"
        elif self.call is not None:
            name, args = self.call(str(last["content"]))
            message["tool_calls"] = [
                {
                    "id": f"call_{len(self.requests)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
            ]
            finish = "tool_calls"
        else:
            message["content"] = self.reply_to_user
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "stub"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


@contextmanager
def openai_stub(**options: Any) -> Iterator[OpenAIStub]:
    """A running stub (a thread of this process); stopped on exit."""
    stub = OpenAIStub(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self.send_error(404)
                return
            data = json.dumps(stub.answer(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
