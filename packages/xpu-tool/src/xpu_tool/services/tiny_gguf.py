"""A tiny llama-architecture GGUF model: valid for llama.cpp and Ollama, well under 1 MB.

Byte-level tokenizer (SentencePiece-style byte fallback: the 256 tokens <0x00>..<0xFF> plus
<unk>, <s>, </s> and the word-boundary piece "▁"), 2 layers of width 64, float32 weights. It
produces nonsense, quickly: it exists so a service test can create a model and generate text
offline.

Written with the standard library only (the host tool carries neither gguf nor numpy), in GGUF
version 3 as gguf's GGUFWriter lays it out: header, metadata, tensor infos, tensor data aligned to
32 bytes. Weights: the norms are ones, every other tensor is normal(0, 0.02) drawn from
``random.Random(seed).random()`` (Mersenne Twister; Python keeps that sequence stable for an
integer seed across versions) through the Box-Muller transform, rounded to float32. The same seed
gives the same file, byte for byte; generating it takes about 0.1 s.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomically

ARCH = "llama"
N_EMBD, N_LAYER, N_HEAD, N_FF, N_CTX = 64, 2, 4, 128, 256
SPECIALS = [("<unk>", 2), ("<s>", 3), ("</s>", 3), ("\u2581", 1)]  # token types: 1 normal, 2 unknown, 3 control
TOKEN_TYPE_BYTE = 6
N_VOCAB = len(SPECIALS) + 256
WEIGHT_STD = 0.02

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32  # GGUF's default: no general.alignment key is written
FILE_TYPE_ALL_F32 = 0  # llama.cpp's LLAMA_FTYPE_ALL_F32
GGML_TYPE_F32 = 0

# GGUF metadata value types (gguf.GGUFValueType)
UINT32, INT32, FLOAT32, STRING, ARRAY = 4, 5, 6, 8, 9
_SCALAR_FORMAT = {UINT32: "<I", INT32: "<i", FLOAT32: "<f"}


@dataclass(frozen=True)
class TinyModel:
    path: Path
    seed: int
    sha256: str
    size: int
    n_vocab: int = N_VOCAB


def tensor_shapes() -> dict[str, tuple[int, ...]]:
    """Tensor names and numpy shapes (out, in) as llama.cpp's llama architecture expects them."""
    shapes: dict[str, tuple[int, ...]] = {
        "token_embd.weight": (N_VOCAB, N_EMBD),
        "output_norm.weight": (N_EMBD,),
        "output.weight": (N_VOCAB, N_EMBD),
    }
    for i in range(N_LAYER):
        shapes |= {
            f"blk.{i}.attn_norm.weight": (N_EMBD,),
            f"blk.{i}.attn_q.weight": (N_EMBD, N_EMBD),
            f"blk.{i}.attn_k.weight": (N_EMBD, N_EMBD),
            f"blk.{i}.attn_v.weight": (N_EMBD, N_EMBD),
            f"blk.{i}.attn_output.weight": (N_EMBD, N_EMBD),
            f"blk.{i}.ffn_norm.weight": (N_EMBD,),
            f"blk.{i}.ffn_gate.weight": (N_FF, N_EMBD),
            f"blk.{i}.ffn_up.weight": (N_FF, N_EMBD),
            f"blk.{i}.ffn_down.weight": (N_EMBD, N_FF),
        }
    return shapes


def metadata(seed: int) -> list[tuple[str, int, object]]:
    """The model's metadata in file order: (key, GGUF value type, value); an array's type is
    ARRAY and its value (element type, items)."""
    tokens = [t for t, _ in SPECIALS] + [f"<0x{b:02X}>" for b in range(256)]
    return [
        ("general.architecture", STRING, ARCH),
        ("general.name", STRING, f"xpu-tiny-llama-seed{seed}"),
        (f"{ARCH}.context_length", UINT32, N_CTX),
        (f"{ARCH}.embedding_length", UINT32, N_EMBD),
        (f"{ARCH}.block_count", UINT32, N_LAYER),
        (f"{ARCH}.feed_forward_length", UINT32, N_FF),
        (f"{ARCH}.attention.head_count", UINT32, N_HEAD),
        (f"{ARCH}.attention.head_count_kv", UINT32, N_HEAD),
        (f"{ARCH}.rope.dimension_count", UINT32, N_EMBD // N_HEAD),
        (f"{ARCH}.attention.layer_norm_rms_epsilon", FLOAT32, 1e-5),
        ("general.file_type", UINT32, FILE_TYPE_ALL_F32),
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.scores", ARRAY, (FLOAT32, [0.0] * len(SPECIALS) + [-1.0] * 256)),
        ("tokenizer.ggml.token_type", ARRAY, (INT32, [k for _, k in SPECIALS] + [TOKEN_TYPE_BYTE] * 256)),
        ("tokenizer.ggml.unknown_token_id", UINT32, 0),
        ("tokenizer.ggml.bos_token_id", UINT32, 1),
        ("tokenizer.ggml.eos_token_id", UINT32, 2),
    ]


class ModelWriteError(OSError):
    """The model could not be written (a full disk, a file size limit, a read-only folder); nothing
    is left under its name."""


def write_tiny_llama(path: str | Path, seed: int = 0) -> TinyModel:
    """Write the model to ``path`` (whole or not at all) and describe it; ModelWriteError when it
    cannot be written."""
    path = Path(path)
    blob = gguf_bytes(seed)
    try:
        write_atomically(path, lambda part: part.write_bytes(blob))
    except OSError as exc:
        raise ModelWriteError(exc.errno, exc.strerror or str(exc), str(path)) from None
    return TinyModel(path, seed, hashlib.sha256(blob).hexdigest(), len(blob))


def gguf_bytes(seed: int) -> bytes:
    """The whole model file for ``seed``."""
    shapes = tensor_shapes()
    draws = _normals(random.Random(seed))
    tensors = [_tensor_data(name, shape, draws) for name, shape in shapes.items()]
    entries = metadata(seed)
    out = bytearray(GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(shapes), len(entries)))
    for key, vtype, value in entries:
        out += _string(key) + struct.pack("<I", vtype) + _value(vtype, value)
    offset = 0
    for (name, shape), data in zip(shapes.items(), tensors, strict=True):
        out += _string(name) + struct.pack("<I", len(shape))
        out += struct.pack(f"<{len(shape)}Q", *reversed(shape))  # ggml orders dimensions innermost first
        out += struct.pack("<IQ", GGML_TYPE_F32, offset)
        offset += _padded(len(data))
    out += bytes(_padded(len(out)) - len(out))
    for data in tensors:
        out += data + bytes(_padded(len(data)) - len(data))
    return bytes(out)


def _padded(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(vtype: int, value: object) -> bytes:
    if vtype == STRING:
        return _string(str(value))
    if vtype == ARRAY:
        assert isinstance(value, tuple), "an ARRAY value is (element type, items), as metadata() gives it"
        item_type, items = value
        return struct.pack("<IQ", item_type, len(items)) + b"".join(_value(item_type, v) for v in items)
    return struct.pack(_SCALAR_FORMAT[vtype], value)


def _tensor_data(name: str, shape: tuple[int, ...], draws: Iterator[float]) -> bytes:
    """Little-endian float32: ones for a norm, WEIGHT_STD-scaled normal draws otherwise."""
    count = math.prod(shape)
    values = array(
        "f", [1.0] * count if name.endswith("norm.weight") else (WEIGHT_STD * next(draws) for _ in range(count))
    )
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def _normals(rng: random.Random) -> Iterator[float]:
    """Standard normal draws by the Box-Muller transform over ``rng.random()``."""
    while True:
        radius = math.sqrt(-2.0 * math.log(1.0 - rng.random()))  # 1 - u lies in (0, 1]
        angle = math.tau * rng.random()
        yield radius * math.cos(angle)
        yield radius * math.sin(angle)
