"""Masking of customer personal data for roles that do not need it (seed 000 ch. 5)."""

from __future__ import annotations

from typing import Any


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name


def mask_phone(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < 7:
        return "*" * len(phone)
    head = 5 if phone.startswith("+") else 3  # country code and network prefix stay readable
    tail = 4
    shown = 0
    out = []
    total = len(digits)
    for char in phone:
        if char.isdigit():
            visible = shown < head or shown >= total - tail
            out.append(char if visible else "*")
            shown += 1
        else:
            out.append(char)
    return "".join(out)


def mask_address(address: str) -> str:
    return address[:3] + "…" if address else address


def mask_contact(contact: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": mask_name(contact["name"]) if contact.get("name") else None,
        "phone": mask_phone(contact["phone"]) if contact.get("phone") else None,
        "address": mask_address(contact["address"]) if contact.get("address") else None,
    }
