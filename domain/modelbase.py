"""The base of the domain's pydantic models: one set of given field names shared by every instance
with the same names.

Pydantic keeps in each instance the set of fields it was given (`model_fields_set`): 200–700 bytes a
model, more than the instance's own fields for most of ours. A case workflow holds some twenty models
for as long as the worker caches it (its input, clocks, money), so at 10,000 cached cases these sets
alone were ~100 MB of identical content. Here an instance gets the one shared set of its content
when it is made, and its own copy just before an assignment would add a name to it, so
`model_fields_set` and `exclude_unset` mean what they always meant.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Distinct contents are few (the combinations of optional fields the code actually gives); the bound
# only guards against a caller that invents field names, e.g. a model with extra fields allowed.
MAX_SHARED = 4096
_shared: dict[frozenset[str], set[str]] = {}


def shared_fields_set(names: set[str]) -> set[str]:
    """The one set with these names, or `names` itself past the bound."""
    key = frozenset(names)
    found = _shared.get(key)
    if found is not None:
        return found
    if len(_shared) >= MAX_SHARED:
        return names
    return _shared.setdefault(key, set(names))


class DomainModel(BaseModel):
    def model_post_init(self, context: Any, /) -> None:
        object.__setattr__(self, "__pydantic_fields_set__", shared_fields_set(self.__pydantic_fields_set__))

    def __setattr__(self, name: str, value: Any) -> None:
        names = self.__pydantic_fields_set__
        if name not in names and name in type(self).__pydantic_fields__:
            # Pydantic adds the name to the set: to a copy of this instance's own, not the shared one.
            object.__setattr__(self, "__pydantic_fields_set__", set(names))
        super().__setattr__(name, value)
