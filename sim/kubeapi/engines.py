"""The two pure engines the server delegates to: patch application and the CRD schema engine.

One import point, so the verb code does not care how the engines are split into modules.
"""

from __future__ import annotations

from .patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from .schema import FieldError, StructuralSchema

__all__ = ["FieldError", "PatchError", "StructuralSchema", "json_patch", "merge_patch", "strategic_merge_patch"]
