"""Loading the configured toolset factory (``module:function``)."""

from __future__ import annotations

import importlib

from drawbridge.tools.definition import ToolsetFactory
from drawbridge.tools.errors import ToolDefinitionError


def load_factory(spec: str) -> ToolsetFactory:
    """Import ``module:function`` and return the function.

    Raises:
        ToolDefinitionError: the module or function cannot be found.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolDefinitionError(f"cannot import toolset module {module_name!r}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ToolDefinitionError(f"{spec!r} is not a callable toolset factory")
    return factory  # type: ignore[no-any-return]  # checked callable; its signature is the documented contract
