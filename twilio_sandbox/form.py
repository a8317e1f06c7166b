"""The form fields of a REST request, read the way Twilio reads them."""

from __future__ import annotations

from starlette.datastructures import FormData

__all__ = ["Form"]


class Form:
    def __init__(self, data: FormData) -> None:
        self._data = data

    def first(self, name: str) -> str | None:
        """The field's value; a missing or blank field is None."""
        value = self._data.get(name)
        if not isinstance(value, str):
            return None
        return value if value.strip() else None

    def all(self, name: str) -> list[str]:
        """Every value of a repeated field (e.g. StatusCallbackEvent)."""
        values: list[str] = []
        for value in self._data.getlist(name):
            if isinstance(value, str):
                values.extend(part for part in value.split() if part)
        return values
