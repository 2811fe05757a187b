"""Synthetic scene engine: procedural furnished rooms ray-cast with Open3D (CPU, Embree), the
source of every model's training data and every held-out evaluation in edgegeo.

    scene = generate_scene(seed=3)                       # reproducible per seed
    frame = scene.render(K, world_T_cam, 256, 192)       # Frame: rgb, depth, normals, instance
    frames = walkthrough(scene, 60, 256, 192, seed=1)    # hand-held video
    pair = stereo_pair(scene, 256, 192, baseline_m=0.1)  # rectified pair + GT disparity
    pairs = mine_view_pairs(scene, 8, 224, 224)          # CroCo v2-scored view pairs
    write_shard("out/shard0", frames); read_shard("out/shard0")
    pack_shards("out", "walkthrough", "out.npz"); read_packed("out.npz")   # one-file archive

World frame z-up, metres; cameras OpenCV (x right, y down, z forward); see conventions.md.
"""
from .camera_model import CameraModel
from .camera_placement import clearance, is_free, pose_from_angles, sample_free_position, sample_view
from .materials import Material
from .overlap import (croco_angle_term, croco_score, overlap_iou, overlap_iou_from_depth,
                      viewpoint_angle_deg, visible_in)
from .props import PointLight
from .renderer import RenderBuffers, camera_rays, depth_only
from .rigs import StereoPair, ViewPair, mine_view_pairs, stereo_occlusion, stereo_pair, view_pair, walkthrough
from .packed import is_packed, pack_shards, read_packed
from .scene import Scene, SceneConfig, generate_scene
from .shards import (read_shard, scene_shards, read_stereo_shard, read_view_pair_shard, write_shard, write_stereo_shard,
                     write_view_pair_shard)

__all__ = [
    "generate_scene", "Scene", "SceneConfig", "Material", "PointLight", "CameraModel", "RenderBuffers",
    "camera_rays", "depth_only",
    "clearance", "is_free", "sample_free_position", "sample_view", "pose_from_angles",
    "walkthrough", "stereo_pair", "stereo_occlusion", "StereoPair", "view_pair", "mine_view_pairs", "ViewPair",
    "visible_in", "overlap_iou", "overlap_iou_from_depth", "viewpoint_angle_deg", "croco_angle_term",
    "croco_score",
    "write_shard", "read_shard", "scene_shards", "write_stereo_shard", "read_stereo_shard", "write_view_pair_shard",
    "read_view_pair_shard", "pack_shards", "read_packed", "is_packed",
]
