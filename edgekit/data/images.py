"""Image folders as DATA: each png/jpg/bmp becomes one sample after a declared preprocessing.

The spec is given once, as text on the command line (``--preprocess``) or as an
``ImagePreprocess`` in Python, so calibration and evaluation see the same pixels
the application will feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.data.datasource import DataSource, Record
from edgekit.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SPEC_SYNTAX = "resize=256,crop=224,scale=0.003921569,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,layout=NCHW,color=RGB"


@dataclass(frozen=True)
class ImagePreprocess:
    """How an image file becomes a model input sample.

    Attributes:
        resize: shorter side resized to this many pixels (None: keep).
        crop: centre crop to this square size, or (height, width) (None: no crop).
        scale: pixel values multiplied by this (e.g. 1/255).
        mean, std: per channel, applied after scaling: (x - mean) / std.
        layout: "NCHW" (samples are C×H×W) or "NHWC" (H×W×C).
        color: "RGB", "BGR" or "GRAY".
        dtype: the sample dtype (float32, or uint8 for models that take raw pixels).
    """

    resize: int | None = None
    crop: int | tuple[int, int] | None = None
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = "NCHW"
    color: str = "RGB"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.layout not in ("NCHW", "NHWC"):
            raise InputError(f"image layout '{self.layout}' is not NCHW or NHWC")
        if self.color not in ("RGB", "BGR", "GRAY"):
            raise InputError(f"image color '{self.color}' is not RGB, BGR or GRAY")
        if any(s == 0 for s in self.std):
            raise InputError("image std must not contain 0")

    @classmethod
    def parse(cls, text: str) -> ImagePreprocess:
        """Parses ``key=value,...``; list values are separated by ``/``."""
        fields: dict[str, object] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = item.partition("=")
            try:
                if not sep:
                    raise ValueError("missing '='")
                if key in ("resize",):
                    fields[key] = int(value)
                elif key == "crop":
                    dims = tuple(int(v) for v in value.split("/"))
                    fields[key] = dims[0] if len(dims) == 1 else dims
                elif key == "scale":
                    fields[key] = float(eval_fraction(value))
                elif key in ("mean", "std"):
                    fields[key] = tuple(float(v) for v in value.split("/"))
                elif key in ("layout", "color"):
                    fields[key] = value.upper()
                elif key == "dtype":
                    fields[key] = value
                else:
                    raise ValueError(f"unknown key '{key}'")
            except ValueError as err:
                raise InputError(f"--preprocess item '{item}': {err}", note=f"e.g. {SPEC_SYNTAX}") from err
        return cls(**fields)  # type: ignore[arg-type]

    def __call__(self, path: Path) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(path) as img:
                img = img.convert("L" if self.color == "GRAY" else "RGB")
                if self.resize:
                    w, h = img.size
                    ratio = self.resize / min(w, h)
                    img = img.resize((max(1, round(w * ratio)), max(1, round(h * ratio))), Image.BILINEAR)
                if self.crop:
                    ch, cw = (self.crop, self.crop) if isinstance(self.crop, int) else self.crop
                    w, h = img.size
                    if ch > h or cw > w:
                        raise InputError(f"image '{path}' ({w}x{h}) is smaller than the crop {cw}x{ch}")
                    left, top = (w - cw) // 2, (h - ch) // 2
                    img = img.crop((left, top, left + cw, top + ch))
                pixels = np.asarray(img)
        except OSError as err:
            raise InputError(f"cannot read image '{path}': {err}") from err
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if self.color == "BGR":
            pixels = pixels[:, :, ::-1]
        if np.dtype(self.dtype) == np.uint8:
            out = pixels.astype(np.uint8)
        else:
            out = pixels.astype(np.float32) * self.scale
            out = (out - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
            out = out.astype(self.dtype)
        return np.ascontiguousarray(out.transpose(2, 0, 1) if self.layout == "NCHW" else out)


def eval_fraction(text: str) -> float:
    """``"1/255"`` or ``"0.0039"`` → float."""
    num, sep, den = text.partition("/")
    return float(num) / float(den) if sep else float(text)


def image_folder(path: Path, preprocess: ImagePreprocess) -> DataSource:
    """A DataSource over the images in ``path`` (recursively, in sorted order)."""
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"image folder '{path}' holds no {'/'.join(IMAGE_SUFFIXES)} files")

    def records() -> Iterator[Record]:
        for file in files:
            yield {"": preprocess(file)}, None

    return DataSource(records, f"image folder '{path}' ({len(files)} images)")
