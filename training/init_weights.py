"""Start a run from an earlier run's weights (a warm restart): ``--set init=PATH``."""
from __future__ import annotations

from torch import nn

NO_INIT = "none"


def initialise_from(model: nn.Module, init: str, recipe: str) -> nn.Module:
    """Load ``init`` (a ``.safetensors`` of a ``recipe`` run with the same network settings)
    into ``model``; ``init == "none"`` leaves the random initialisation.

    Raises:
        FileNotFoundError: no such weights.
        ValueError: the weights do not fit ``model`` (other network settings).
    """
    if init == NO_INIT:
        return model
    from edgegeo.weights_io import load_weights

    try:
        model.load_state_dict(load_weights(init))
    except RuntimeError as exc:
        raise ValueError(f"config init {init!r} does not fit this {recipe} network (other "
                         f"network settings?): {str(exc).splitlines()[0]}") from None
    return model


def init_provenance(init: str) -> dict:
    """Model-card entry for a run started from ``init``: how those weights were made (their
    card's sha256, command, steps, wall time, data, and its own ``init_from``), so the chain of runs
    behind shipped weights stays reproducible. Empty for ``none``."""
    if init == NO_INIT:
        return {}
    from edgegeo.weights_io import load_model_card

    card = load_model_card(init)
    keys = ("sha256", "command", "resume_commands", "steps", "wall_time_s", "data", "init_from")
    return {"init_from": {"weights": init, **{k: card[k] for k in keys if k in card}}}
