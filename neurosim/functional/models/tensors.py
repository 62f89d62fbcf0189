"""Reading a model folder's safetensors weights as float32 NumPy arrays (one file or shards, F32/F16/BF16).

NumPy has no bfloat16, so ``safetensors.numpy`` cannot return BF16 tensors; those shards are read with
``safetensors.deserialize`` and widened here (a bfloat16 is the top 16 bits of a float32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.functional.models.packages import require

_FLOAT = {"F32", "F16", "F64", "BF16"}


class SafetensorsWeights:
    """Tensors of a folder by name (``index``: tensor name -> shard file, as
    :func:`neurosim.workloads.model_files.safetensors_index` gives it); ``prefix`` is put in front of every name
    asked for (a BERT saved inside a task model stores ``bert.embeddings...``)."""

    def __init__(self, folder: Path, index: dict[str, str], prefix: str = ""):
        self.folder = Path(folder)
        self.index = dict(index)
        self.prefix = prefix
        self._raw: dict[str, dict] = {}

    def has(self, name: str) -> bool:
        return self.prefix + name in self.index

    def get(self, name: str) -> np.ndarray:
        full = self.prefix + name
        shard = self.index.get(full)
        if shard is None:
            raise NeurosimError(f"{self.folder}: tensor {full!r} is missing from the safetensors files")
        path = self.folder / shard
        st = require("safetensors")
        with st.safe_open(str(path), "np") as h:
            dtype = h.get_slice(full).get_dtype()
            if dtype not in _FLOAT:
                raise NeurosimError(f"{path}: tensor {full!r} has dtype {dtype}; allowed: F32, F16, BF16, F64")
            if dtype != "BF16":
                return np.asarray(h.get_tensor(full), dtype=np.float32)
        return self._bf16(path, full)

    def _bf16(self, path: Path, name: str) -> np.ndarray:
        st = require("safetensors")
        if str(path) not in self._raw:
            self._raw[str(path)] = {n: t for n, t in st.deserialize(path.read_bytes())}
        t = self._raw[str(path)][name]
        wide = np.frombuffer(bytes(t["data"]), dtype=np.uint16).astype(np.uint32) << 16
        return wide.view(np.float32).reshape(t["shape"])
