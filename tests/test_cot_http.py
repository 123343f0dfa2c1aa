"""The OpenAI-compatible HTTP engine against servers on 127.0.0.1: a small FastAPI server that can be
made to fail (500, 401, 400, slow replies) and ``transformers serve`` with a tiny local model."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from fastapi import Request as HttpRequest  # module level: FastAPI resolves the handler's annotation here

from verl_videorft.cot.http_engine import OpenAIEngine
from verl_videorft.cot.requests import AuthError, Request
from verl_videorft.cot.scripted import DESCRIPTION, ScriptedEngine
from verl_videorft.cot.settings import GenSettings, HttpSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultServer:
    """/v1/chat/completions that answers from a plan: status codes to return first, a delay, a key."""

    def __init__(self):
        import uvicorn
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse

        self.plan = {"fail": [], "delay": 0.0, "delay_first": 0, "key": None}
        self.bodies: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: HttpRequest):
            body = await request.json()
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                plan = self.plan
                if plan["key"] and request.headers.get("authorization") != f"Bearer {plan['key']}":
                    return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
                if plan["delay_first"] > 0:
                    plan["delay_first"] -= 1
                    await asyncio.sleep(plan["delay"])
                if plan["fail"]:
                    return JSONResponse({"error": "injected"}, status_code=plan["fail"].pop(0))
                text = json.dumps(body)
                reply = json.dumps(DESCRIPTION) if "JSON object" in text else "<think>ok.</think><answer>A</answer>"
                return {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7}}
            finally:
                self.in_flight -= 1

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def server():
    srv = FaultServer()
    yield srv
    srv.stop()


@pytest.fixture
def fresh(server):
    deadline = time.time() + 10
    while server.in_flight and time.time() < deadline:  # handlers of abandoned (timed-out) requests
        time.sleep(0.05)
    server.plan.update(fail=[], delay=0.0, delay_first=0, key=None)
    server.bodies.clear()
    server.max_in_flight = 0
    return server


def engine(server, **kw) -> OpenAIEngine:
    return OpenAIEngine("tiny", server.url, HttpSettings(**{"backoff_s": 0.01, "max_retries": 2, **kw}))


def text_request() -> Request:
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "why?"}]
    return Request(msgs, GenSettings(max_new_tokens=5))


def video_request() -> Request:
    frames = np.zeros((4, 28, 56, 3), np.uint8)
    frames[:, :, :28] = 255
    return Request([{"role": "user", "content": "Write one JSON object"}], GenSettings(), frames,
                   {"backend": "decord"}, [0.0, 1.0, 2.0, 3.0])


def test_video_reply_is_the_description(fresh):
    (reply,) = engine(fresh).generate([video_request()])
    assert (reply.error, json.loads(reply.text), reply.tokens_in, reply.tokens_out) == (None, DESCRIPTION, 11, 7)


def _sent_parts(fresh) -> list[dict]:
    engine(fresh).generate([video_request()])
    return fresh.bodies[0]["messages"][0]["content"]


def test_each_frame_is_labelled_with_its_time(fresh):
    labels = [p["text"] for p in _sent_parts(fresh) if p["type"] == "text"]
    assert labels[:2] == ["Frame at 0.0 s:", "Frame at 1.0 s:"]


def test_frames_travel_as_jpeg_data_urls(fresh):
    urls = [p["image_url"]["url"] for p in _sent_parts(fresh) if p["type"] == "image_url"]
    assert len(urls) == 4 and all(u.startswith("data:image/jpeg;base64,") for u in urls)


def test_a_sent_frame_decodes_to_the_frame(fresh):
    from PIL import Image

    url = next(p["image_url"]["url"] for p in _sent_parts(fresh) if p["type"] == "image_url")
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert img.shape == (28, 56, 3) and img[:, :20].mean() > 240 and img[:, 36:].mean() < 15  # white | black


def test_text_request_body_is_plain_chat(fresh):
    engine(fresh).generate([text_request()])
    body = fresh.bodies[0]
    assert body["messages"] == [{"role": "system", "content": "s"}, {"role": "user", "content": "why?"}]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("tiny", 5, 0.2)


def test_server_errors_are_retried_with_backoff(fresh):
    fresh.plan["fail"] = [500, 503]
    (reply,) = engine(fresh).generate([text_request()])
    assert reply.error is None and reply.text.endswith("<answer>A</answer>") and len(fresh.bodies) == 3


def test_persistent_server_error_fails_that_request_only(fresh):
    fresh.plan["fail"] = [500] * 3
    replies = engine(fresh, concurrency=1).generate([text_request(), text_request()])
    assert replies[0].error.startswith("gave up after 3 attempts: HTTP 500") and replies[1].error is None


def test_bad_request_is_not_retried(fresh):
    fresh.plan["fail"] = [400]
    (reply,) = engine(fresh).generate([text_request()])
    assert reply.error.startswith("HTTP 400") and len(fresh.bodies) == 1


def test_time_out_is_retried_then_reported(fresh):
    fresh.plan.update(delay=1.5, delay_first=10)
    (reply,) = engine(fresh, timeout_s=0.3, max_retries=1).generate([text_request()])
    assert reply.error == "gave up after 2 attempts: timed out after 0.3 s"


def test_slow_first_reply_recovers_on_retry(fresh):
    fresh.plan.update(delay=1.5, delay_first=1)
    (reply,) = engine(fresh, timeout_s=0.5, max_retries=1).generate([text_request()])
    assert reply.error is None


def test_bad_key_raises_auth_error_naming_the_variable(fresh, monkeypatch):
    fresh.plan["key"] = "right"
    monkeypatch.setenv("COT_TEST_KEY", "wrong")
    with pytest.raises(AuthError, match=r"HTTP 401 .*invalid api key.*\$COT_TEST_KEY \(set\)"):
        engine(fresh, api_key_env="COT_TEST_KEY").generate([text_request()] * 3)
    assert len(fresh.bodies) <= 3  # no retries of a refused key


def test_right_key_is_sent_as_bearer(fresh, monkeypatch):
    fresh.plan["key"] = "right"
    monkeypatch.setenv("COT_TEST_KEY", "right")
    assert engine(fresh, api_key_env="COT_TEST_KEY").generate([text_request()])[0].error is None


def test_concurrency_limit_bounds_requests_in_flight(fresh):
    fresh.plan.update(delay=0.2, delay_first=100)
    replies = engine(fresh, concurrency=2).generate([text_request()] * 6)
    assert all(r.error is None for r in replies) and fresh.max_in_flight == 2


def test_cli_reports_auth_failure_in_one_line_and_exit_2(fresh, tmp_path, monkeypatch, capsys):
    from verl_videorft.cli import main
    from verl_videorft.data.demo_set import make_demo_data

    demo = make_demo_data(tmp_path / "demo", n_train=1, n_val=1, frames=8)["train"]
    fresh.plan["key"] = "right"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rc = main(["cot", "build", str(demo), "--out", str(tmp_path / "out"), "--engine", "openai", "--model", "m",
               "--base-url", fresh.url, "--stages", "describe", "--quiet", "--frame-pixels", "3136"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("videorft cot: authentication failed: ")
    assert "$OPENAI_API_KEY (not set)" in err[-1]


@pytest.fixture(scope="module")
def transformers_serve(tiny_qwen):
    """``transformers serve`` (needs the ``openai`` package) with the tiny model, CPU, offline."""
    pytest.importorskip("openai")
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([exe, "serve", str(tiny_qwen), "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    import httpx

    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            httpx.get(url + "/models", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(30)


@pytest.mark.slow
def test_reason_stage_through_transformers_serve(transformers_serve, tiny_qwen, tiny_siglip, tmp_path):
    from verl_videorft.cot.runner import CotJob, build
    from verl_videorft.cot.settings import CotSettings, EngineSpec
    from verl_videorft.data.demo_set import make_demo_data

    demo = make_demo_data(tmp_path / "demo", n_train=2, n_val=1, frames=8)["train"]
    recs = [json.loads(line) for line in demo.read_text().splitlines()]
    spec = EngineSpec("openai", str(tiny_qwen), transformers_serve)
    gen = {s: GenSettings(max_new_tokens=8) for s in ("describe", "reason", "revise")}
    job = CotJob([str(demo)], tmp_path / "out", stages=["describe", "reason"], engines={"reason": spec},
                 settings=CotSettings(frame_pixels=3136, max_frames=4, max_attempts=1, gen=gen), progress=False)
    stats = build(job, engines={"describe": ScriptedEngine(recs)})
    r = stats["stages"]["reason"]
    # the random model's 8 tokens never hold an <answer>: counted as failures, with the server's usage
    assert r["failed"] == 2 and r["tokens_in"] > 2 * 100 and r["tokens_out"] == 2 * 8
    assert stats["dropped"] == {"reason_failed": 2}
