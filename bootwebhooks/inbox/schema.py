"""OpenAPI annotations for drf-spectacular (the `schema` extra). Without it installed they
annotate nothing, and the views work the same."""

from collections.abc import Callable
from typing import Any

try:
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import extend_schema, inline_serializer
except ImportError:  # the `schema` extra is not installed

    class OpenApiTypes:  # type: ignore[no-redef]
        OBJECT = dict

    def extend_schema(**kwargs: Any) -> Callable[[Any], Any]:  # type: ignore[no-redef]
        return lambda view: view

    def inline_serializer(name: str, fields: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[no-redef]
        return None


__all__ = ["OpenApiTypes", "extend_schema", "inline_serializer"]
