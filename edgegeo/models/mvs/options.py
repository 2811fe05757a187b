"""Post-processing options of the mvs predictor, as a model card's ``predictor_options`` holds
them: frozen dataclasses of parameters that a caller turns on with ``True`` (the defaults),
off with ``None``/``False``, or gives as a dict of fields."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


class PredictorOption:
    """Mixin for a frozen dataclass of post-processing parameters; ``option_name`` is the
    predictor's keyword for it (used in error messages)."""

    option_name: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (what a model card's ``predictor_options`` holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_value(cls, value):
        """``None``/``False`` → None (off); ``True`` → the defaults; a dict of fields or an
        instance → that.

        Raises:
            ValueError: anything else, or unknown fields.
        """
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
            return cls(**value)
        raise ValueError(f"{cls.option_name} must be None, a bool, a dict of {cls.__name__} "
                         f"fields or a {cls.__name__}, got {type(value).__name__}")
