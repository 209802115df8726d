"""ComfyUI workflows: the two that ship with the package, made fresh for each run (new colours, a
new seed, so ComfyUI's cache cannot answer them), and the record of one run from /ws's messages.

``model-free``: two EmptyImages composited and saved (no model files, a 64x64 two-colour image; in
ComfyUI 0.8 these nodes run on the CPU whatever the device). ``one-step-sd15``: one KSampler step
at 64x64 from a checkpoint named xpu-tiny-sd15.safetensors, which the server must have (the test
kit's ``xpu tiny-checkpoint`` writes one). Only the second runs a model on the device.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

# the checkpoint the one-step-sd15 workflow names; the test kit's `xpu tiny-checkpoint` writes one
CHECKPOINT_NAME = "xpu-tiny-sd15.safetensors"

WORKFLOWS = ("model-free", "one-step-sd15")
MODEL_WORKFLOW = "one-step-sd15"


def load_workflow(name: str) -> dict[str, Any]:
    if name not in WORKFLOWS:
        raise ValueError(f"unknown workflow {name!r} (known: {', '.join(WORKFLOWS)})")
    workflow: dict[str, Any] = json.loads(resources.files("xpu_tool.workflows").joinpath(f"{name}.json").read_text())
    return workflow


def _links(node: dict[str, Any]) -> Iterable[str]:
    for value in node.get("inputs", {}).values():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            yield value[0]


def downstream(workflow: dict[str, Any], nodes: Iterable[str]) -> frozenset[str]:
    """``nodes`` and every node that takes an input from them, directly or through others."""
    found = set(nodes)
    grew = True
    while grew:
        grew = False
        for node_id, node in workflow.items():
            if node_id not in found and any(source in found for source in _links(node)):
                found.add(node_id)
                grew = True
    return frozenset(found)


@dataclass(frozen=True)
class Fresh:
    """A workflow made different from every earlier one, and what must execute because of it."""

    workflow: dict[str, Any]
    changed: frozenset[str]  # nodes whose inputs were made new
    colours: frozenset[tuple[int, int, int]]  # the EmptyImage colours chosen, as RGB

    @property
    def must_execute(self) -> frozenset[str]:
        return downstream(self.workflow, self.changed)


def fresh_workflow(
    workflow: dict[str, Any], rng: random.Random | None = None, *, checkpoint: str | None = None
) -> Fresh:
    """New EmptyImage colours (all different) and sampler seeds, so ComfyUI's cache cannot serve
    the outputs; ``checkpoint`` replaces the checkpoint loaders' file name."""
    rng = rng or random.Random()
    workflow = copy.deepcopy(workflow)
    changed: set[str] = set()
    colours: set[tuple[int, int, int]] = set()
    for node_id, node in workflow.items():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "EmptyImage":
            while True:
                rgb = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
                if rgb not in colours:
                    break
            colours.add(rgb)
            inputs["color"] = rgb[0] << 16 | rgb[1] << 8 | rgb[2]
            changed.add(node_id)
        elif kind == "KSampler":
            inputs["seed"] = rng.randrange(1 << 48)
            changed.add(node_id)
        elif kind == "CheckpointLoaderSimple" and checkpoint:
            inputs["ckpt_name"] = checkpoint
    return Fresh(workflow, frozenset(changed), frozenset(colours))


@dataclass(frozen=True)
class Run:
    prompt_id: str
    events: tuple[dict[str, Any], ...]
    status: str  # "success" | "error"
    outputs: dict[str, Any]
    error: dict[str, Any] | None
    seconds: float
    arrivals: tuple[float, ...] = ()  # time.monotonic() when each event arrived

    @property
    def progress_steps(self) -> int:
        return sum(1 for e in self.events if e.get("type") == "progress")

    @property
    def executed_nodes(self) -> frozenset[str]:
        """Nodes ComfyUI announced with ``executing``: it ran them in this prompt."""
        return frozenset(
            str(e["data"]["node"])
            for e in self.events
            if e.get("type") == "executing" and (e.get("data") or {}).get("node") is not None
        )

    @property
    def cached_nodes(self) -> frozenset[str]:
        """Nodes ComfyUI served from its cache (``execution_cached``)."""
        return frozenset(
            str(n)
            for e in self.events
            if e.get("type") == "execution_cached"
            for n in (e.get("data") or {}).get("nodes", [])
        )

    def not_executed(self, nodes: Iterable[str]) -> list[str]:
        """Those of ``nodes`` this run did not execute (cached, or never reached)."""
        return sorted(n for n in nodes if n not in self.executed_nodes or n in self.cached_nodes)
