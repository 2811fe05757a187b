"""Headless pictures and depth maps of meshes: ray-cast a mesh from a pinhole camera (no OpenGL
needed)."""
from __future__ import annotations

import numpy as np
import open3d as o3d
import open3d.core as o3c

from edgegeo.geometry import invert_pose, validate_K


def render_mesh(mesh: o3d.geometry.TriangleMesh, K: np.ndarray, world_T_cam: np.ndarray,
                width: int, height: int, use_vertex_colors: bool = True) -> np.ndarray:
    """Shaded picture of ``mesh`` seen from a camera.

    Lambert shading with a head-light (light at the camera), times the interpolated vertex
    colour when the mesh has colours and ``use_vertex_colors``; background black.

    Args:
        mesh: legacy triangle mesh, world frame, metres.
        K: ``(3,3)`` intrinsics for a ``width`` × ``height`` image, pixels.
        world_T_cam: ``(4,4)`` camera-to-world pose.
    Returns:
        ``(height,width,3) uint8`` RGB.
    """
    K = validate_K(K)
    image = np.zeros((height, width, 3), np.uint8)
    if not mesh.has_triangles():
        return image
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    rays = scene.create_rays_pinhole(o3c.Tensor(K), o3c.Tensor(invert_pose(world_T_cam)),
                                     width, height)
    hit = scene.cast_rays(rays)
    t = hit["t_hit"].numpy()
    mask = np.isfinite(t)
    direction = rays.numpy()[..., 3:]
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    normals = hit["primitive_normals"].numpy()
    shade = np.abs(np.sum(normals * direction, axis=-1))            # head-light Lambert
    albedo = np.full((height, width, 3), 0.8, np.float32)
    if use_vertex_colors and mesh.has_vertex_colors():
        tri = np.asarray(mesh.triangles)
        colors = np.asarray(mesh.vertex_colors, np.float32)
        ids = hit["primitive_ids"].numpy()[mask].astype(np.int64)
        uv = hit["primitive_uvs"].numpy()[mask]
        bary = np.stack([1 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)[..., None]
        albedo[mask] = np.sum(colors[tri[ids]] * bary, axis=1)
    value = albedo * (0.25 + 0.75 * shade[..., None])
    image[mask] = np.clip(value[mask] * 255, 0, 255).astype(np.uint8)
    return image


def render_depth(scene: o3d.t.geometry.RaycastingScene, K: np.ndarray, world_T_cam: np.ndarray,
                 hw: tuple[int, int]) -> np.ndarray:
    """Depth of the meshes in ``scene`` seen from a camera.

    Args:
        scene: an Open3D ``RaycastingScene`` (world frame, metres).
        K: ``(3,3)`` intrinsics of the ``hw = (h, w)`` image, pixels (pixel (0, 0)'s centre at
            (0, 0), as everywhere in edgegeo).
        world_T_cam: ``(4,4)`` camera-to-world pose, metres.
    Returns:
        ``(h, w) float32`` metres along the optical axis, 0 where no triangle is hit.
    """
    from edgegeo.data.synthetic.renderer import camera_rays

    h, w = (int(v) for v in hw)
    # camera_rays' directions have camera-frame z = 1, so a hit's ray parameter is its depth.
    rays = camera_rays(validate_K(K), np.asarray(world_T_cam, np.float64), w, h)
    t_hit = scene.cast_rays(o3c.Tensor(rays))["t_hit"].numpy().reshape(h, w)
    return np.where(np.isfinite(t_hit), t_hit, 0.0).astype(np.float32)
