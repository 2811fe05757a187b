"""``mono-depth``: monocular relative depth, Depth Anything design (ViT + DPT): the network and
its named configs (:mod:`.network`) and the predictor, numpy image → disparity at the image's
own size (:mod:`.predictor`)."""
from .network import NAMED_CONFIGS, MonoDepthNet, MonoDepthNetConfig, count_parameters
from .predictor import MonoDepthPredictor, working_size

__all__ = ["MonoDepthNet", "MonoDepthNetConfig", "MonoDepthPredictor", "NAMED_CONFIGS",
           "count_parameters", "working_size"]

# After the imports above: the registry imports every model folder, this one included.
from ..registry import register_model  # noqa: E402

register_model("mono-depth", build=MonoDepthNet, predictor=MonoDepthPredictor,
               config_from_name=MonoDepthNetConfig.named,
               config_from_dict=MonoDepthNetConfig.from_dict,
               default_config="small")
