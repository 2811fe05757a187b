"""Multi-view metric depth for the edge: SimpleRecon's plane sweep and 2-D U-Net (Sayed et al.,
ECCV 2022), with the *planes* design shipped — a correlation volume whose plane logits the U-Net
corrects, depth as their soft-argmin, and the volume supervised with the GT plane.

- ``config``: :class:`MVSNetConfig` and its named configs (``matching`` = the planes design;
  ``local`` = it plus the ½-resolution local depth volume; ``small`` = SimpleRecon's design at
  the same size; ``tiny`` for tests).
- ``features``: matching encoder (1/4 resolution, 16 channels; optionally also 1/2) and image
  encoder (1/2 … 1/32).
- ``metadata``: the per-(plane, pixel, source) metadata vector, sources sorted by pose distance.
- ``cost_volume``: ``(B, D, H/4, W/4)`` scores: metadata → MLP, or the dot / cosine /
  correlation volumes.
- ``network``: 2-D U-Net → depth at four scales (SimpleRecon's sigmoid depth heads, or the
  planes decoder: corrected plane logits → soft-argmin → bounded residual refinement).
- ``refinement``: the ½-resolution local depth volume (coarse to fine, after CasMVSNet):
  per-pixel depth hypotheses around the U-Net's ½ answer, scored by ½ matching features.
- ``model``: :class:`MVSNet`, all of the above.
- ``losses``: multi-scale log-L1, gradient, normal and multi-view losses (1 : 1 : 1 : 0.2),
  plus cross-entropy against the GT plane for the planes design and against the GT hypothesis
  for the local volume.
- ``keyframes``: the DeepVideoMVS keyframe buffer and source penalty.
- ``planar``: the planar prior after the network: depth on planar, similarly coloured regions
  snapped to the region's plane (colour segmentation + RANSAC; the shipped card turns it on).
- ``predictor``: :class:`MVSPredictor` (numpy in, metric depth out) and :class:`MVSStream`.

    predictor = edgegeo.load("mvs")
    depth = predictor(ref_rgb, ref_K, ref_world_T_cam, src_rgbs, src_Ks, src_world_T_cams)
    stream = MVSStream(predictor)
    for frame in frames:
        depth = stream.push(frame)        # (H, W) float32 metres for keyframes, else None

Reference: Sayed et al., "SimpleRecon: 3D Reconstruction Without 3D Convolutions", ECCV 2022 (code:
https://github.com/nianticlabs/simplerecon).
"""
from .config import NAMED_CONFIGS, MVSNetConfig
from .keyframes import KeyframeBuffer, pose_measures, select_sources, source_penalty
from .model import MVSNet
from .predictor import MVSPredictor, MVSStream

__all__ = ["MVSNetConfig", "NAMED_CONFIGS", "MVSNet", "MVSPredictor", "MVSStream",
           "KeyframeBuffer", "pose_measures", "select_sources", "source_penalty"]

# After the imports above: the registry imports every model folder, this one included.
from ..registry import register_model  # noqa: E402

register_model("mvs", build=MVSNet, predictor=MVSPredictor,
               config_from_name=MVSNetConfig.named, config_from_dict=MVSNetConfig.from_dict,
               default_config="context")
