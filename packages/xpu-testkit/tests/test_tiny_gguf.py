"""The standard-library tiny model writer against gguf's own: GGUFReader (gguf and numpy are the test
kit's, not the host tool's) reads both files and finds the same metadata, vocabulary and tensors;
only the weights' random draws differ, and they have the reference's distribution."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import gguf
import numpy as np
import pytest

from xpu_tool.services.tiny_gguf import (
    N_VOCAB,
    WEIGHT_STD,
    ModelWriteError,
    TinyModel,
    gguf_bytes,
    tensor_shapes,
    write_tiny_llama,
)

from .gguf_reference import write_reference

SEED = 5


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return write_tiny_llama(tmp_path_factory.mktemp("ours") / "tiny.gguf", seed=SEED)


@pytest.fixture(scope="module")
def ours(written: TinyModel) -> gguf.GGUFReader:
    return gguf.GGUFReader(str(written.path))


@pytest.fixture(scope="module")
def reference_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same seed's model as the gguf-based writer writes it, written now."""
    path = tmp_path_factory.mktemp("reference") / "tiny.gguf"
    write_reference(path, SEED)
    return path


@pytest.fixture(scope="module")
def reference(reference_path: Path) -> gguf.GGUFReader:
    return gguf.GGUFReader(str(reference_path))


def weights(reader: gguf.GGUFReader) -> np.ndarray:
    """Every non-norm tensor's values, in file order."""
    return np.concatenate(
        [np.asarray(t.data, dtype=np.float64).ravel() for t in reader.tensors if not t.name.endswith("norm.weight")]
    )


def test_every_field_the_gguf_writer_wrote_is_there_with_its_type_and_value(
    ours: gguf.GGUFReader, reference: gguf.GGUFReader
) -> None:
    assert list(ours.fields) == list(reference.fields)  # same keys, same order, nothing extra
    for key, field in reference.fields.items():
        mine = ours.fields[key]
        assert mine.types == field.types, key
        assert mine.contents() == field.contents(), key
    assert ours.fields["general.name"].contents() == f"xpu-tiny-llama-seed{SEED}"
    assert len(ours.fields["tokenizer.ggml.tokens"].contents()) == N_VOCAB


def test_every_tensor_has_the_gguf_writers_name_shape_type_and_place(
    ours: gguf.GGUFReader, reference: gguf.GGUFReader
) -> None:
    described = [
        (t.name, t.shape.tolist(), t.tensor_type, t.n_elements, t.n_bytes, t.data_offset) for t in ours.tensors
    ]
    assert described == [
        (t.name, t.shape.tolist(), t.tensor_type, t.n_elements, t.n_bytes, t.data_offset) for t in reference.tensors
    ]
    assert all(t.tensor_type == gguf.GGMLQuantizationType.F32 for t in ours.tensors)
    assert {t.name: tuple(int(d) for d in reversed(t.shape)) for t in ours.tensors} == tensor_shapes()
    assert (ours.alignment, ours.data_offset) == (reference.alignment, reference.data_offset)


def test_the_file_is_the_gguf_writers_up_to_the_weights(
    written: TinyModel, reference_path: Path, reference: gguf.GGUFReader
) -> None:
    """Header, metadata, tensor infos and padding: byte for byte; the weights' draws alone differ."""
    mine, theirs = written.path.read_bytes(), reference_path.read_bytes()
    assert len(mine) == len(theirs)
    assert mine[: reference.data_offset] == theirs[: reference.data_offset]
    assert mine[reference.data_offset :] != theirs[reference.data_offset :]


def test_norms_are_exactly_one(ours: gguf.GGUFReader) -> None:
    norms = [t for t in ours.tensors if t.name.endswith("norm.weight")]
    assert len(norms) == 1 + 2 * 2
    assert all(np.array_equal(np.asarray(t.data), np.ones(t.shape, np.float32)) for t in norms)


def test_weights_are_finite_and_distributed_like_the_references(
    ours: gguf.GGUFReader, reference: gguf.GGUFReader
) -> None:
    """normal(0, 0.02): mean, spread and quantiles within sampling error of numpy's draws (~115k values)."""
    mine, theirs = weights(ours), weights(reference)
    assert mine.size == theirs.size > 100_000
    assert np.isfinite(mine).all()
    assert abs(mine.mean()) < 5e-4 and abs(mine.std() - WEIGHT_STD) < 4e-4
    quantiles = [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999]
    assert np.allclose(np.quantile(mine, quantiles), np.quantile(theirs, quantiles), atol=1.5e-3, rtol=0)
    assert 0.67 < np.mean(np.abs(mine) < WEIGHT_STD) < 0.70  # one sigma holds 68.3 %


def test_each_tensor_has_its_own_draws(ours: gguf.GGUFReader) -> None:
    drawn = [np.asarray(t.data).ravel() for t in ours.tensors if not t.name.endswith("norm.weight")]
    assert all(abs(float(d.std()) - WEIGHT_STD) < 2e-3 for d in drawn)
    firsts = {float(d[0]) for d in drawn}
    assert len(firsts) == len(drawn)


def test_same_seed_same_bytes_other_seed_other_weights(
    tmp_path: Path, written: TinyModel, ours: gguf.GGUFReader
) -> None:
    again = write_tiny_llama(tmp_path / "again.gguf", seed=SEED)
    other = write_tiny_llama(tmp_path / "other.gguf", seed=SEED + 1)
    assert again.path.read_bytes() == written.path.read_bytes() and again.sha256 == written.sha256
    assert other.sha256 != written.sha256
    assert not np.array_equal(weights(gguf.GGUFReader(str(other.path))), weights(ours))
    assert written.sha256 == hashlib.sha256(written.path.read_bytes()).hexdigest()
    assert written.size == written.path.stat().st_size < 1_000_000
    assert (written.seed, written.n_vocab) == (SEED, N_VOCAB)


def test_generation_is_fast() -> None:
    started = time.perf_counter()
    gguf_bytes(0)
    assert time.perf_counter() - started < 1.0  # about 0.1 s on the 2-core CI machine


def test_a_directory_at_the_path_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").mkdir()
    with pytest.raises(ModelWriteError, match="exists and is not a regular file"):
        write_tiny_llama(tmp_path / "model.gguf")
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"] and (tmp_path / "model.gguf").is_dir()


def test_the_host_tools_ollama_check_imports_neither_numpy_nor_gguf(tmp_path: Path) -> None:
    """A fresh interpreter imports the Ollama check and writes the model it uploads: numpy and gguf
    stay unloaded, so the host tool needs neither."""
    script = (
        "import sys\n"
        "import xpu_tool.services.ollama.check\n"
        "from xpu_tool.services.tiny_gguf import write_tiny_llama\n"
        f"write_tiny_llama({str(tmp_path / 'm.gguf')!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'gguf')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    assert (tmp_path / "m.gguf").stat().st_size > 400_000


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_xpu_tiny_model_writes_the_mode_the_umask_allows(umask: int, mode: int, tmp_path: Path) -> None:
    """The docs point the llama-cpp unit (a DynamicUser) at this file: under umask 022 it must be 0644,
    as any new file, not the temporary file's 0600; the textfile export keeps its 0644 whatever the umask."""
    path = tmp_path / "tiny.gguf"
    script = (
        "import os, sys\n"
        f"os.umask({umask})\n"
        "from xpu_tool.cli import main\n"
        f"sys.exit(main(['tiny-model', {str(path)!r}]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert path.stat().st_mode & 0o777 == mode
    prom = tmp_path / "x.prom"
    script = (
        "import os\n"
        f"os.umask({umask})\n"
        "from pathlib import Path\n"
        "from xpu_tool.export.textfile import write_textfile\n"
        f"write_textfile(Path({str(prom)!r}), b'x 1\\n')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert prom.stat().st_mode & 0o777 == 0o644
