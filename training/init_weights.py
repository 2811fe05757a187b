"""Start a run from an earlier run's weights (a warm restart): ``--set init=PATH``."""
from __future__ import annotations

from torch import nn

NO_INIT = "none"


def initialise_from(model: nn.Module, init: str, recipe: str, added: tuple[str, ...] = ()
                    ) -> nn.Module:
    """Load ``init`` (a ``.safetensors`` of a ``recipe`` run with the same network settings)
    into ``model``; ``init == "none"`` leaves the random initialisation. Parameters whose
    names start with one of ``added`` (stages a warm start may add) may be missing from it.

    Raises:
        FileNotFoundError: no such weights.
        ValueError: the weights do not fit ``model`` (other network settings).
    """
    if init == NO_INIT:
        return model
    from edgegeo.weights_io import load_weights

    return load_with_added_stages(model, load_weights(init), init, recipe, added)


def load_with_added_stages(model: nn.Module, weights: dict, source: str, recipe: str,
                           added: tuple[str, ...] = ()) -> nn.Module:
    """Load earlier weights into ``model``; only parameters whose names start with one of
    ``added`` may be missing from them (those stages keep their own — identity —
    initialisation: a warm start that adds them).

    Raises:
        ValueError: the weights hold tensors ``model`` lacks, miss others, or differ in shape.
    """
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:
        raise ValueError(f"config init {source!r} does not fit this {recipe} network (other "
                         f"network settings?): {str(exc).splitlines()[0]}") from None
    missing = [k for k in missing if not k.startswith(tuple(added))]
    if missing or unexpected:
        raise ValueError(f"config init {source!r} does not fit this {recipe} network: missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}")
    return model


def init_provenance(init: str) -> dict:
    """Model-card entry for a run started from ``init``: how those weights were made (their
    card's sha256, command, steps, wall time, data, and its own ``init_from``), so the chain of runs
    behind shipped weights stays reproducible. Empty for ``none``."""
    if init == NO_INIT:
        return {}
    from edgegeo.weights_io import load_model_card

    card = load_model_card(init)
    keys = ("sha256", "command", "resume_commands", "steps", "wall_time_s", "wall_time_total_s",
            "data", "init_from")
    return {"init_from": {"weights": init, **{k: card[k] for k in keys if k in card}}}


def total_wall_time(card: dict) -> float:
    """Seconds of training behind a model card's weights: its own ``wall_time_s`` plus that of
    the chain of runs it was warm-started from (``init_from``, each entry's own total where it
    has one)."""
    total = float(card.get("wall_time_s", 0.0))
    earlier = card.get("init_from")
    if isinstance(earlier, dict):
        total += total_wall_time(earlier) if "wall_time_total_s" not in earlier \
            else float(earlier["wall_time_total_s"])
    return round(total, 3)
