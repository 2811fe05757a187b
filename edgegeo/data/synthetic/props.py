"""The building blocks a scene is assembled from: pieces of geometry with a material, props
(furniture or clutter) made of pieces, and horizontal surfaces that other props can stand on.

A prop is described in its own object frame: origin at the centre of its footprint on the
surface it stands on, z up, front facing +y (so a wall-standing prop has its back at
``y = -half_extents[1]``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .materials import Material
from .primitives import Mesh, box, sphere, translation


@dataclass(eq=False)
class Piece:
    """One primitive placed in an object frame.

    Attributes:
        mesh: closed mesh in the piece's local frame.
        obj_T_piece: ``(4,4) float64`` pose of the piece in the object frame.
        material: its material.
        obj_T_texture: ``(4,4) float64`` frame in which the texture is box-mapped; defaults to
            ``obj_T_piece`` (set it to share one texture frame across pieces, e.g. a wall
            split around a window).
    """

    mesh: Mesh
    obj_T_piece: np.ndarray
    material: Material
    obj_T_texture: np.ndarray | None = None


@dataclass(eq=False)
class Surface:
    """A horizontal rectangle that props can stand on.

    Attributes:
        obj_T_surface: ``(4,4) float64`` pose of the rectangle's centre (z = the top of the
            surface, z axis up) in the owning object's frame.
        half_extents: ``(2,)`` half size in metres along the surface's x and y.
        headroom: free height above the surface in metres (shelf spacing, ceiling).
        bookshelf: True for a shelf that may get a row of books.
    """

    obj_T_surface: np.ndarray
    half_extents: tuple[float, float]
    headroom: float
    bookshelf: bool = False


@dataclass(eq=False)
class PointLight:
    """A point light.

    Attributes:
        position: ``(3,)`` metres (object frame inside a Prop, world frame in a Scene).
        color: ``(3,)`` linear RGB, max component 1.
        intensity: radiant intensity; irradiance at distance d is ``intensity / d²``.
    """

    position: np.ndarray
    color: np.ndarray
    intensity: float


@dataclass(eq=False)
class Prop:
    """A piece of furniture or clutter in its object frame.

    Attributes:
        kind: what it is (``"table"``, ``"book"``, ...).
        pieces: its geometry.
        half_extents: ``(2,)`` half size of its footprint (x, y), metres, centred on the origin.
        height: metres above the surface it stands on.
        surfaces: surfaces on it that other props may stand on.
        lights: lights it carries (lamps).
        against_wall: True if it belongs with its back to a wall.
        stackable: True if other small props may be stacked on its top.
    """

    kind: str
    pieces: list[Piece]
    half_extents: tuple[float, float]
    height: float
    surfaces: list[Surface] = field(default_factory=list)
    lights: list[PointLight] = field(default_factory=list)
    against_wall: bool = False
    stackable: bool = False


def box_piece(size, min_corner, material: Material) -> Piece:
    """A box of ``size (3,)`` metres whose minimum corner is at ``min_corner (3,)`` in the
    object frame."""
    return Piece(box(size), translation(min_corner), material)


def resting_sphere(name: str, radius: float, material: Material, segments: int) -> Prop:
    """A sphere of ``radius`` metres resting on the surface below it (prop origin at its
    lowest point)."""
    return Prop(name, [Piece(sphere(radius, segments), translation((0, 0, radius)), material)],
                (radius, radius), 2 * radius)


def top_surface(half_x: float, half_y: float, z: float, headroom: float) -> Surface:
    """The top of a footprint-centred rectangle at height ``z``."""
    return Surface(translation((0.0, 0.0, z)), (half_x, half_y), headroom)


def draw_prop(rng: np.random.Generator, builders: dict) -> Prop:
    """Build one prop from ``builders`` (``name → (builder(rng) -> Prop, relative frequency)``),
    drawn by frequency."""
    names = list(builders)
    weights = np.array([builders[name][1] for name in names], np.float64)
    builder = builders[names[int(rng.choice(len(names), p=weights / weights.sum()))]][0]
    return builder(rng)
