"""The llama-server double against the real llama-server built here (the CPU build, the tiny
model): the same requests to both, answer by answer: HTTP status, content type, and the shape of
the JSON (every key, nested, and the JSON type of its value). Values differ by nature (paths, times,
text) and are left out; the keys and types are what a client reads, so they must match."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from xpu_testkit.doubles.llama_cpp import LlamaCppDouble
from xpu_testkit.services.llama_server import BUILDS, LlamaServer, binary_for
from xpu_tool.services.llama_cpp.check import N_PREDICT, PROMPT
from xpu_tool.services.tiny_gguf import write_tiny_llama

Shape = Any
REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/health", None),
    ("GET", "/props", None),
    ("GET", "/v1/models", None),
    (
        "POST",
        "/completion",
        {"prompt": PROMPT, "n_predict": N_PREDICT, "temperature": 0, "seed": 42, "cache_prompt": False},
    ),
    ("GET", "/no-such-endpoint", None),
]


def shape(value: Any) -> Shape:
    """Keys and JSON types, nested; a list by the shape of its items (their set, in order met)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        seen: list[Shape] = []
        for item in value:
            if shape(item) not in seen:
                seen.append(shape(item))
        return seen
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return "number"  # JSON has one number type: 0.0 and 0 are the same to a client
    return type(value).__name__


def answer(url: str, method: str, path: str, body: dict[str, Any] | None) -> Shape:
    r = requests.request(method, url + path, json=body, timeout=120)
    return r.status_code, r.headers.get("Content-Type", "").split(";")[0], shape(r.json())


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    binary = binary_for("cpu")
    if binary is None:
        pytest.skip(f"{BUILDS['cpu']} is unset: no llama-server to hold the double to (bootstrap.sh test builds it)")
    model = write_tiny_llama(tmp_path_factory.mktemp("models") / "xpu-tiny.gguf", seed=1).path
    with LlamaServer(Path(binary), model) as server:
        yield server


@pytest.mark.parametrize("method, path, body", REQUESTS, ids=[f"{m} {p}" for m, p, _ in REQUESTS])
def test_the_double_answers_like_the_real_server(
    real: LlamaServer, method: str, path: str, body: dict[str, Any] | None
) -> None:
    with LlamaCppDouble() as double:
        assert answer(double.url, method, path, body) == answer(real.url, method, path, body)


def test_the_double_generates_as_asked_like_the_real_server(real: LlamaServer) -> None:
    """n_predict decides the count in both; the timings count the same tokens."""
    body: dict[str, Any] = {"prompt": PROMPT, "n_predict": 4, "temperature": 0, "seed": 42, "cache_prompt": False}
    with LlamaCppDouble() as double:
        for url in (real.url, double.url):
            got = requests.post(url + "/completion", json=body, timeout=120).json()
            assert got["tokens_predicted"] == got["timings"]["predicted_n"] == 4, url
