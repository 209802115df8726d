"""The tiny model as gguf's own GGUFWriter (with numpy) writes it: the reference the standard-library
writer in xpu_tool.services.tiny_gguf is compared against. Test-only: gguf and numpy are the test
kit's dependencies, not the host tool's."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from xpu_tool.services.tiny_gguf import (
    ARCH,
    N_CTX,
    N_EMBD,
    N_FF,
    N_HEAD,
    N_LAYER,
    SPECIALS,
    TOKEN_TYPE_BYTE,
    tensor_shapes,
)


def write_reference(path: Path, seed: int) -> None:
    """The model as the gguf-based writer wrote it (weights from numpy's default_rng(seed))."""
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
    writer.add_token_list([t for t, _ in SPECIALS] + [f"<0x{b:02X}>" for b in range(256)])
    writer.add_token_scores([0.0] * len(SPECIALS) + [-1.0] * 256)
    writer.add_token_types([k for _, k in SPECIALS] + [TOKEN_TYPE_BYTE] * 256)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    for name, shape in tensor_shapes().items():
        data = (
            np.ones(shape, np.float32)
            if name.endswith("norm.weight")
            else (rng.standard_normal(shape) * 0.02).astype(np.float32)
        )
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
