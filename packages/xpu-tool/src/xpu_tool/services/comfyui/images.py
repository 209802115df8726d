"""The images a ComfyUI run saved: named in its outputs, fetched with /view, decoded and measured
(``ImageCheck``: size, number of colours, the palette), and judged against what the fresh workflow
asked for."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import cast

from ... import http
from ...model import Finding, Severity
from .client import ComfyClient, ComfyError
from .workflow import Fresh, Run


@dataclass(frozen=True)
class ImageCheck:
    filename: str
    width: int
    height: int
    colours: int  # distinct colours: 1 means blank
    palette: frozenset[tuple[int, int, int]] = frozenset()  # the RGB colours, where there are at most 16

    @property
    def blank(self) -> bool:
        return self.colours <= 1


def check_image(data: bytes, filename: str) -> ImageCheck:
    from PIL import Image  # noqa: PLC0415 - only checking an image needs Pillow

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        rgb = img.convert("RGB")
        # an RGB image's colours are (r, g, b) triples: Pillow annotates getcolors for every mode
        colours = cast("list[tuple[int, tuple[int, int, int]]] | None", rgb.getcolors(maxcolors=1 << 16))
        palette = frozenset(c for _, c in colours) if colours is not None and len(colours) <= 16 else frozenset()
        return ImageCheck(filename, img.width, img.height, len(colours) if colours is not None else 1 << 16, palette)


def run_images(run: Run) -> list[dict[str, str]]:
    """The images the run's outputs name, each with a file name."""
    images = [
        image for output in run.outputs.values() if isinstance(output, dict) for image in (output.get("images") or [])
    ]
    if not all(isinstance(i, dict) and isinstance(i.get("filename"), str) for i in images):
        raise ComfyError(
            f"GET /history/{run.prompt_id}: outputs name images without a filename: {http.quote(json.dumps(images))}",
            kind="bad-body",
        )
    return images


def fetch_image(client: ComfyClient, image: dict[str, str]) -> ImageCheck:
    from PIL import Image  # noqa: PLC0415 - only checking an image needs Pillow (as in check_image)

    data = client.view(image)
    try:
        return check_image(data, image["filename"])
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
        raise ComfyError(
            f"GET /view: {image['filename']} is not an image ({exc}): {http.quote(data, 60)}", kind="bad-body"
        ) from None


def image_findings(images: list[ImageCheck], fresh: Fresh, size: tuple[int, int]) -> list[Finding]:
    findings = []
    for image in images:
        problems = []
        if (image.width, image.height) != size:
            problems.append(f"{image.width}x{image.height}, expected {size[0]}x{size[1]}")
        if image.blank:
            problems.append("blank (one colour)")
        elif fresh.colours and image.palette != fresh.colours:  # the composite shows exactly the colours asked for
            problems.append(f"colours {sorted(image.palette)}, this run asked for {sorted(fresh.colours)}")
        if problems:
            findings.append(
                Finding(
                    "comfyui-bad-image",
                    Severity.FAIL,
                    f"{image.filename} is not the expected image",
                    tuple(problems),
                    fix="read the ComfyUI log",
                )
            )
    if not images:
        findings.append(
            Finding(
                "comfyui-no-output", Severity.FAIL, "the workflow produced no image", (), fix="read the ComfyUI log"
            )
        )
    return findings
