"""The URIs that name the runtime's ends, ``scheme://target?key=value&...``: parsed in one
place for the sources (:func:`edgegeo.runtime.sources.open_source`) and the sinks
(:func:`edgegeo.runtime.sinks.open_sink`), with the option readers both use. Every error is a
ValueError naming the URI and what is wrong with it."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote


@dataclass(frozen=True)
class URI:
    """A parsed URI: ``scheme://target?options`` (``text``: the URI as given, stripped)."""

    scheme: str
    target: str
    options: dict = field(default_factory=dict)
    text: str = ""


def parse_uri(uri: str, schemes: tuple[str, ...], kind: str, example: str,
              default_scheme: str | None = None, cls: type[URI] = URI) -> URI:
    """Split a ``kind`` URI (``source``, ``sink``) into scheme, target and options (no I/O).

    Args:
        schemes: the schemes this kind knows.
        example: shown when the URI is empty.
        default_scheme: the scheme of a text without ``://`` (None: such a text is an error).
        cls: the :class:`URI` (sub)class to return.
    Raises:
        ValueError: empty URI, no or unknown scheme (the message lists the known ones), an
        option without ``=``, or an option given twice.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise ValueError(f"empty {kind} URI; e.g. {example}")
    text = uri.strip()
    known = ", ".join(s + "://" for s in schemes)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        scheme = scheme.lower()
    elif default_scheme is not None:
        scheme, rest = default_scheme, text
    else:
        raise ValueError(f"{kind} URI {uri!r} has no scheme; known: {known}")
    if scheme not in schemes:
        raise ValueError(f"unknown {kind} scheme {scheme!r} in {uri!r}; known: {known}")
    target, _, query = rest.partition("?")
    options: dict[str, str] = {}
    if query:
        for part in query.split("&"):
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"{uri}: option {part!r} must be key=value")
            key, value = (unquote(v) for v in part.split("=", 1))
            if key in options:
                raise ValueError(f"{uri}: option {key!r} given twice")
            options[key] = value
    return cls(scheme, unquote(target), options, text)


# --------------------------------------------------------------------------- option values
def check_options(parsed: URI, allowed: set[str], what: str) -> None:
    """Raise ValueError if ``parsed`` has options outside ``allowed`` (``what``: e.g. ``video
    source``, named in the message)."""
    unknown = sorted(set(parsed.options) - allowed)
    if unknown:
        raise ValueError(f"{parsed.text}: unknown option(s) {', '.join(unknown)} for a {what}; "
                         f"allowed: {', '.join(sorted(allowed)) or 'none'}")


def int_option(parsed: URI, key: str, default=None, minimum: int = 1):
    """Option ``key`` as an integer ≥ ``minimum`` (``default`` when absent)."""
    if key not in parsed.options:
        return default
    try:
        value = int(parsed.options[key])
    except ValueError:
        raise ValueError(f"{parsed.text}: {key} must be an integer, got "
                         f"{parsed.options[key]!r}") from None
    if value < minimum:
        raise ValueError(f"{parsed.text}: {key} must be >= {minimum}, got {value}")
    return value


def float_option(parsed: URI, key: str, default=None, allow_zero: bool = False):
    """Option ``key`` as a finite number > 0 (≥ 0 with ``allow_zero``; ``default`` when
    absent)."""
    if key not in parsed.options:
        return default
    try:
        value = float(parsed.options[key])
    except ValueError:
        value = float("nan")
    if not (value >= 0 if allow_zero else value > 0) or value == float("inf"):
        raise ValueError(f"{parsed.text}: {key} must be a "
                         f"{'non-negative' if allow_zero else 'positive'} number, got "
                         f"{parsed.options[key]!r}")
    return value


def bool_option(parsed: URI, key: str, default: bool) -> bool:
    """Option ``key`` as a flag: 1/true/yes/on (or empty) or 0/false/no/off."""
    if key not in parsed.options:
        return default
    value = parsed.options[key].lower()
    if value in ("1", "true", "yes", "on", ""):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{parsed.text}: {key} must be 0 or 1, got {parsed.options[key]!r}")
