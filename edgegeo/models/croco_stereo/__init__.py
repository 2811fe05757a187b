"""``croco-stereo``: the CroCo backbone with a DPT head (CroCo-Stereo), kept as the recipe and
the honest result it is: on CPU budgets it never left the constant guess (see
``training/croco/benchmark_notes.md``). The shipped ``stereo`` model is
:mod:`edgegeo.models.stereo`."""
from .network import (CroCoStereoConfig, CroCoStereoNet, bounded_log_scale,
                      load_backbone_weights)
from .predictor import CroCoStereoPredictor

__all__ = ["CroCoStereoConfig", "CroCoStereoNet", "CroCoStereoPredictor", "bounded_log_scale",
           "load_backbone_weights"]

# After the imports above: the registry imports every model folder, this one included.
from ..registry import register_model  # noqa: E402

register_model("croco-stereo", build=CroCoStereoNet, predictor=CroCoStereoPredictor,
               config_from_name=CroCoStereoConfig.named,
               config_from_dict=CroCoStereoConfig.from_dict,
               default_config="small")
