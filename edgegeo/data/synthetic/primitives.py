"""Closed triangle meshes of simple solids (box, cylinder, sphere) with outward winding and
shading normals, and the rigid transforms that place them.

Every primitive is built in its own local frame, which also serves as its texture frame, so a
texture follows the object when it is moved or rotated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class Mesh:
    """A closed triangle mesh.

    Attributes:
        vertices: ``(N,3) float64`` metres.
        triangles: ``(M,3) int64`` vertex indices, counter-clockwise seen from outside.
        normals: ``(N,3) float64`` unit shading normals per vertex (smooth on curved surfaces,
            per-face on flat ones: flat faces have their own vertices).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    normals: np.ndarray

    def transformed(self, a_T_b: np.ndarray) -> "Mesh":
        """This mesh (given in frame b) expressed in frame a, with ``a_T_b`` a 4×4 rigid transform."""
        rotation, translation = a_T_b[:3, :3], a_T_b[:3, 3]
        return Mesh(self.vertices @ rotation.T + translation, self.triangles, self.normals @ rotation.T)

    def flipped(self) -> "Mesh":
        """The same surface seen from inside (reversed winding and normals), for enclosures."""
        return Mesh(self.vertices, self.triangles[:, ::-1].copy(), -self.normals)


def translation(offset) -> np.ndarray:
    """4×4 float64 transform that translates by ``offset (3,)`` metres."""
    transform = np.eye(4)
    transform[:3, 3] = offset
    return transform


def yaw_transform(yaw_rad: float, offset=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4×4 float64 transform: rotation by ``yaw_rad`` about +z, then translation by ``offset``."""
    cos, sin = np.cos(yaw_rad), np.sin(yaw_rad)
    transform = translation(offset)
    transform[:2, :2] = [[cos, -sin], [sin, cos]]
    return transform


_BOX_FACES = (  # (outward normal axis, sign, the four corner bits in counter-clockwise order)
    (0, -1, (0b000, 0b001, 0b011, 0b010)), (0, 1, (0b100, 0b110, 0b111, 0b101)),
    (1, -1, (0b000, 0b100, 0b101, 0b001)), (1, 1, (0b010, 0b011, 0b111, 0b110)),
    (2, -1, (0b000, 0b010, 0b110, 0b100)), (2, 1, (0b001, 0b101, 0b111, 0b011)),
)


def box(size) -> Mesh:
    """Axis-aligned box ``[0, sx] × [0, sy] × [0, sz]`` (local origin at its minimum corner).

    Args:
        size: ``(3,)`` edge lengths in metres, each > 0.
    Returns:
        Mesh with 24 vertices (4 per face) and 12 triangles.
    """
    size = np.asarray(size, np.float64)
    if size.shape != (3,) or not np.all(size > 0):
        raise ValueError(f"box size must be 3 positive lengths, got {size}")
    vertices, normals, triangles = [], [], []
    for axis, sign, corners in _BOX_FACES:
        base = len(vertices)
        for bits in corners:
            vertices.append([(bits >> 2) & 1, (bits >> 1) & 1, bits & 1])
            normal = [0.0, 0.0, 0.0]
            normal[axis] = sign
            normals.append(normal)
        triangles += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return Mesh(np.array(vertices, np.float64) * size, np.array(triangles, np.int64),
                np.array(normals, np.float64))


def cylinder(radius: float, height: float, segments: int = 24) -> Mesh:
    """Closed cylinder along +z, base centre at the local origin, top at ``z = height``.

    Args:
        radius, height: metres, > 0.
        segments: facets around the axis (≥ 3); sides get smooth normals, caps flat ones.
    """
    if radius <= 0 or height <= 0 or segments < 3:
        raise ValueError(f"cylinder needs radius > 0, height > 0, segments >= 3; got "
                         f"{radius}, {height}, {segments}")
    angles = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles), np.zeros(segments)], axis=1)
    index = np.arange(segments)
    following = (index + 1) % segments
    side_vertices = np.concatenate([ring * radius, ring * radius + [0, 0, height]])
    side_normals = np.concatenate([ring, ring])
    side = np.concatenate([np.stack([index, following, following + segments], 1),
                           np.stack([index, following + segments, index + segments], 1)])
    bottom_start, top_start = 2 * segments, 3 * segments + 1
    cap_vertices = np.concatenate([ring * radius, [[0, 0, 0]], ring * radius + [0, 0, height],
                                   [[0, 0, height]]])
    cap_normals = np.concatenate([np.tile([0, 0, -1.0], (segments + 1, 1)),
                                  np.tile([0, 0, 1.0], (segments + 1, 1))])
    bottom = np.stack([np.full(segments, bottom_start + segments), bottom_start + following,
                       bottom_start + index], 1)
    top = np.stack([np.full(segments, top_start + segments), top_start + index,
                    top_start + following], 1)
    return Mesh(np.concatenate([side_vertices, cap_vertices]),
                np.concatenate([side, bottom, top]).astype(np.int64),
                np.concatenate([side_normals, cap_normals]))


def sphere(radius: float, segments: int = 24) -> Mesh:
    """UV sphere centred on the local origin with smooth normals.

    Args:
        radius: metres, > 0.
        segments: facets around the equator (≥ 4); half as many rings pole to pole.
    """
    if radius <= 0 or segments < 4:
        raise ValueError(f"sphere needs radius > 0 and segments >= 4; got {radius}, {segments}")
    rings = segments // 2
    polar = np.linspace(0.0, np.pi, rings + 1)
    azimuth = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    theta, phi = np.meshgrid(polar, azimuth, indexing="ij")
    normals = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)],
                       axis=-1).reshape(-1, 3)
    ring, column = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
    a = ring * segments + column
    b = ring * segments + (column + 1) % segments
    c, d = a + segments, b + segments
    # Quads (a, c, d, b) wind counter-clockwise seen from outside; drop the degenerate pole halves.
    upper = np.stack([a, c, d], axis=-1)[:-1].reshape(-1, 3)
    lower = np.stack([a, d, b], axis=-1)[1:].reshape(-1, 3)
    return Mesh(normals * radius, np.concatenate([upper, lower]).astype(np.int64), normals)
