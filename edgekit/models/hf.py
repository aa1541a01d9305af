"""Hugging Face transformers models: a local model folder or a ``PreTrainedModel`` object.

The inputs and their dynamic axes come from the model's forward signature and config (text:
``input_ids``/``attention_mask``/``token_type_ids`` over batch and sequence; vision:
``pixel_values`` at the config's image size over batch; audio: ``input_values`` over batch
and time), so a BERT needs no ``--input``/``--dynamic`` flags. Outputs are the model output
class's tensor fields, by name (``logits``, ``last_hidden_state``...). Folders only: nothing
is downloaded, and no code from the folder runs (``trust_remote_code`` stays off).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import InputError

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EXAMPLE_SEQUENCE = 16


@dataclass
class HfModel:
    """A transformers model wrapped for export, with the inputs edgekit derived for it."""

    module: Any  # an nn.Module taking positional tensors in ``input_names`` order
    input_names: list[str]
    example: tuple[Any, ...]
    dynamic: list[tuple[str, int, str]]  # (input, axis, dim name): compiler.inputs.DynamicArg fields
    description: str


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def is_pretrained(obj: Any) -> bool:
    return any(c.__name__ == "PreTrainedModel" for c in type(obj).__mro__)


def load_folder(path: Path) -> Any:
    """The model a folder holds, by its config's architecture, from local files only."""
    try:
        import transformers
    except ImportError as err:
        raise InputError(f"'{path}' is a Hugging Face model folder, and transformers is not installed",
                         note="pip install 'edgekit[hf]'") from err
    try:
        config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
        arch = (getattr(config, "architectures", None) or [None])[0]
        cls = getattr(transformers, arch, None) if arch else None
        model = (cls or transformers.AutoModel).from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"cannot load the Hugging Face model folder '{path}': {err}".splitlines()[0]) from err
    return model


def wrap(model: Any, description: str) -> HfModel:
    """Derives inputs, example and dynamic axes from the model's forward signature and config."""
    import torch

    params = inspect.signature(model.forward).parameters
    config = model.config
    if "input_ids" in params:
        names = [n for n in TEXT_INPUTS if n in params]
        if "token_type_ids" in names and getattr(config, "type_vocab_size", 2) < 2:
            names.remove("token_type_ids")
        vocab = int(getattr(config, "vocab_size", 100))
        ids = torch.randint(0, min(vocab, 1000), (1, EXAMPLE_SEQUENCE), generator=torch.Generator().manual_seed(0))
        values = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
        example = tuple(values[n] for n in names)
        dynamic = [(n, axis, dim) for n in names for axis, dim in ((0, "batch"), (1, "sequence"))]
    elif "pixel_values" in params:
        size = getattr(config, "image_size", 224)
        size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        names = ["pixel_values"]
        example = (torch.zeros(1, int(getattr(config, "num_channels", 3)), *size),)
        dynamic = [("pixel_values", 0, "batch")]
    elif "input_values" in params:
        names = ["input_values"]
        example = (torch.zeros(1, 16000),)
        dynamic = [("input_values", 0, "batch"), ("input_values", 1, "time")]
    else:
        raise InputError(f"{description}: cannot tell the inputs of {type(model).__name__}",
                         note="give --input NAME:SHAPE[:DTYPE] for each input")
    # The wrapper is put in eval mode too: exporters restore a module's own training flag
    # afterwards, and a fresh wrapper's would switch the model's dropout back on.
    return HfModel(_Wrapper(model.eval(), names).eval(), names, example, dynamic, description)


def _wrapper_class() -> type:
    import torch

    class HfForward(torch.nn.Module):
        """Positional tensors in, the output class's tensor fields (by name) out."""

        def __init__(self, model: Any, names: list[str]) -> None:
            super().__init__()
            self.model = model
            self.names = names
            self.no_cache = "use_cache" in inspect.signature(model.forward).parameters

        def forward(self, *args: Any) -> dict[str, Any]:
            kwargs = dict(zip(self.names, args))
            if self.no_cache:
                kwargs["use_cache"] = False
            out = self.model(**kwargs, return_dict=True)
            return {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}

    return HfForward


def _Wrapper(model: Any, names: list[str]) -> Any:  # noqa: N802 - built lazily: torch is heavy
    return _wrapper_class()(model, names)


def text_source(data: Any, source: Any) -> Any:
    """A DataSource over a ``.txt`` file (one text per line) for a Hugging Face source, else None."""
    if source.hf is None or not isinstance(data, (str, Path)) or Path(data).suffix != ".txt":
        return None
    from edgekit.data.datasource import DataSource

    path = Path(data)
    if not path.is_file():
        raise InputError(f"text data '{path}' does not exist")
    if source.folder is None:
        raise InputError("text data needs the model's tokenizer; pass the model as its Hugging Face folder",
                         note="or give tokenized arrays as .npz")
    return DataSource(lambda: text_records(path, source.folder, source.hf.input_names),
                      f"text file '{path}' (tokenized with {source.folder.name}'s tokenizer)")


TEXT_BATCH = 8  # texts tokenized together: the compile's eval and calibration batch size


def text_records(path: Path, folder: Path, names: list[str], per_batch: int = TEXT_BATCH) -> Any:
    """Records from a text file (one text per line), tokenized with the folder's tokenizer.

    Each run of ``per_batch`` texts is padded to its own longest text (not to the file's
    longest), so consecutive records share a shape and ``batches`` stacks them as one batch;
    the attention mask marks the padding. A tokenizer without a pad token pads nothing.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    pad = getattr(tokenizer, "pad_token", None) is not None
    for start in range(0, len(texts), per_batch):
        chunk = texts[start: start + per_batch]
        if pad:
            encoded = tokenizer(chunk, padding="longest", return_tensors="np")
            for row in range(len(chunk)):
                yield _record(encoded, names, row), None
        else:
            for text in chunk:
                yield _record(tokenizer(text, return_tensors="np"), names, 0), None


def _record(encoded: Any, names: list[str], row: int) -> dict[str, Any]:
    import numpy as np

    return {n: np.asarray(encoded[n][row], dtype=np.int64) for n in names if n in encoded}
