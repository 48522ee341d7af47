"""Masking of customer personal data (the rules live in domain.masking; the webhook relay uses them too)."""

from __future__ import annotations

from domain.masking import (
    MASKED_TEXT,
    mask_address,
    mask_contact,
    mask_email,
    mask_name,
    mask_personal,
    mask_phone,
)

__all__ = [
    "MASKED_TEXT",
    "mask_address",
    "mask_contact",
    "mask_email",
    "mask_name",
    "mask_personal",
    "mask_phone",
]
