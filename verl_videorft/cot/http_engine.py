"""OpenAI-compatible HTTP engine: ``POST {base_url}/chat/completions`` (vLLM serve, SGLang,
``transformers serve``, hosted APIs).

- At most ``concurrency`` requests in flight (a thread pool; each request is one blocking call).
- Retries with exponential backoff and jitter on 429, 5xx, time-outs and dropped connections,
  honouring ``Retry-After``; other 4xx fail that request at once (a retry would get the same).
- 401/403 raise :class:`~verl_videorft.cot.engines.AuthError` naming the URL and the environment
  variable the key is read from: every other request would fail the same way.
- Frames travel as ``image_url`` data URLs (JPEG), each after a ``Frame at t s:`` label: the one
  multi-image form that vLLM, SGLang and hosted APIs all take.
- A reasoning model served with a reasoning parser returns its thinking in ``reasoning_content``;
  it is put back as ``<think>...</think>`` in front of the answer.
"""

from __future__ import annotations

import base64
import io
import os
import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from verl_videorft.cot.requests import AuthError, Reply, Request, error_text
from verl_videorft.cot.settings import HttpSettings


def data_url(frame: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> str:
    """A ``data:image/...;base64,`` URL of one uint8 RGB frame."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, format=fmt.upper(), quality=quality)
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def chat_body(req: Request, model: str, settings: HttpSettings) -> dict[str, Any]:
    """The JSON body of one request (frames as labelled images before the first user text)."""
    messages: list[dict[str, Any]] = []
    placed = req.frames is None
    for m in req.messages:
        if m["role"] == "user" and not placed:
            parts: list[dict[str, Any]] = []
            for i, frame in enumerate(req.frames):
                if not req.is_image:
                    t = req.timestamps[i] if i < len(req.timestamps) else float(i)
                    parts.append({"type": "text", "text": f"Frame at {t:.1f} s:"})
                parts.append({"type": "image_url",
                              "image_url": {"url": data_url(frame, settings.image_format, settings.image_quality)}})
            parts.append({"type": "text", "text": m["content"]})
            messages.append({"role": "user", "content": parts})
            placed = True
        else:
            messages.append({"role": m["role"], "content": m["content"]})
    temp = req.temperature()
    body = {"model": model, "messages": messages, "max_tokens": req.gen.max_new_tokens,
            "temperature": max(temp, 0.0), "seed": req.gen.seed}
    if temp > 0:
        body["top_p"] = req.gen.top_p
    return body


def reply_of(payload: dict[str, Any]) -> Reply:
    """Text and token counts of a chat-completions response; ``error`` when it has no text."""
    try:
        message = payload["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return Reply("", error=f"response without choices[0].message: {str(payload)[:300]}")
    text = message.get("content") or ""
    thinking = message.get("reasoning_content") or message.get("reasoning") or ""
    if thinking and "<think>" not in text:
        text = f"<think>{thinking}</think>{text}"
    usage = payload.get("usage") or {}
    return Reply(text, tokens_in=int(usage.get("prompt_tokens") or 0),
                 tokens_out=int(usage.get("completion_tokens") or 0))


class OpenAIEngine:
    """Chat completions against one endpoint and model, ``concurrency`` requests at a time."""

    name = "openai"

    def __init__(self, model: str, base_url: str, settings: HttpSettings | None = None):
        import httpx

        self.model = model
        self.settings = s = settings or HttpSettings()
        self.url = base_url.rstrip("/") + "/chat/completions"
        key = os.environ.get(s.api_key_env, "")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=s.timeout_s,
                                    limits=httpx.Limits(max_connections=max(1, s.concurrency)))
        self._pool = ThreadPoolExecutor(max(1, s.concurrency), thread_name_prefix="cot-http")
        self._stop = threading.Event()

    def _auth_error(self, code: int, text: str) -> AuthError:
        env = self.settings.api_key_env
        state = "set" if os.environ.get(env) else "not set"
        return AuthError(f"{self.url}: HTTP {code} {text[:200].strip()!r}: the endpoint refused the "
                         f"credentials; the API key is read from ${env} ({state})")

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        s = self.settings
        delay = min(s.max_backoff_s, s.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            delay = min(s.max_backoff_s, float(retry_after))
        self._stop.wait(delay)

    def post(self, req: Request) -> Reply:
        """One request with retries; raises :class:`AuthError` on 401/403."""
        import httpx

        body = chat_body(req, self.model, self.settings)
        last = "not sent"
        for attempt in range(self.settings.max_retries + 1):
            if self._stop.is_set():
                return Reply("", error="stopped: another request failed authentication")
            retry_after = None
            try:
                resp = self._client.post(self.url, json=body, headers=self._headers)
            except httpx.TimeoutException:
                last = f"timed out after {self.settings.timeout_s:g} s"
            except httpx.TransportError as err:
                last = error_text(err)
            else:
                code = resp.status_code
                if code in (401, 403):
                    raise self._auth_error(code, resp.text)
                if code < 400:
                    try:
                        return reply_of(resp.json())
                    except ValueError:
                        return Reply("", error=f"HTTP {code}: response is not JSON: {resp.text[:200]!r}")
                last = f"HTTP {code}: {resp.text[:300]}"
                if code != 429 and code < 500:
                    return Reply("", error=last)  # a bad request stays bad
                retry_after = resp.headers.get("retry-after")
            if attempt < self.settings.max_retries:
                self._wait(attempt, retry_after)
        return Reply("", error=f"gave up after {self.settings.max_retries + 1} attempts: {last}")

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        futures = [self._pool.submit(self.post, r) for r in requests]
        replies: list[Reply] = []
        for fut in futures:
            try:
                replies.append(fut.result())
            except AuthError:
                self._stop.set()
                for other in futures:
                    other.cancel()
                raise
        return replies

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
