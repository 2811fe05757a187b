"""Furniture that stands on the floor, built from boxes and cylinders at real-world sizes
(tables, desks, cabinets, bookcases, chairs, sofas, beds, floor lamps, plants, bins, balls).

Each builder takes a ``numpy.random.Generator`` and returns a :class:`~.props.Prop` in its
object frame (origin at the footprint centre on the floor, front facing +y).
"""
from __future__ import annotations

import numpy as np

from . import materials
from .primitives import cylinder, sphere, translation
from .props import resting_sphere, Piece, PointLight, Prop, Surface, box_piece, top_surface


def _legs(rng, half_x, half_y, height, inset, material) -> list[Piece]:
    """Four legs under a rectangle of half size (half_x, half_y), from the floor to ``height``."""
    pieces = []
    round_legs = rng.random() < 0.4
    thickness = rng.uniform(0.035, 0.06)
    for sx in (-1, 1):
        for sy in (-1, 1):
            x = sx * (half_x - inset)
            y = sy * (half_y - inset)
            if round_legs:
                pieces.append(Piece(cylinder(thickness / 2, height, 12), translation((x, y, 0)), material))
            else:
                pieces.append(box_piece((thickness, thickness, height),
                                        (x - thickness / 2, y - thickness / 2, 0), material))
    return pieces


def table(rng: np.random.Generator) -> Prop:
    """Dining table, desk, coffee table or side table: a top on four legs."""
    kind = rng.choice(["dining", "desk", "coffee", "side"], p=[0.35, 0.3, 0.2, 0.15])
    width, depth, height = {
        "dining": (rng.uniform(1.0, 1.8), rng.uniform(0.75, 1.0), rng.uniform(0.72, 0.78)),
        "desk": (rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.8), rng.uniform(0.72, 0.76)),
        "coffee": (rng.uniform(0.8, 1.3), rng.uniform(0.45, 0.7), rng.uniform(0.38, 0.48)),
        "side": (rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.55), rng.uniform(0.5, 0.65)),
    }[kind]
    thickness = rng.uniform(0.025, 0.05)
    top_material = materials.furniture_material(rng)
    leg_material = top_material if rng.random() < 0.6 else materials.metal_material(rng)
    pieces = [box_piece((width, depth, thickness), (-width / 2, -depth / 2, height - thickness), top_material)]
    pieces += _legs(rng, width / 2, depth / 2, height - thickness, rng.uniform(0.03, 0.08), leg_material)
    return Prop(f"table:{kind}", pieces, (width / 2, depth / 2), height,
                surfaces=[top_surface(width / 2 - 0.02, depth / 2 - 0.02, height, 0.9)],
                against_wall=kind == "desk")


def cabinet(rng: np.random.Generator) -> Prop:
    """Cabinet or chest of drawers: a body with drawer fronts and handles."""
    width, depth, height = rng.uniform(0.4, 1.2), rng.uniform(0.35, 0.6), rng.uniform(0.5, 1.2)
    body = materials.furniture_material(rng)
    front = body if rng.random() < 0.5 else materials.furniture_material(rng)
    handle = materials.metal_material(rng)
    pieces = [box_piece((width, depth, height), (-width / 2, -depth / 2, 0), body)]
    n_drawers = int(np.clip(round(height / rng.uniform(0.2, 0.35)), 1, 6))
    columns = 2 if width > 0.8 and rng.random() < 0.6 else 1
    gap, plinth = 0.008, 0.05
    drawer_h = (height - plinth - gap) / n_drawers - gap
    drawer_w = (width - gap) / columns - gap
    for row in range(n_drawers):
        for col in range(columns):
            x0 = -width / 2 + gap + col * (drawer_w + gap)
            z0 = plinth + gap + row * (drawer_h + gap)
            pieces.append(box_piece((drawer_w, 0.015, drawer_h), (x0, depth / 2, z0), front))
            pieces.append(box_piece((min(0.12, drawer_w * 0.4), 0.02, 0.015),
                                    (x0 + drawer_w / 2 - min(0.06, drawer_w * 0.2), depth / 2 + 0.015,
                                     z0 + drawer_h * 0.7), handle))
    return Prop("cabinet", pieces, (width / 2, depth / 2 + 0.035), height,
                surfaces=[top_surface(width / 2 - 0.02, depth / 2 - 0.02, height, 1.0)],
                against_wall=True)


def bookcase(rng: np.random.Generator) -> Prop:
    """Open shelving: two sides, top, bottom, back panel and evenly spaced shelves; each shelf
    is a surface for books and objects."""
    width, depth, height = rng.uniform(0.6, 1.2), rng.uniform(0.25, 0.4), rng.uniform(1.0, 2.1)
    board = rng.uniform(0.018, 0.03)
    material = materials.furniture_material(rng)
    back_material = material if rng.random() < 0.6 else materials.wall_material(rng)
    inner_w = width - 2 * board
    n_levels = int(np.clip(round((height - 2 * board) / rng.uniform(0.3, 0.42)), 2, 6))
    spacing = (height - board) / n_levels
    pieces = [
        box_piece((board, depth, height), (-width / 2, -depth / 2, 0), material),
        box_piece((board, depth, height), (width / 2 - board, -depth / 2, 0), material),
        box_piece((inner_w, 0.01, height - 2 * board), (-inner_w / 2, -depth / 2, board), back_material),
    ]
    surfaces = []
    for level in range(n_levels + 1):
        z0 = level * spacing
        pieces.append(box_piece((inner_w, depth - 0.01, board), (-inner_w / 2, -depth / 2 + 0.01, z0), material))
        top = z0 + board
        headroom = spacing - board if level < n_levels else 0.6
        surfaces.append(Surface(translation((0.0, 0.005, top)), (inner_w / 2 - 0.01, (depth - 0.01) / 2 - 0.01),
                                headroom, bookshelf=level < n_levels))
    return Prop("bookcase", pieces, (width / 2, depth / 2), n_levels * spacing + board,
                surfaces=surfaces, against_wall=True)


def chair(rng: np.random.Generator) -> Prop:
    """Chair: seat on four legs with a backrest (at -y)."""
    seat_w, seat_d = rng.uniform(0.4, 0.5), rng.uniform(0.4, 0.5)
    seat_h, back_h = rng.uniform(0.42, 0.48), rng.uniform(0.35, 0.5)
    thickness = rng.uniform(0.03, 0.06)
    material = materials.furniture_material(rng)
    leg_material = material if rng.random() < 0.5 else materials.metal_material(rng)
    pieces = [box_piece((seat_w, seat_d, thickness), (-seat_w / 2, -seat_d / 2, seat_h - thickness), material),
              box_piece((seat_w, 0.03, back_h), (-seat_w / 2, -seat_d / 2, seat_h), material)]
    pieces += _legs(rng, seat_w / 2, seat_d / 2, seat_h - thickness, 0.03, leg_material)
    return Prop("chair", pieces, (seat_w / 2, seat_d / 2), seat_h + back_h)


def sofa(rng: np.random.Generator) -> Prop:
    """Sofa: base, backrest, armrests and seat cushions in fabric."""
    width, depth = rng.uniform(1.4, 2.2), rng.uniform(0.8, 0.95)
    seat_h, back_h, arm_w = rng.uniform(0.38, 0.45), rng.uniform(0.75, 0.9), rng.uniform(0.12, 0.22)
    fabric = materials.furniture_material(rng)
    cushion = fabric if rng.random() < 0.6 else materials.furniture_material(rng)
    back_d = rng.uniform(0.15, 0.22)
    base_h = seat_h - 0.12
    pieces = [
        box_piece((width, depth, base_h), (-width / 2, -depth / 2, 0.0), fabric),
        box_piece((width, back_d, back_h), (-width / 2, -depth / 2, 0.0), fabric),
        box_piece((arm_w, depth, seat_h + 0.18), (-width / 2, -depth / 2, 0.0), fabric),
        box_piece((arm_w, depth, seat_h + 0.18), (width / 2 - arm_w, -depth / 2, 0.0), fabric),
    ]
    inner = width - 2 * arm_w
    n_cushions = 2 if inner < 1.4 else 3
    cushion_w = inner / n_cushions - 0.01
    for index in range(n_cushions):
        x0 = -width / 2 + arm_w + 0.005 + index * (cushion_w + 0.01)
        pieces.append(box_piece((cushion_w, depth - back_d - 0.02, 0.12), (x0, -depth / 2 + back_d, base_h), cushion))
    return Prop("sofa", pieces, (width / 2, depth / 2), back_h, against_wall=True)


def bed(rng: np.random.Generator) -> Prop:
    """Bed: frame, mattress, duvet, pillows and a headboard at -y."""
    width, length = rng.uniform(0.9, 1.8), rng.uniform(1.95, 2.1)
    frame_h, mattress_h = rng.uniform(0.2, 0.35), rng.uniform(0.18, 0.25)
    frame = materials.furniture_material(rng)
    linen = materials.furniture_material(rng)
    pillow = materials.object_material(rng) if rng.random() < 0.3 else materials.ceiling_material(rng)
    top = frame_h + mattress_h
    pieces = [
        box_piece((width, length, frame_h), (-width / 2, -length / 2, 0.0), frame),
        box_piece((width - 0.04, length - 0.06, mattress_h), (-width / 2 + 0.02, -length / 2 + 0.04, frame_h), linen),
        box_piece((width, 0.05, top + rng.uniform(0.3, 0.6)), (-width / 2, -length / 2, 0.0), frame),
    ]
    n_pillows = 1 if width < 1.2 else 2
    pillow_w = (width - 0.1) / n_pillows - 0.05
    for index in range(n_pillows):
        x0 = -width / 2 + 0.075 + index * (pillow_w + 0.05)
        pieces.append(box_piece((pillow_w, 0.4, 0.12), (x0, -length / 2 + 0.08, top), pillow))
    return Prop("bed", pieces, (width / 2, length / 2), top + 0.12, against_wall=True)


def floor_lamp(rng: np.random.Generator) -> Prop:
    """Floor lamp: base disc, pole and a glowing shade with a light just below it."""
    height = rng.uniform(1.4, 1.8)
    shade_r, shade_h = rng.uniform(0.15, 0.25), rng.uniform(0.2, 0.3)
    metal = materials.metal_material(rng)
    shade = materials.lamp_material(brightness=rng.uniform(1.5, 3.0))
    pieces = [Piece(cylinder(rng.uniform(0.12, 0.18), 0.03, 20), translation((0, 0, 0)), metal),
              Piece(cylinder(0.012, height - shade_h, 10), translation((0, 0, 0.03)), metal),
              Piece(cylinder(shade_r, shade_h, 24), translation((0, 0, height - shade_h)), shade)]
    light = PointLight(np.array([0.0, 0.0, height - shade_h - 0.03]), np.array([1.0, 0.85, 0.65]),
                       rng.uniform(0.6, 1.2))
    return Prop("floor_lamp", pieces, (shade_r, shade_r), height, lights=[light])


def plant(rng: np.random.Generator) -> Prop:
    """Potted plant: a pot (cylinder) with a foliage ball."""
    pot_r, pot_h = rng.uniform(0.12, 0.22), rng.uniform(0.25, 0.45)
    foliage_r = rng.uniform(0.25, 0.4)
    pot = materials.object_material(rng)
    green = materials.foliage_material(rng)
    pieces = [Piece(cylinder(pot_r, pot_h, 24), translation((0, 0, 0)), pot),
              Piece(sphere(foliage_r, 24), translation((0, 0, pot_h + foliage_r * 0.85)), green)]
    half = max(pot_r, foliage_r)
    return Prop("plant", pieces, (half, half), pot_h + foliage_r * 1.85)


def bin_or_drum(rng: np.random.Generator) -> Prop:
    """Cylindrical floor object: waste bin, drum, stool or pouf."""
    radius, height = rng.uniform(0.12, 0.3), rng.uniform(0.3, 0.8)
    material = materials.object_material(rng) if rng.random() < 0.5 else materials.metal_material(rng)
    return Prop("cylinder", [Piece(cylinder(radius, height, 28), translation((0, 0, 0)), material)],
                (radius, radius), height,
                surfaces=[top_surface(radius * 0.6, radius * 0.6, height, 0.6)], stackable=True)


def ball(rng: np.random.Generator) -> Prop:
    """Large ball (exercise ball, beanbag-like sphere) resting on the floor."""
    return resting_sphere("sphere", rng.uniform(0.15, 0.35), materials.object_material(rng), 32)


def storage_box(rng: np.random.Generator) -> Prop:
    """Large box on the floor (moving box, toy chest, ottoman)."""
    size = (rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.6))
    material = materials.object_material(rng)
    return Prop("box", [box_piece(size, (-size[0] / 2, -size[1] / 2, 0.0), material)],
                (size[0] / 2, size[1] / 2), size[2],
                surfaces=[top_surface(size[0] / 2 - 0.02, size[1] / 2 - 0.02, size[2], 0.8)],
                stackable=True)


FURNITURE = {
    "table": (table, 0.22), "cabinet": (cabinet, 0.14), "bookcase": (bookcase, 0.14),
    "chair": (chair, 0.12), "sofa": (sofa, 0.07), "bed": (bed, 0.05), "floor_lamp": (floor_lamp, 0.05),
    "plant": (plant, 0.06), "cylinder": (bin_or_drum, 0.06), "sphere": (ball, 0.04),
    "box": (storage_box, 0.05),
}
"""Furniture builders and their relative frequencies."""
