"""Ray-cast rendering of a :class:`~.scene.Scene`: primary rays, ground-truth buffers (z-depth,
normals, instances) and shading (box-mapped mip-mapped textures, Lambert + Blinn-Phong from
point lights with ray-cast shadows, ambient, emission).

Rays: pixel (u, v) (centre of pixel (0,0) at (0,0)) has camera-frame direction
``K⁻¹ [u, v, 1]``, whose z component is exactly 1, so the ray parameter of a hit is its depth
along the optical axis. (Open3D's ``create_rays_pinhole`` puts pixel centres at ``u + 0.5``,
another convention, so rays are built here.)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from edgegeo.data.frame import Frame
from edgegeo.geometry import validate_K, validate_pose

from .camera_model import CameraModel

SHADOW_OFFSET_M = 2e-3
"""Shadow rays start this far off the surface (along its normal) to avoid self-hits."""

BOUNCE_SOFTENING_M2 = 4.0
"""The bounce fill of a light falls off as ``1 / (d² + this)``: reflected light comes from the
whole room, so it does not peak at the bulb."""

_SRGB_TO_LINEAR = ((np.arange(256) / 255.0) ** 2.2).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _camera_rays(K_entries: tuple, width: int, height: int) -> np.ndarray:
    """``(H*W,3) float64`` directions ``K⁻¹ [u, v, 1]`` in the camera frame, row-major."""
    K_inv = np.linalg.inv(np.array(K_entries).reshape(3, 3))
    v, u = np.mgrid[0:height, 0:width]
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    return pixels @ K_inv.T


def camera_rays(K: np.ndarray, world_T_cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """Rays for every pixel, in the format of Open3D's ``cast_rays``.

    Args:
        K: ``(3,3)`` intrinsics; world_T_cam: ``(4,4)`` camera-to-world pose.
    Returns:
        ``(H*W, 6) float32`` rows ``[origin, direction]`` in the world frame, row-major pixel
        order; directions are not normalised (camera-frame z component = 1).
    """
    directions = _camera_rays(tuple(K.ravel()), width, height) @ world_T_cam[:3, :3].T
    rays = np.empty((width * height, 6), np.float32)
    rays[:, :3] = world_T_cam[:3, 3]
    rays[:, 3:] = directions
    return rays


def _validate_size(width, height) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(width), int(height)


@dataclass(eq=False)
class RenderBuffers:
    """What one view of a scene sees, before the camera model.

    Attributes:
        radiance: ``(H,W,3) float32`` linear scene radiance (arbitrary units).
        depth: ``(H,W) float32`` metres along the optical axis, 0 = no hit.
        normals: ``(H,W,3) float32`` unit geometric normals, camera frame, facing the camera;
            0 where there is no hit.
        instance: ``(H,W) int32`` instance id, 0 = no hit.
        K: ``(3,3) float64``; world_T_cam: ``(4,4) float64``.
    """

    radiance: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    instance: np.ndarray
    K: np.ndarray
    world_T_cam: np.ndarray

    def to_frame(self, camera: CameraModel, gains: np.ndarray, rng: np.random.Generator | None,
                 timestamp: float | None = None) -> Frame:
        """Develop the radiance with ``camera`` and ``gains`` into a Frame."""
        return Frame(rgb=camera.develop(self.radiance, gains, rng), K=self.K, depth=self.depth,
                     world_T_cam=self.world_T_cam, normals=self.normals, instance=self.instance,
                     timestamp=timestamp)


def cast(scene, K, world_T_cam, width: int, height: int) -> dict[str, np.ndarray]:
    """Primary ray cast without shading.

    Returns:
        dict with ``rays`` ``(H*W,6) float32``, and per pixel (flattened): ``t_hit`` ``(H*W,)
        float32`` (= z-depth, inf on a miss), ``primitive_ids`` ``(H*W,) uint32``,
        ``primitive_uvs`` ``(H*W,2) float32``, ``primitive_normals`` ``(H*W,3) float32``.
    """
    import open3d as o3d

    rays = camera_rays(K, world_T_cam, width, height)
    hits = scene.raycaster.cast_rays(o3d.core.Tensor.from_numpy(rays))
    result = {key: hits[key].numpy() for key in ("t_hit", "primitive_ids", "primitive_uvs", "primitive_normals")}
    result["rays"] = rays
    return result


def depth_only(scene, K, world_T_cam, width: int, height: int) -> np.ndarray:
    """Z-depth of a view without shading, ``(H,W) float32`` metres, 0 = no hit (fast probe)."""
    return depth_and_instance(scene, K, world_T_cam, width, height)[0]


def depth_and_instance(scene, K, world_T_cam, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Z-depth ``(H,W) float32`` (metres, 0 = no hit) and instance ids ``(H,W) int32`` (0 = no
    hit) of a view, without shading (fast probe)."""
    K = validate_K(K)
    world_T_cam = validate_pose(world_T_cam)
    width, height = _validate_size(width, height)
    hits = cast(scene, K, world_T_cam, width, height)
    finite = np.isfinite(hits["t_hit"])
    depth = np.where(finite, hits["t_hit"], 0.0).astype(np.float32).reshape(height, width)
    instance = np.zeros(width * height, np.int32)
    instance[finite] = scene.tables.triangle_instance[hits["primitive_ids"][finite]]
    return depth, instance.reshape(height, width)


def _sample_albedo(tables, triangle, material, barycentric, footprint_m) -> np.ndarray:
    """Linear albedo ``(3,n) float32``: texture looked up (nearest texel) in the mip level whose
    texel size matches each pixel's footprint on the surface, times the material tint.

    ``barycentric`` is ``(2,n) float32`` (b1, b2); ``footprint_m`` ``(n,)`` metres per pixel."""
    affine = np.take(tables.triangle_uv, triangle, axis=1)
    uv = affine[0:2] + affine[2:4] * barycentric[0] + affine[4:6] * barycentric[1]
    uv -= np.floor(uv)
    texture = tables.material_texture[material]
    texels_per_pixel = footprint_m * tables.triangle_texels_per_m[triangle]
    level = np.clip(np.floor(np.log2(np.maximum(texels_per_pixel, 1e-6)) + 0.5), 0,
                    len(tables.texture_levels) - 1).astype(np.int32)
    srgb = np.empty((3, len(triangle)), np.uint8)
    counts = np.bincount(level, minlength=len(tables.texture_levels))
    for index in np.flatnonzero(counts):
        selected = slice(None) if counts[index] == len(level) else np.flatnonzero(level == index)
        side = tables.texture_sizes[index]
        texel = np.minimum((uv[:, selected] * side).astype(np.int32), side - 1)
        srgb[:, selected] = np.take(tables.texture_levels[index], (texture[selected] * side + texel[1]) * side + texel[0],
                                    axis=1)
    return _SRGB_TO_LINEAR[srgb] * np.take(tables.material_tint, material, axis=1)


def _shade(scene, points, view, geometric, shading, albedo, material) -> np.ndarray:
    """Radiance: albedo × (ambient + Σ lights' bounce fill + Σ shadowed
    Lambert irradiance) + Blinn-Phong highlights + emission.

    The bounce fill stands in for light reflected by the room: ``bounce · I / (d² + 4 m²)`` per
    light, without shadow or cosine, so rooms darken smoothly away from their lights.

    ``points``, ``view`` (unit, towards the camera), ``geometric`` and ``shading`` normals and
    ``albedo`` are ``(3,n) float32`` (one row per axis or channel: faster than ``(n,3)`` for
    this arithmetic). Returns ``(3,n) float32`` radiance.
    """
    import open3d as o3d

    tables = scene.tables
    count = points.shape[1]
    irradiance = np.repeat(scene.ambient.astype(np.float32)[:, None], count, axis=1)
    highlights = np.zeros((3, count), np.float32)
    specular = tables.material_specular[material]
    shininess = tables.material_shininess[material]
    for light in scene.lights:
        position = light.position.astype(np.float32)
        to_light = position[:, None] - points
        distance2 = (to_light * to_light).sum(axis=0)
        color = light.color.astype(np.float32)[:, None]
        if scene.bounce > 0:
            irradiance += color * (scene.bounce * light.intensity / (distance2 + BOUNCE_SOFTENING_M2))
        direction = to_light / np.sqrt(distance2)
        cosine = (shading * direction).sum(axis=0)
        lit = np.flatnonzero((cosine > 0) & ((geometric * direction).sum(axis=0) > 0))
        if lit.size == 0:
            continue
        shadow_rays = np.empty((lit.size, 6), np.float32)
        shadow_rays[:, :3] = (points[:, lit] + geometric[:, lit] * SHADOW_OFFSET_M).T
        shadow_rays[:, 3:] = position - shadow_rays[:, :3]
        blocked = scene.raycaster.test_occlusions(o3d.core.Tensor.from_numpy(shadow_rays), tnear=0.0,
                                                  tfar=1.0).numpy()
        lit = lit[~blocked]
        strength = np.zeros(count, np.float32)
        strength[lit] = light.intensity * cosine[lit] / distance2[lit]
        irradiance += color * strength
        glossy = lit[specular[lit] > 0]
        if glossy.size:
            halfway = direction[:, glossy] + view[:, glossy]
            halfway /= np.sqrt((halfway * halfway).sum(axis=0))
            highlight = np.clip((shading[:, glossy] * halfway).sum(axis=0), 0, 1) ** shininess[glossy]
            highlights[:, glossy] += color * (specular[glossy] * highlight * strength[glossy])
    radiance = albedo * irradiance + highlights
    emission = tables.material_emission[material]
    glowing = np.flatnonzero(emission > 0)
    radiance[:, glowing] += albedo[:, glowing] * emission[glowing]
    return radiance


def render_buffers(scene, K, world_T_cam, width: int, height: int) -> RenderBuffers:
    """Ray-cast and shade one view of ``scene``.

    Args:
        scene: a :class:`~.scene.Scene`.
        K: ``(3,3)`` intrinsics (validated: degenerate → ValueError).
        world_T_cam: ``(4,4)`` camera-to-world pose (validated rigid).
        width, height: image size in pixels.
    Returns:
        RenderBuffers (radiance, depth, normals, instance, K, world_T_cam).
    """
    K = validate_K(K)
    world_T_cam = validate_pose(world_T_cam)
    width, height = _validate_size(width, height)
    tables = scene.tables
    hits = cast(scene, K, world_T_cam, width, height)
    t_hit = hits["t_hit"]
    finite = np.isfinite(t_hit)
    # In a closed room every ray hits: then slices (views) replace gathers.
    hit = slice(None) if finite.all() else np.flatnonzero(finite)
    pixels = width * height
    depth = np.zeros(pixels, np.float32)
    normals = np.zeros((pixels, 3), np.float32)
    instance = np.zeros(pixels, np.int32)
    radiance = np.zeros((pixels, 3), np.float32)
    if finite.any():
        rays = hits["rays"][hit]
        distance = t_hit[hit]
        triangle = hits["primitive_ids"][hit]
        origin, direction = rays[0, :3], np.ascontiguousarray(rays[:, 3:].T)
        points = origin[:, None] + direction * distance
        geometric = np.ascontiguousarray(hits["primitive_normals"][hit].T)
        facing = np.where((geometric * direction).sum(axis=0) > 0, -1.0, 1.0).astype(np.float32)
        geometric *= facing
        barycentric = np.ascontiguousarray(hits["primitive_uvs"][hit].T)
        shading = geometric.copy()
        curved = np.flatnonzero(tables.triangle_curved[triangle])
        if curved.size:
            corners = tables.triangle_normals[triangle[curved]]
            weights = barycentric[:, curved].T
            smooth = (corners[:, 0] + (corners[:, 1] - corners[:, 0]) * weights[:, :1]
                      + (corners[:, 2] - corners[:, 0]) * weights[:, 1:]).T
            shading[:, curved] = smooth * (facing[curved] / np.sqrt((smooth * smooth).sum(axis=0)))
        view = -direction / np.sqrt((direction * direction).sum(axis=0))
        material = tables.triangle_material[triangle]
        cosine = np.clip((geometric * view).sum(axis=0), 0.1, 1.0)
        footprint = distance / np.float32(K[0, 0]) / np.sqrt(cosine)
        albedo = _sample_albedo(tables, triangle, material, barycentric, footprint)
        radiance[hit] = _shade(scene, points, view, geometric, shading, albedo, material).T
        depth[hit] = distance
        normals[hit] = geometric.T @ world_T_cam[:3, :3].astype(np.float32)
        instance[hit] = tables.triangle_instance[triangle]
    return RenderBuffers(radiance.reshape(height, width, 3), depth.reshape(height, width),
                         normals.reshape(height, width, 3), instance.reshape(height, width), K, world_T_cam)
