"""Masking of customer personal data for roles that do not need it (seed 000 ch. 5). Pure: the API
masks what it answers, the webhook relay what it sends."""

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


def mask_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "*" * len(email)


def mask_contact(contact: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": mask_name(contact["name"]) if contact.get("name") else None,
        "phone": mask_phone(contact["phone"]) if contact.get("phone") else None,
        "address": mask_address(contact["address"]) if contact.get("address") else None,
        "email": mask_email(contact["email"]) if contact.get("email") else None,
        "channel": contact.get("channel"),
    }


MASKED_TEXT = "[masked]"
CONTACT_FIELDS = {"name": mask_name, "phone": mask_phone, "address": mask_address, "email": mask_email}
# Customer free text, wherever it sits in a JSON document.
FREE_TEXT_KEYS = frozenset({"description", "text"})
PRIVATE_KEY = "private"  # the workflow keeps what the customer wrote under this key


def mask_personal(value: Any) -> tuple[Any, int]:
    """A copy of a JSON value with personal data masked, and how many personal fields it held.

    Masked: the name, phone and address of any `contact` object (as for the API's contact), customer
    free text under `description` and `text`, and everything under `private`.
    """
    if isinstance(value, list):
        found = 0
        items = []
        for item in value:
            masked, count = mask_personal(item)
            items.append(masked)
            found += count
        return items, found
    if not isinstance(value, dict):
        return value, 0
    out: dict[str, Any] = {}
    found = 0
    for key, item in value.items():
        private = key == PRIVATE_KEY and item not in (None, "", {}, [])
        if private or (key in FREE_TEXT_KEYS and isinstance(item, str) and item):
            out[key], found = MASKED_TEXT, found + 1
        elif key == "contact" and isinstance(item, dict):
            contact = dict(item)
            for field, mask in CONTACT_FIELDS.items():
                if isinstance(contact.get(field), str) and contact[field]:
                    contact[field] = mask(contact[field])
                    found += 1
            out[key] = contact
        else:
            out[key], count = mask_personal(item)
            found += count
    return out, found
