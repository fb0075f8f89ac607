"""One version of a parameter as the operations see it, whether a stored row or a public parameter."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Version:
    """One version of a parameter, with what the API shows of it (value still encrypted for SecureString)."""

    name: str
    arn: str
    version: int
    type: str
    value: str
    modified_at: float
    data_type: str = "text"
    tier: str = "Standard"
    modified_user: str = ""
    key_id: str | None = None
    key_arn: str | None = None
    description: str | None = None
    allowed_pattern: str | None = None
    policies: list[dict[str, str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
