"""Assemble an ``apiextensions.k8s.io/v1`` CustomResourceDefinition from a schema and its names.

All the Antrea CRDs the adapter uses serve exactly one version, which is also the storage version,
with no conversion webhook (antrea.md §1); this helper encodes that shape once.
"""

from __future__ import annotations

from typing import Any

from crds.generator.blocks import Schema

GROUP = "crd.antrea.io"

PrinterColumn = dict[str, Any]


def column(name: str, json_path: str, type_: str, description: str = "", **extra: Any) -> PrinterColumn:
    """One ``additionalPrinterColumns`` entry (``priority`` > 0 hides it unless ``-o wide``)."""
    entry: PrinterColumn = {"name": name, "type": type_, "jsonPath": json_path}
    if description:
        entry["description"] = description
    entry.update(extra)
    return entry


AGE = column("Age", ".metadata.creationTimestamp", "date")


def custom_resource_definition(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    namespaced: bool,
    version: str,
    schema: Schema,
    description: str,
    status_subresource: bool,
    printer_columns: list[PrinterColumn] | None = None,
) -> dict[str, Any]:
    """Return the CRD object for one Antrea kind served at ``crd.antrea.io/<version>``."""
    version_entry: dict[str, Any] = {"name": version, "served": True, "storage": True}
    if printer_columns:
        version_entry["additionalPrinterColumns"] = printer_columns
    version_entry["schema"] = {"openAPIV3Schema": {"description": description, **schema}}
    if status_subresource:
        version_entry["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app": "antrea"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced" if namespaced else "Cluster",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": list(short_names),
            },
            "versions": [version_entry],
        },
    }
