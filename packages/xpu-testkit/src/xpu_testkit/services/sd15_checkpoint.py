"""A random-weight Stable Diffusion 1.5 checkpoint that ComfyUI loads as SD1.5 (about 466 MB).

The one-step-sd15 workflow needs a checkpoint; a real one is 2-4 GB and must be downloaded. This
one has the tensors of an SD1.5 checkpoint file with the UNet cut down to a single level (320
channels, two residual blocks with a cross-attention transformer each, context dimension 768),
the full CLIP-L text encoder and the standard SD VAE, in float16, with random weights. It
computes nothing meaningful, but every node of the workflow really runs: the text encoder, the
sampler steps through the UNet, the VAE decoder.

The same seed gives the same bytes: each tensor comes from a generator seeded with the seed and
the tensor's name, and the tensors are written in name order.

    python -m xpu_testkit.services.sd15_checkpoint MODELS/checkpoints/xpu-tiny-sd15.safetensors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from xpu_tool.atomic import write_atomically
from xpu_tool.services.comfyui import CHECKPOINT_NAME as NAME

Shape = tuple[int, ...]

UNET = "model.diffusion_model."
CLIP = "cond_stage_model.transformer.text_model."
VAE = "first_stage_model."
CHANNELS, TIME_DIM, CONTEXT = 320, 1280, 768


def _linear(name: str, n_out: int, n_in: int, bias: bool = True) -> Iterator[tuple[str, Shape]]:
    yield f"{name}.weight", (n_out, n_in)
    if bias:
        yield f"{name}.bias", (n_out,)


def _conv(name: str, n_out: int, n_in: int, k: int) -> Iterator[tuple[str, Shape]]:
    yield f"{name}.weight", (n_out, n_in, k, k)
    yield f"{name}.bias", (n_out,)


def _norm(name: str, n: int) -> Iterator[tuple[str, Shape]]:
    yield f"{name}.weight", (n,)
    yield f"{name}.bias", (n,)


def _unet_res(p: str, n_in: int, n_out: int) -> Iterator[tuple[str, Shape]]:
    yield from _norm(f"{p}in_layers.0", n_in)
    yield from _conv(f"{p}in_layers.2", n_out, n_in, 3)
    yield from _linear(f"{p}emb_layers.1", n_out, TIME_DIM)
    yield from _norm(f"{p}out_layers.0", n_out)
    yield from _conv(f"{p}out_layers.3", n_out, n_out, 3)
    if n_in != n_out:
        yield from _conv(f"{p}skip_connection", n_out, n_in, 1)


def _unet_transformer(p: str, c: int) -> Iterator[tuple[str, Shape]]:
    yield from _norm(f"{p}norm", c)
    yield from _conv(f"{p}proj_in", c, c, 1)
    b = f"{p}transformer_blocks.0."
    for attn, context in (("attn1", c), ("attn2", CONTEXT)):
        yield from _linear(f"{b}{attn}.to_q", c, c, bias=False)
        yield from _linear(f"{b}{attn}.to_k", c, context, bias=False)
        yield from _linear(f"{b}{attn}.to_v", c, context, bias=False)
        yield from _linear(f"{b}{attn}.to_out.0", c, c)
    yield from _linear(f"{b}ff.net.0.proj", c * 8, c)  # GEGLU: twice the inner width
    yield from _linear(f"{b}ff.net.2", c, c * 4)
    for i in (1, 2, 3):
        yield from _norm(f"{b}norm{i}", c)
    yield from _conv(f"{p}proj_out", c, c, 1)


def unet_shapes() -> Iterator[tuple[str, Shape]]:
    """One level: input blocks conv_in + 2 x (res, transformer), the middle, 3 output blocks."""
    c, p = CHANNELS, UNET
    yield from _linear(f"{p}time_embed.0", TIME_DIM, c)
    yield from _linear(f"{p}time_embed.2", TIME_DIM, TIME_DIM)
    yield from _conv(f"{p}input_blocks.0.0", c, 4, 3)
    for i in (1, 2):
        yield from _unet_res(f"{p}input_blocks.{i}.0.", c, c)
        yield from _unet_transformer(f"{p}input_blocks.{i}.1.", c)
    yield from _unet_res(f"{p}middle_block.0.", c, c)
    yield from _unet_transformer(f"{p}middle_block.1.", c)
    yield from _unet_res(f"{p}middle_block.2.", c, c)
    for i in range(3):  # each takes the skip of one input block: 320 + 320 channels in
        yield from _unet_res(f"{p}output_blocks.{i}.0.", 2 * c, c)
        yield from _unet_transformer(f"{p}output_blocks.{i}.1.", c)
    yield from _norm(f"{p}out.0", c)
    yield from _conv(f"{p}out.2", 4, c, 3)


def clip_l_shapes() -> Iterator[tuple[str, Shape]]:
    """OpenAI CLIP ViT-L/14's text encoder: 12 layers, width 768, 49408 tokens, 77 positions."""
    p, w = CLIP, 768
    yield f"{p}embeddings.token_embedding.weight", (49408, w)
    yield f"{p}embeddings.position_embedding.weight", (77, w)
    for i in range(12):
        layer = f"{p}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            yield from _linear(f"{layer}self_attn.{proj}", w, w)
        yield from _norm(f"{layer}layer_norm1", w)
        yield from _linear(f"{layer}mlp.fc1", 4 * w, w)
        yield from _linear(f"{layer}mlp.fc2", w, 4 * w)
        yield from _norm(f"{layer}layer_norm2", w)
    yield from _norm(f"{p}final_layer_norm", w)


def _vae_res(p: str, n_in: int, n_out: int) -> Iterator[tuple[str, Shape]]:
    yield from _norm(f"{p}norm1", n_in)
    yield from _conv(f"{p}conv1", n_out, n_in, 3)
    yield from _norm(f"{p}norm2", n_out)
    yield from _conv(f"{p}conv2", n_out, n_out, 3)
    if n_in != n_out:
        yield from _conv(f"{p}nin_shortcut", n_out, n_in, 1)


def _vae_mid(p: str, c: int) -> Iterator[tuple[str, Shape]]:
    yield from _vae_res(f"{p}mid.block_1.", c, c)
    yield from _norm(f"{p}mid.attn_1.norm", c)
    for proj in ("q", "k", "v", "proj_out"):
        yield from _conv(f"{p}mid.attn_1.{proj}", c, c, 1)
    yield from _vae_res(f"{p}mid.block_2.", c, c)


def vae_shapes() -> Iterator[tuple[str, Shape]]:
    """The SD VAE: 128 channels times (1, 2, 4, 4), 2 residual blocks a level, 4 latent channels."""
    widths = [128 * m for m in (1, 2, 4, 4)]
    e, d = f"{VAE}encoder.", f"{VAE}decoder."
    yield from _conv(f"{e}conv_in", 128, 3, 3)
    n_in = 128
    for level, width in enumerate(widths):
        for j in range(2):
            yield from _vae_res(f"{e}down.{level}.block.{j}.", n_in, width)
            n_in = width
        if level < len(widths) - 1:
            yield from _conv(f"{e}down.{level}.downsample.conv", width, width, 3)
    yield from _vae_mid(e, 512)
    yield from _norm(f"{e}norm_out", 512)
    yield from _conv(f"{e}conv_out", 8, 512, 3)
    yield from _conv(f"{VAE}quant_conv", 8, 8, 1)
    yield from _conv(f"{VAE}post_quant_conv", 4, 4, 1)
    yield from _conv(f"{d}conv_in", 512, 4, 3)
    yield from _vae_mid(d, 512)
    n_in = 512
    for level in reversed(range(len(widths))):
        for j in range(3):
            yield from _vae_res(f"{d}up.{level}.block.{j}.", n_in, widths[level])
            n_in = widths[level]
        if level > 0:
            yield from _conv(f"{d}up.{level}.upsample.conv", n_in, n_in, 3)
    yield from _norm(f"{d}norm_out", 128)
    yield from _conv(f"{d}conv_out", 3, 128, 3)


def tensor_shapes() -> dict[str, Shape]:
    """Every tensor of the checkpoint, by name, in name order."""
    return dict(sorted([*unet_shapes(), *clip_l_shapes(), *vae_shapes()]))


def tensor(name: str, shape: Shape, seed: int) -> bytes:
    """float16 little-endian bytes: norm scales 1, biases 0, weights normal with std 1/sqrt(fan-in)."""
    import numpy as np  # noqa: PLC0415 - only writing a checkpoint needs it

    if len(shape) == 1:
        value = 1.0 if name.endswith(".weight") else 0.0
        return np.full(shape, value, dtype="<f2").tobytes()
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:8], "little")))
    values = rng.standard_normal(shape, dtype=np.float32) / math.sqrt(math.prod(shape[1:]))
    return values.astype("<f2").tobytes()


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    size: int
    sha256: str


def header(shapes: dict[str, Shape], seed: int) -> bytes:
    """The safetensors header: its length (u64 little-endian), then JSON padded to 8 bytes."""
    entries: dict[str, object] = {
        "__metadata__": {"format": "pt", "generator": "xpu-testkit sd15_checkpoint", "seed": str(seed)}
    }
    offset = 0
    for name, shape in shapes.items():
        end = offset + 2 * math.prod(shape)
        entries[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(entries, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def write_checkpoint(path: Path, seed: int = 0) -> Checkpoint:
    """Write the checkpoint to ``path`` whole or not at all (``atomic.write_atomically``: a full disk
    or Ctrl-C leaves no half checkpoint, and a device at ``path`` is never replaced)."""
    shapes = tensor_shapes()
    digest = hashlib.sha256()

    def write(partial: Path) -> None:
        with open(partial, "wb") as out:
            for chunk in (header(shapes, seed), *(tensor(n, s, seed) for n, s in shapes.items())):
                out.write(chunk)
                digest.update(chunk)

    write_atomically(path, write)
    return Checkpoint(path, path.stat().st_size, digest.hexdigest())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xpu_testkit.services.sd15_checkpoint", description=__doc__.split("\n")[0]
    )
    parser.add_argument("path", type=Path, help=f"where to write it, e.g. ComfyUI/models/checkpoints/{NAME}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.path.parent.is_dir():
        print(f"sd15_checkpoint: {args.path.parent}: not a directory", file=sys.stderr)
        return 2
    made = write_checkpoint(args.path, args.seed)
    print(f"{made.path} {made.size} bytes sha256:{made.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
