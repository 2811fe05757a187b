"""``croco``: the CroCo v2 cross-view completion backbone and its pre-training network
(:mod:`.network`), and :class:`CroCoCompleter` (:mod:`.predictor`), which completes a masked
view from a second one. CroCo-Stereo (:mod:`edgegeo.models.croco_stereo`) and the ``stereo``
model's optional CroCo features reuse the backbone."""
from .network import (MASK_RATIO, NAMED_CONFIGS, CroCoBackbone, CroCoConfig, CroCoNet, patchify,
                      random_visible, reconstruct, unpatchify)
from .predictor import CroCoCompleter

__all__ = ["CroCoBackbone", "CroCoCompleter", "CroCoConfig", "CroCoNet", "MASK_RATIO",
           "NAMED_CONFIGS", "patchify", "random_visible", "reconstruct", "unpatchify"]

# After the imports above: the registry imports every model folder, this one included.
from ..registry import register_model  # noqa: E402

register_model("croco", build=CroCoNet, predictor=CroCoCompleter,
               config_from_name=CroCoConfig.named, config_from_dict=CroCoConfig.from_dict,
               default_config="small")
