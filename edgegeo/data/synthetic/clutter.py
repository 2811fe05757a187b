"""Small objects that stand on floors, tables, shelves and on each other: books, boxes, cups,
bottles, bowls, fruit, plates, vases and candles (thin objects), at real-world sizes.

Each builder takes a ``numpy.random.Generator`` and returns a :class:`~.props.Prop` in its
object frame (origin at the footprint centre on the supporting surface).
"""
from __future__ import annotations

import numpy as np

from . import materials
from .primitives import cylinder, sphere, translation
from .props import resting_sphere, Piece, Prop, box_piece, top_surface


def book(rng: np.random.Generator, upright: bool | None = None) -> Prop:
    """A book standing upright (spine facing +y) or lying flat; ``upright=None`` picks at random."""
    thickness, width, height = rng.uniform(0.015, 0.06), rng.uniform(0.13, 0.22), rng.uniform(0.18, 0.3)
    material = materials.object_material(rng)
    if upright is None:
        upright = bool(rng.random() < 0.6)
    if upright:
        size = (thickness, width, height)
        stackable = False
    else:
        size = (height, width, thickness)
        stackable = True
    return Prop("book", [box_piece(size, (-size[0] / 2, -size[1] / 2, 0.0), material)],
                (size[0] / 2, size[1] / 2), size[2],
                surfaces=[top_surface(size[0] / 2, size[1] / 2, size[2], 0.5)] if stackable else [],
                stackable=stackable)


def small_box(rng: np.random.Generator) -> Prop:
    """A small box (packaging, tissue box, jewellery box)."""
    size = (rng.uniform(0.06, 0.3), rng.uniform(0.06, 0.25), rng.uniform(0.04, 0.25))
    material = materials.object_material(rng)
    return Prop("small_box", [box_piece(size, (-size[0] / 2, -size[1] / 2, 0.0), material)],
                (size[0] / 2, size[1] / 2), size[2],
                surfaces=[top_surface(size[0] / 2 - 0.01, size[1] / 2 - 0.01, size[2], 0.5)],
                stackable=True)


def cup_or_bottle(rng: np.random.Generator) -> Prop:
    """A cylinder: mug, can, glass jar or bottle (with a neck)."""
    material = materials.object_material(rng) if rng.random() < 0.7 else materials.metal_material(rng)
    if rng.random() < 0.55:
        radius, height = rng.uniform(0.03, 0.055), rng.uniform(0.07, 0.14)
        return Prop("cup", [Piece(cylinder(radius, height, 20), translation((0, 0, 0)), material)],
                    (radius, radius), height)
    radius, body_h, neck_h = rng.uniform(0.03, 0.05), rng.uniform(0.12, 0.22), rng.uniform(0.05, 0.1)
    pieces = [Piece(cylinder(radius, body_h, 20), translation((0, 0, 0)), material),
              Piece(cylinder(radius * 0.35, neck_h, 12), translation((0, 0, body_h)), material)]
    return Prop("bottle", pieces, (radius, radius), body_h + neck_h)


def fruit_or_ball(rng: np.random.Generator) -> Prop:
    """A small sphere: fruit, ball, ornament."""
    return resting_sphere("small_sphere", rng.uniform(0.03, 0.12), materials.object_material(rng), 20)


def plate(rng: np.random.Generator) -> Prop:
    """A plate or coaster: a thin disc (1–2 cm)."""
    radius, height = rng.uniform(0.05, 0.14), rng.uniform(0.008, 0.02)
    material = materials.object_material(rng)
    return Prop("plate", [Piece(cylinder(radius, height, 32), translation((0, 0, 0)), material)],
                (radius, radius), height,
                surfaces=[top_surface(radius * 0.6, radius * 0.6, height, 0.3)], stackable=True)


def thin_pole(rng: np.random.Generator) -> Prop:
    """A thin upright object: candle, vase with a stem, pen holder rod (radius 0.5–2 cm)."""
    radius, height = rng.uniform(0.005, 0.02), rng.uniform(0.15, 0.45)
    base_r = radius * rng.uniform(2.5, 5.0)
    material = materials.object_material(rng) if rng.random() < 0.5 else materials.metal_material(rng)
    pieces = [Piece(cylinder(base_r, 0.01, 20), translation((0, 0, 0)), material),
              Piece(cylinder(radius, height, 10), translation((0, 0, 0.01)), material)]
    return Prop("pole", pieces, (base_r, base_r), height + 0.01)


def bowl(rng: np.random.Generator) -> Prop:
    """A bowl-like object: a short wide cylinder with a sphere (fruit) resting on it."""
    radius, height = rng.uniform(0.07, 0.14), rng.uniform(0.04, 0.08)
    material = materials.object_material(rng)
    fruit_r = radius * rng.uniform(0.35, 0.6)
    pieces = [Piece(cylinder(radius, height, 28), translation((0, 0, 0)), material),
              Piece(sphere(fruit_r, 16), translation((0, 0, height + fruit_r * 0.9)), materials.object_material(rng))]
    return Prop("bowl", pieces, (radius, radius), height + fruit_r * 1.9)


CLUTTER = {
    "book": (book, 0.3), "small_box": (small_box, 0.22), "cup": (cup_or_bottle, 0.16),
    "small_sphere": (fruit_or_ball, 0.1), "plate": (plate, 0.08), "pole": (thin_pole, 0.08),
    "bowl": (bowl, 0.06),
}
"""Clutter builders and their relative frequencies."""
