"""``mono-depth``: monocular relative depth, Depth Anything design (ViT + DPT): the network and
its named configs (:mod:`.network`) and the predictor, numpy image → disparity at the image's
own size (:mod:`.predictor`)."""
from .network import NAMED_CONFIGS, MonoDepthNet, MonoDepthNetConfig, count_parameters
from .predictor import MonoDepthPredictor, working_size

__all__ = ["MonoDepthNet", "MonoDepthNetConfig", "MonoDepthPredictor", "NAMED_CONFIGS",
           "count_parameters", "working_size"]
