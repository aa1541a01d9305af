"""Compile options: ONE table, typed values parsed once at the edge.

``COMPILE_OPTIONS`` is the single list of compile options. From it come the click
options of ``edgekit compile`` (and the shared ones of ``edgekit bench``), the
``[tool.edgekit]`` keys (``config.COMPILE_KEYS``) and the keywords ``edgekit.compile``
accepts. The library below this module takes a frozen ``CompileOptions``, never CLI
strings. To add an option: add one ``Option`` row and one ``CompileOptions`` field.
Nothing heavy is imported here (``edgekit compile --help`` must stay fast).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edgekit.compiler.forward import parse_output_names, parse_pins
from edgekit.compiler.inputs import DynamicArg, InputArg, parse_dynamic, parse_input
from edgekit.errors import InputError
from edgekit.precision import PRECISIONS
from edgekit.registry import BACKENDS

AUTO = "auto"
CALIB_METHODS = ("minmax", "entropy", "percentile")
EXPORTERS = ("auto", "dynamo", "torchscript")
STATIC_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
DEFAULT_CALIB_SAMPLES = 128
# The sections of `edgekit compile --help`, in order; each row below names one.
MODEL, TARGETS, DATA, QUANT, RULE, OUTPUT = ("Model and inputs", "Targets and precision", "Data", "Quantization",
                                             "Parity rule", "Output")
GROUPS = (MODEL, TARGETS, DATA, QUANT, RULE, OUTPUT)
TARGET_METAVAR = f"[{'|'.join([*(b.target for b in BACKENDS), AUTO])}][,…]"
PRECISION_METAVAR = f"[{'|'.join([*PRECISIONS, AUTO])}]"
ALLOW_PICKLE_HELP = ("Allow a model file that runs code when loaded (TorchScript, .pt2, pickled whole model); "
                     "only for files you trust.")
PREPROCESS_HELP = ("Image preprocessing for image-folder DATA, e.g. "
                   "resize=256,crop=224,scale=1/255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,layout=NCHW")


@dataclass(frozen=True)
class Option:
    """One compile option: its CLI flag (= its settings-file key) and its API keyword.

    ``negate``: the flag turns the keyword off (``--no-simplify`` → ``simplify=False``).
    ``kind``: ``str``, ``int``, ``float``, ``flag``, ``file`` (a file path) or ``path``.
    ``minimum``: for ``int``, the smallest value the flag accepts.
    """

    flag: str
    keyword: str
    default: Any = None
    help: str = ""
    kind: str = "str"
    metavar: str | None = None
    multiple: bool = False
    negate: bool = False
    choices: tuple[str, ...] = ()
    show_default: bool = False
    lower: bool = False  # case-insensitive on the command line (``--precision INT8``)
    minimum: int | None = None  # an int option's smallest value (click refuses less, exit 2)
    group: str = ""  # the section of `edgekit compile --help` it is listed in (GROUPS)

    @property
    def dest(self) -> str:
        """The click parameter name (what the settings file's key maps to)."""
        return self.flag.replace("-", "_") if self.negate else self.keyword

    def keyword_value(self, value: Any) -> Any:
        """The API value of a parsed CLI value."""
        if self.negate:
            return not value
        return list(value) if self.multiple else value


COMPILE_OPTIONS: tuple[Option, ...] = (
    Option("target", "target", "cpu", "Target(s) to build, comma-separated; auto builds every precision for "
           "each target this host runs and keeps the fastest that passes parity.", metavar=TARGET_METAVAR,
           show_default=True, lower=True, group=TARGETS),
    Option("precision", "precision", "fp32", "Precision of the artifact (bf16: intel-cpu on CPUs with AVX512_BF16/AMX; "
           "int8 needs --calib or --random-calibration; auto: the fastest that passes).", metavar=PRECISION_METAVAR,
           show_default=True, lower=True, group=TARGETS),
    Option("input", "inputs", (), "An input's example shape, e.g. x:1x3x224x224:float32 (repeat per input).",
           metavar="NAME:SHAPE[:DTYPE]", multiple=True, group=MODEL),
    Option("dynamic", "dynamic", (), "Mark an input axis dynamic, e.g. x:0 (repeatable); MIN:OPT:MAX sizes set "
           "the range TensorRT engines are built for (default 1:example:max(2×example,32)).",
           metavar="NAME:AXIS[:DIMNAME][:MIN:OPT:MAX]", multiple=True, group=MODEL),
    Option("weights", "weights", None, "State dict for a factory MODEL.", kind="file", group=MODEL),
    Option("eval", "eval_data", None, "Data to check parity on (.npz, folder, module:callable).", metavar="DATA",
           group=DATA),
    Option("calib", "calibration", None, "Calibration data for int8 (.npz, folder, module:callable).",
           metavar="DATA", group=DATA),
    Option("calib-method", "calib_method", "minmax",
           "How int8 activation ranges are chosen from the calibration data: minmax (fast, keeps outliers), "
           "entropy or percentile (clip outliers; slower).", choices=CALIB_METHODS, show_default=True, group=QUANT),
    Option("calib-samples", "calib_samples", DEFAULT_CALIB_SAMPLES, "Calibration samples at most.", kind="int",
           show_default=True, minimum=1, group=QUANT),
    Option("shuffle", "shuffle_calibration", False,
           "Shuffle calibration samples (with --seed) before taking them.", kind="flag", group=DATA),
    Option("random-calibration", "random_calibration", False,
           "Calibrate int8 on random inputs (marked in the report).", kind="flag", group=QUANT),
    Option("preprocess", "preprocess", None, PREPROCESS_HELP, metavar="SPEC", group=DATA),
    Option("max-accuracy-drop", "max_accuracy_drop", None,
           "Accuracy points the artifact may lose (int8 default 1).", kind="float", group=RULE),
    # The user's parity rule (parity/user_rule.py): N for every output, OUTPUT=N for one; repeatable.
    Option("atol", "atol", (), "Absolute tolerance, for every output or one (repeatable); replaces the "
           "precision's default.", metavar="[OUTPUT=]N", multiple=True, group=RULE),
    Option("rtol", "rtol", (), "Relative tolerance, as --atol.", metavar="[OUTPUT=]N", multiple=True, group=RULE),
    Option("min-cosine", "min_cosine", (), "Least cosine similarity per sample.", metavar="[OUTPUT=]N",
           multiple=True, group=RULE),
    Option("min-top1", "min_top1", (), "Least top-1 agreement (0..1).", metavar="[OUTPUT=]N", multiple=True,
           group=RULE),
    Option("metric", "metric", None, "Your task metric: f(reference, artifact, labels) -> {name: number, "
           "'passed': bool}; gates the build.", metavar="MODULE:FUNCTION", group=RULE),
    Option("no-fallback", "fallback", True,
           "Do not leave sensitive nodes in float when int8 misses parity.", kind="flag", negate=True, group=QUANT),
    Option("junit", "junit", None, "Also write parity as JUnit XML to this file.", kind="file", group=OUTPUT),
    Option("keep-fp32", "keep_fp32", False,
           "fp16/int8: keep the fp32 graph in the bundle (for check --layers).", kind="flag", group=OUTPUT),
    Option("static-shapes", "static_shapes", False,
           "intel-cpu: fix inputs at the example shapes (faster; other sizes are refused).", kind="flag",
           group=TARGETS),
    Option("out", "out", None, "Bundle directory to write (NAME.edgekit).", kind="path", group=OUTPUT),
    Option("force", "force", False, "Replace an existing bundle at --out.", kind="flag", group=OUTPUT),
    Option("allow-pickle", "allow_pickle", False, ALLOW_PICKLE_HELP, kind="flag", group=MODEL),
    Option("exporter", "exporter", "auto",
           "torch → ONNX exporter: dynamo (torch.export), torchscript (tracing), or auto (dynamo, then "
           "torchscript if it fails).", choices=EXPORTERS, show_default=True, group=MODEL),
    Option("no-simplify", "simplify", True, "Skip onnxsim.", kind="flag", negate=True, group=MODEL),
    Option("opset", "opset", None, "ONNX opset for the export.", kind="int", minimum=1, group=MODEL),
    Option("seed", "seed", 0, "Seed of random parity inputs.", kind="int", show_default=True, minimum=0, group=DATA),
    # Torch models from the wild (compiler/forward.py): output names, and forward kwargs fixed at export.
    Option("output-names", "output_names", None, "A torch model's output names, in order (default: from "
           "its dict keys / fields, else output_N).", metavar="A,B,...", group=MODEL),
    Option("pin", "pin", (), "Fix a non-tensor forward keyword argument at export, e.g. return_all=false "
           "(repeatable); tensor keyword arguments are inputs, given by name.", metavar="NAME=VALUE", multiple=True,
           group=MODEL),
)
OPTIONS_BY_FLAG = {o.flag: o for o in COMPILE_OPTIONS}
KEYWORDS = tuple(o.keyword for o in COMPILE_OPTIONS)
TOLERANCE_KEYWORDS = ("atol", "rtol", "min_cosine", "min_top1")  # = parity.user_rule.CRITERIA


@dataclass(frozen=True)
class QuantConfig:
    """How to quantize. Static int8 uses every field; int8-dynamic uses op_types and exclude.

    Attributes:
        method: calibration method: minmax, entropy or percentile.
        samples: calibration samples to use at most.
        op_types: op types to quantize. Compute-heavy ops by default: quantizing every
            supported op destroys some real models.
        per_channel: per-channel weight scales (symmetric int8 weights either way).
        symmetric_activations: int8 activations with zero point 0 (TensorRT needs it);
            else asymmetric uint8, which keeps more resolution for ReLU outputs.
        exclude: node names left in float.
        random_calibration: calibrate on random inputs (only when explicitly asked).
        bias_scale_adjust: let onnxruntime raise weight scales so int32 biases fit; the step
            crashes on some real graphs (broadcast Gemm biases), so a retry turns it off.
    """

    method: str = "minmax"
    samples: int = DEFAULT_CALIB_SAMPLES
    op_types: tuple[str, ...] = STATIC_OPS
    per_channel: bool = True
    symmetric_activations: bool = False
    exclude: tuple[str, ...] = ()
    random_calibration: bool = False
    bias_scale_adjust: bool = True

    def __post_init__(self) -> None:
        if self.method not in CALIB_METHODS:
            raise InputError(f"unknown calibration method '{self.method}'",
                             note=f"choose from: {', '.join(CALIB_METHODS)}")
        if self.samples < 1:
            raise InputError("--calib-samples must be at least 1")


@dataclass(frozen=True)
class CompileOptions:
    """Every compile option, typed. Built by ``from_keywords`` (API) or ``from_cli`` (CLI)."""

    target: tuple[str, ...] | str = ("cpu",)  # names, or "auto"
    precision: str = "fp32"
    inputs: tuple[InputArg, ...] = ()
    dynamic: tuple[DynamicArg, ...] = ()
    weights: Path | None = None
    eval_data: Any = None
    calibration: Any = None
    calib_method: str = "minmax"
    calib_samples: int = DEFAULT_CALIB_SAMPLES
    shuffle_calibration: bool = False
    random_calibration: bool = False
    preprocess: Any = None
    max_accuracy_drop: float | None = None
    atol: tuple[str, ...] = ()
    rtol: tuple[str, ...] = ()
    min_cosine: tuple[str, ...] = ()
    min_top1: tuple[str, ...] = ()
    metric: str | None = None
    fallback: bool = True
    junit: Path | None = None
    keep_fp32: bool = False
    static_shapes: bool = False
    out: Path | None = None
    force: bool = False
    allow_pickle: bool = False
    exporter: str = "auto"
    simplify: bool = True
    opset: int | None = None
    seed: int = 0
    output_names: tuple[str, ...] | None = None
    pin: tuple[tuple[str, Any], ...] = ()
    quant_config: QuantConfig | None = None
    selection: Mapping[str, Any] | None = field(default=None, compare=False)
    # Where the CLI's defaults came from (a settings file), recorded in the manifest; not an option.
    settings_file: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        seed = self.seed
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InputError(f"seed must be an integer >= 0 (got {seed!r})")

    @property
    def is_auto(self) -> bool:
        return self.target == AUTO or self.precision == AUTO

    @property
    def target_names(self) -> list[str]:
        return [] if self.target == AUTO else list(self.target)

    @property
    def quant(self) -> QuantConfig:
        """The quantization settings: the given config, else one from the flat options."""
        return self.quant_config or QuantConfig(
            method=self.calib_method, samples=self.calib_samples,
            symmetric_activations="nvidia-gpu" in self.target_names, random_calibration=self.random_calibration)

    @property
    def tolerances(self) -> dict[str, tuple[str, ...]]:
        """The user's parity criteria, as ``parity.user_rule.with_user_rule`` takes them."""
        return {k: getattr(self, k) for k in TOLERANCE_KEYWORDS}

    @classmethod
    def from_keywords(cls, **keywords: Any) -> CompileOptions:
        """Parses ``edgekit.compile``'s keywords (strings or typed values) into options.

        ``tolerances={"atol": [...], ...}`` is accepted as a shorthand for the four criteria."""
        values = {**_expand_tolerances(keywords.pop("tolerances", None)), **keywords}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"compile() got unexpected keyword argument(s): {', '.join(unknown)}")
        for key in TOLERANCE_KEYWORDS:
            value = values.get(key)
            values[key] = () if value is None else tuple(
                str(v) for v in ([value] if isinstance(value, (str, int, float)) else value))
        target = values.get("target", "cpu")
        values["target"] = AUTO if target == AUTO else tuple(_parse_targets(target))
        precision = values.get("precision", "fp32")
        if precision != AUTO and precision not in PRECISIONS:
            raise InputError(f"unknown precision '{precision}'", note=f"choose from: {', '.join(PRECISIONS)}")
        values["inputs"] = tuple(a if isinstance(a, InputArg) else parse_input(a) for a in values.get("inputs") or ())
        values["dynamic"] = tuple(a if isinstance(a, DynamicArg) else parse_dynamic(a)
                                  for a in values.get("dynamic") or ())
        for key in ("weights", "out", "junit"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        values["output_names"] = parse_output_names(values.get("output_names"))
        values["pin"] = parse_pins(values.get("pin"))
        return cls(**values)

    @classmethod
    def from_cli(cls, params: Mapping[str, Any]) -> CompileOptions:
        """Parses the click parameters generated from ``COMPILE_OPTIONS``."""
        return cls.from_keywords(**cli_keywords(params))


def cli_keywords(params: Mapping[str, Any], only: Iterable[str] | None = None) -> dict[str, Any]:
    """API keywords from click parameters named by ``Option.dest``."""
    chosen = set(only) if only is not None else set(OPTIONS_BY_FLAG)
    return {o.keyword: o.keyword_value(params[o.dest]) for o in COMPILE_OPTIONS
            if o.flag in chosen and o.dest in params}


def _expand_tolerances(tolerances: Mapping[str, Any] | None) -> dict[str, Any]:
    unknown = sorted(set(tolerances or {}) - set(TOLERANCE_KEYWORDS))
    if unknown:
        raise TypeError(f"unknown parity criteria: {', '.join(unknown)}")
    return dict(tolerances or {})


def _parse_targets(target: str | Iterable[str]) -> list[str]:
    from edgekit.targets import parse_targets

    return parse_targets(target if isinstance(target, str) else list(target))
