"""Shared base classes for NSX wire models.

Why ``extra="allow"``: the adapter reads objects and sometimes writes them back (PUT is a full
replace). A newer NSX may add writable fields this project does not know; dropping them on read
("ignore") would silently erase them on the next PUT. Keeping them ("allow") makes a GET -> PUT
round trip lossless, and unknown fields never break parsing.

Why ``exclude_unset`` on dump: NSX distinguishes "absent" from "null"/default (PATCH merges only
the fields sent, inventory UPDATEs are sparse). Dumping exactly the fields that were set (parsed or
assigned) keeps that distinction and makes parse -> dump an identity.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

ProtectionStatus = Literal["PROTECTED", "NOT_PROTECTED", "REQUIRE_OVERRIDE", "UNKNOWN"]


def wire_name(name: str) -> Any:
    """An optional field spelled ``name`` on the wire (``_revision``, ``httpStatus``, …).

    Validation and serialization aliases rather than ``alias``: type checkers then see the Python
    name (``revision=``) in the constructor, while JSON still uses NSX's spelling both ways."""
    return Field(default=None, validation_alias=name, serialization_alias=name)


class NsxModel(BaseModel):
    """Root of every NSX model: snake_case names as NSX spells them, ``_x`` fields via aliases."""

    model_config = ConfigDict(
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        defer_build=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready dict with NSX's field names, only the fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class TypedNsxModel(NsxModel):
    """A model whose ``resource_type`` is its discriminator.

    The default value of ``resource_type`` would be dropped by ``exclude_unset``; NSX needs it on
    every polymorphic item, so it is always marked as set.
    """

    @model_validator(mode="after")
    def _resource_type_is_always_sent(self) -> Self:
        if "resource_type" in type(self).model_fields:
            self.model_fields_set.add("resource_type")
        return self


class Tag(NsxModel):
    scope: str | None = Field(default=None, max_length=128)
    tag: str | None = Field(default=None, max_length=256)


class ManagedResource(TypedNsxModel):
    """Fields NSX puts on every Policy intent object (``PolicyConfigResource``)."""

    links: list[dict[str, Any]] | None = wire_name("_links")
    schema_: str | None = wire_name("_schema")
    self_: dict[str, Any] | None = wire_name("_self")
    revision: int | None = wire_name("_revision")
    create_time: int | None = wire_name("_create_time")
    create_user: str | None = wire_name("_create_user")
    last_modified_time: int | None = wire_name("_last_modified_time")
    last_modified_user: str | None = wire_name("_last_modified_user")
    protection: ProtectionStatus | None = wire_name("_protection")
    system_owned: bool | None = wire_name("_system_owned")
    description: str | None = None
    display_name: str | None = None
    id: str | None = None
    tags: list[Tag] | None = None
    origin_site_id: str | None = None
    owner_id: str | None = None
    parent_path: str | None = None
    path: str | None = None
    realization_id: str | None = None
    relative_path: str | None = None
    remote_path: str | None = None
    unique_id: str | None = None
    children: list[dict[str, Any]] | None = None
    marked_for_delete: bool | None = None
    overridden: bool | None = None
