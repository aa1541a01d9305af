"""Model sources, torch→ONNX export, simplification, and the compile pipeline.

This package is also what ``edgekit.compile(...)`` calls: the module object is
callable, so that the public function and the folder of the same name coexist
(importing a submodule would otherwise replace a function of that name).
Nothing heavy is imported here.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from edgekit.api import compile as compile_api

        return compile_api(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
