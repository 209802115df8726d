"""A tiny llama-architecture GGUF model: valid for llama.cpp and Ollama, well under 1 MB.

Byte-level tokenizer (SentencePiece-style byte fallback: the 256 tokens <0x00>..<0xFF> plus
<unk>, <s>, </s> and the word-boundary piece "▁"), 2 layers of width 64, float32 weights drawn
from a seeded generator, so the same seed gives the same file, byte for byte. It produces
nonsense, quickly: it exists so a service test can create a model and generate text offline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomically

ARCH = "llama"
N_EMBD, N_LAYER, N_HEAD, N_FF, N_CTX = 64, 2, 4, 128, 256
SPECIALS = [("<unk>", 2), ("<s>", 3), ("</s>", 3), ("\u2581", 1)]  # token types: 1 normal, 2 unknown, 3 control
TOKEN_TYPE_BYTE = 6
N_VOCAB = len(SPECIALS) + 256


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


class ModelWriteError(OSError):
    """The model could not be written (a full disk, a file size limit, a read-only folder); nothing
    is left under its name."""


def write_tiny_llama(path: str | Path, seed: int = 0) -> TinyModel:
    """Write the model to ``path`` (whole or not at all) and describe it; ModelWriteError when it
    cannot be written."""
    path = Path(path)
    try:
        blob = write_atomically(path, lambda part: _write_gguf(part, seed))
    except OSError as exc:
        raise ModelWriteError(exc.errno, exc.strerror or str(exc), str(path)) from None
    return TinyModel(path, seed, hashlib.sha256(blob).hexdigest(), len(blob))


def _write_gguf(path: Path, seed: int) -> bytes:
    import gguf  # noqa: PLC0415 - only this generator needs gguf and numpy
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_name(f"xpu-tiny-llama-seed{seed}")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    tokens = [t for t, _ in SPECIALS] + [f"<0x{b:02X}>" for b in range(256)]
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(SPECIALS) + [-1.0] * 256)
    writer.add_token_types([k for _, k in SPECIALS] + [TOKEN_TYPE_BYTE] * 256)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    for name, shape in tensor_shapes().items():
        data = np.ones(shape, np.float32) if name.endswith("norm.weight") else \
            (rng.standard_normal(shape) * 0.02).astype(np.float32)
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()
