"""``jbu``: learned joint bilateral ×4 depth upsampling (FeatUp's JBU): the ×2 stages, stacks
and the shipped :class:`DepthJBU` (:mod:`.network`), its predictor (:mod:`.predictor`), the
``adaptive_conv`` op wrapper that exports to ONNX (:mod:`.ops`) and the non-learned methods it
is compared with (:mod:`.baselines`, imported by those that compare)."""
from .network import DepthJBU, JBUConfig, JBUStack, JBUStage, area_downsample_depth
from .predictor import JBUPredictor

__all__ = ["DepthJBU", "JBUConfig", "JBUPredictor", "JBUStack", "JBUStage",
           "area_downsample_depth"]

# After the imports above: the registry imports every model folder, this one included.
from ..registry import register_model  # noqa: E402

register_model("jbu", build=DepthJBU, predictor=JBUPredictor,
               config_from_name=JBUConfig.named, config_from_dict=JBUConfig.from_dict,
               default_config="x4")
