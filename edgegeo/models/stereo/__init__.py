"""``stereo``: the edge stereo network with explicit cost volumes (:mod:`.network`), its
predictor (:mod:`.predictor`) and the rectified-pair checks every stereo predictor shares
(:mod:`.pairs`)."""
from .network import CostVolumeStereo, StereoConfig
from .pairs import check_stereo_pair, rectification_problem
from .predictor import StereoPredictor

__all__ = ["CostVolumeStereo", "StereoConfig", "check_stereo_pair", "rectification_problem",
           "StereoPredictor"]

# After the imports above: the registry imports every model folder, this one included.
from ..registry import register_model  # noqa: E402

register_model("stereo", build=CostVolumeStereo, predictor=StereoPredictor,
               config_from_name=StereoConfig.named, config_from_dict=StereoConfig.from_dict,
               default_config="small")
