"""Model sources: turn the MODEL argument into something the pipeline can export.

MODEL is a ``.onnx`` file, a TorchScript file, a saved ``torch.export`` program
(``.pt2``), ``package.module:factory`` (with ``--weights``), or an ``nn.Module``.
Weights are read safely: safetensors, or ``torch.load(weights_only=True)``. Every
model *file* torch can load runs code from it (a pickled whole model and a ``.pt2``
unpickle; TorchScript runs its ``__setstate__`` methods, which can write files), so
each loads only when the caller says so explicitly (``allow_pickle``).
"""

from __future__ import annotations

import hashlib
import inspect
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.bundle import sha256_file
from edgekit.errors import InputError
from edgekit.models.hf import is_hf_folder, is_pretrained, load_folder, wrap
from edgekit.safeio import file_kind
from edgekit.user_code import import_reference

FACTORY_PATTERN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
MODEL_FORMS = ".onnx file, TorchScript file, .pt2 torch.export program, or package.module:factory"


@dataclass
class ModelSource:
    """A loaded model and what is known of where it came from."""

    kind: str  # onnx | torchscript | torch.export | factory | module | pickle
    description: str
    sha256: str
    module: Any = None  # nn.Module, ScriptModule or ExportedProgram
    onnx_path: Path | None = None
    hf: Any = None  # an HfModel (edgekit.models.hf): derived inputs, example and dynamic axes
    folder: Path | None = None  # a Hugging Face model folder (its tokenizer reads text data)

    @property
    def is_torch(self) -> bool:
        return self.kind != "onnx"

    def forward_names(self) -> list[str] | None:
        """Names of the forward() parameters, used as default input names."""
        if self.hf is not None:
            return list(self.hf.input_names)
        if self.kind == "torch.export":
            specs = self.module.graph_signature.user_inputs
            return [str(s) for s in specs]
        forward = getattr(self.module, "forward", None)
        try:
            params = inspect.signature(forward).parameters.values()
        except (TypeError, ValueError):
            return None
        names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return names or None


def load_source(model: Any, weights: str | Path | None = None, allow_pickle: bool = False) -> ModelSource:
    """Resolves any accepted MODEL form.

    Raises:
        InputError: the path, factory or weights cannot be read as a model.
    """
    if isinstance(model, (str, Path)):
        text = str(model)
        path = Path(text)
        kind = file_kind(path, "model")  # by stat, before opening: a FIFO or device would hang
        if kind == "dir" and is_hf_folder(path):
            if weights is not None:
                raise InputError("--weights applies to a factory model, not to a Hugging Face folder")
            return _from_hf(load_folder(path), f"Hugging Face folder {path.name}", path)
        if kind == "dir":
            raise InputError(f"model '{path}' is a folder", note=f"MODEL is a {MODEL_FORMS}")
        if path.suffix == ".onnx":
            if weights is not None:
                raise InputError("--weights applies to a factory model, not to an .onnx file")
            if kind is None:
                raise InputError(f"model file '{path}' does not exist", note=f"MODEL is a {MODEL_FORMS}")
            return ModelSource("onnx", f"ONNX file {path.name}", sha256_file(path), onnx_path=path)
        if kind == "file":
            if weights is not None:
                raise InputError(f"--weights applies to a factory model, not to the file '{path}'")
            return _load_torch_file(path, allow_pickle)
        if FACTORY_PATTERN.fullmatch(text):
            return _load_factory(text, weights)
        raise InputError(f"model '{text}' does not exist", note=f"MODEL is a {MODEL_FORMS}")
    return _from_object(model, weights)


def _from_object(model: Any, weights: str | Path | None) -> ModelSource:
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        return ModelSource("torch.export", "torch.export program", _state_hash(model.state_dict), model)
    if is_pretrained(model):
        if weights is not None:
            _apply_weights(model, Path(weights))
        return _from_hf(model, f"transformers {type(model).__name__}")
    if not isinstance(model, torch.nn.Module):
        raise InputError(
            f"model of type {type(model).__name__} is not supported",
            note=f"pass an nn.Module or a {MODEL_FORMS}",
        )
    if weights is not None:
        _apply_weights(model, Path(weights))
    model.eval()
    return ModelSource("module", type(model).__name__, _state_hash(model.state_dict()), model)


def _from_hf(model: Any, description: str, folder: Path | None = None) -> ModelSource:
    hf = wrap(model, description)
    return ModelSource("hf", description, _state_hash(model.state_dict()), hf.module, hf=hf, folder=folder)


PICKLE_NOTE = ("a TorchScript file, a .pt2 program and a pickled whole model can run code when loaded "
               "(TorchScript __setstate__ writes files; .pt2 and torch.save unpickle); "
               "pass --allow-pickle (allow_pickle=True) only for a file you trust, or give a .onnx file, "
               "or a package.module:factory with --weights")


def _load_torch_file(path: Path, allow_pickle: bool) -> ModelSource:
    """Loads a torch model file; every such format can run code, so each needs ``allow_pickle``."""
    kind = _zip_kind(path)
    if not allow_pickle:
        what = {"torch.export": "a torch.export program (.pt2, a pickle container)",
                "torchscript": "a TorchScript file (its loader runs code from the file)"}.get(
                    kind, "neither a TorchScript file nor a torch.export program; a pickled whole model")
        raise InputError(f"'{path}' is {what}; refused without --allow-pickle", note=PICKLE_NOTE)
    import torch

    digest = sha256_file(path)
    try:
        if kind == "torch.export":
            return ModelSource("torch.export", f"torch.export program {path.name}", digest,
                               torch.export.load(str(path)))
        if kind == "torchscript":
            module = torch.jit.load(str(path), map_location="cpu").eval()
            return ModelSource("torchscript", f"TorchScript file {path.name}", digest, module)
    except Exception as err:  # torch raises RuntimeError / pickle errors on bad archives
        raise InputError(f"cannot load {kind} file '{path}': {_first_line(err)}") from err
    try:
        module = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as err:
        raise InputError(f"cannot unpickle '{path}': {_first_line(err)}") from err
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"'{path}' holds a {type(module).__name__}, not an nn.Module")
    return ModelSource("pickle", f"pickled model {path.name}", digest, module.eval())


def _zip_kind(path: Path) -> str | None:
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any("/models/" in n or n.endswith("archive_format") for n in names) and path.suffix == ".pt2":
        return "torch.export"
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if path.suffix == ".pt2":
        return "torch.export"
    return None


def _load_factory(text: str, weights: str | Path | None) -> ModelSource:
    import torch

    module_name, _, attr = text.partition(":")
    try:
        factory = import_reference(text)
    except ModuleNotFoundError as err:
        raise InputError(f"cannot import module '{module_name}' of model '{text}': {err}",
                         note="run from the folder that holds the package, or install it") from err
    except AttributeError as err:
        raise InputError(f"module '{module_name}' has no attribute '{attr}'") from err
    if not callable(factory):
        raise InputError(f"'{text}' is not callable; expected a factory returning an nn.Module")
    try:
        model = factory()
    except Exception as err:  # the user's code: report it as their error, with its cause
        raise InputError(f"factory '{text}' raised {type(err).__name__}: {_first_line(err)}") from err
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"factory '{text}' returned {type(model).__name__}; expected an nn.Module")
    if weights is not None:
        _apply_weights(model, Path(weights))
    model.eval()
    digest = hashlib.sha256(text.encode() + bytes.fromhex(_state_hash(model.state_dict()))).hexdigest()
    return ModelSource("factory", f"factory {text}" + (f" + {Path(weights).name}" if weights else ""),
                       digest, model)


def read_state_dict(path: Path) -> dict[str, Any]:
    """Reads a state dict without running pickled code."""
    if not path.is_file():
        raise InputError(f"weights file '{path}' does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:
            raise InputError(f"cannot read safetensors weights '{path}': {_first_line(err)}") from err
    import pickle

    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _looks_like_torch_save(path):
            raise InputError(f"cannot read weights file '{path}': not a torch.save or safetensors file") from err
        raise InputError(
            f"weights file '{path}' holds more than tensors, and is refused for safety",
            note="save it with torch.save(model.state_dict(), ...) or as .safetensors",
        ) from err
    except Exception as err:
        raise InputError(f"cannot read weights file '{path}': {_first_line(err)}") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"weights file '{path}' holds a {type(state).__name__}, not a state dict")
    return state


def _looks_like_torch_save(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(2)
    return zipfile.is_zipfile(path) or head[:1] == b"\x80"


def _apply_weights(model: Any, path: Path) -> None:
    state = read_state_dict(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        from edgekit.models.weights_fit import describe_mismatch

        raise InputError(
            f"weights '{path.name}' do not fit the model: {describe_mismatch(model, state) or _first_line(err)}"
        ) from err


def _state_hash(state: dict[str, Any]) -> str:
    import torch

    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        digest.update(key.encode())
        if hasattr(value, "detach"):
            arr = value.detach().cpu().contiguous()
            digest.update(str(arr.dtype).encode() + str(tuple(arr.shape)).encode())
            digest.update(memoryview(arr.view(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
