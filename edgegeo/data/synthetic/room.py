"""The room shell: floor, ceiling and walls as slabs, doors opening onto a small annex room,
windows (with frames and sills) onto an outdoor enclosure of ground and sky, skirting boards,
posters, ceiling lights and daylight through a window.

The room interior is ``[0, Lx] × [0, Ly] × [0, H]`` in the world frame (z up). Everything a ray
leaving the room can reach is closed geometry, so every camera ray inside the room hits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import materials
from .materials import Material
from .primitives import box, cylinder, translation, yaw_transform
from .props import Piece, PointLight

WALL_THICKNESS = 0.12
"""Metres; also the thickness of floor and ceiling slabs."""

OUTDOOR_MARGIN = 12.0
"""Horizontal distance (metres) from the room to the sky enclosure."""


@dataclass(frozen=True)
class Opening:
    """A span of a wall kept clear, in the wall frame: ``s0 ≤ s ≤ s1`` along the wall,
    ``z0 ≤ z ≤ z1``. ``kind`` is "door" or "window" (holes through the wall) or "poster"."""

    kind: str
    s0: float
    s1: float
    z0: float
    z1: float


@dataclass(eq=False)
class Wall:
    """One wall of the room.

    Attributes:
        world_T_wall: ``(4,4) float64`` wall frame: origin at the wall's start corner on the floor,
            x along the wall, y the inward normal (into the room), z up.
        length: metres along x.
        openings: doors, windows and posters on this wall (posters are not holes, but they
            keep tall furniture and other posters away).
    """

    world_T_wall: np.ndarray
    length: float
    openings: list[Opening]

    def blocked(self, s0: float, s1: float, z_top: float, margin: float = 0.1) -> bool:
        """True if something spanning ``[s0, s1]`` along the wall and rising to ``z_top`` would
        cover part of an opening (any door; a window only if it rises above the sill)."""
        for opening in self.openings:
            overlaps = s1 > opening.s0 - margin and s0 < opening.s1 + margin
            if overlaps and (opening.kind == "door" or z_top > opening.z0 - margin):
                return True
        return False


@dataclass(eq=False)
class Room:
    """The generated shell.

    Attributes:
        size: ``(3,) float64`` interior size ``(Lx, Ly, H)`` in metres.
        walls: the four walls, counter-clockwise from the one at ``y = 0``.
        elements: named groups of world-frame pieces; each group is one instance.
        lights: world-frame point lights (ceiling fixtures, daylight).
        ambient: ``(3,)`` linear uniform ambient irradiance (part of the indirect light).
        bounce: fraction of each light's intensity returned as distance-dependent fill.
    """

    size: np.ndarray
    walls: list[Wall]
    elements: list[tuple[str, list[Piece]]]
    lights: list[PointLight]
    ambient: np.ndarray
    bounce: float


def _wall_frames(lx: float, ly: float) -> list[tuple[np.ndarray, float]]:
    """``(world_T_wall, length)`` of the four walls, counter-clockwise seen from above."""
    corners = [(0.0, 0.0), (lx, 0.0), (lx, ly), (0.0, ly)]
    lengths = [lx, ly, lx, ly]
    return [(yaw_transform(k * np.pi / 2, (*corners[k], 0.0)), lengths[k]) for k in range(4)]


def _slab(world_T_frame: np.ndarray, lo, hi, material: Material,
          texture_frame: np.ndarray | None = None) -> Piece:
    """Box ``[lo, hi]`` given in a frame (wall frame or world), as a world-frame piece."""
    lo = np.asarray(lo, np.float64)
    size = np.asarray(hi, np.float64) - lo
    return Piece(box(size), world_T_frame @ translation(lo), material, texture_frame)


def _light_color(rng: np.random.Generator) -> np.ndarray:
    """Colour of an indoor bulb, warm (2700 K) to cool (5000 K), max component 1."""
    warm, cool = np.array([1.0, 0.78, 0.55]), np.array([0.92, 0.96, 1.0])
    return warm + (cool - warm) * rng.random()


def _sample_openings(rng, config, frames, height) -> list[list[Opening]]:
    """Doors (at most one per wall, each on a different wall) and windows (on walls without a
    door), non-overlapping along each wall."""
    openings: list[list[Opening]] = [[] for _ in frames]
    n_doors = int(rng.integers(config.door_count[0], config.door_count[1] + 1))
    door_walls = rng.permutation(4)[:n_doors]
    for wall in door_walls:
        length = frames[wall][1]
        width = min(rng.uniform(0.8, 1.0), length - 0.6)
        s0 = rng.uniform(0.3, length - 0.3 - width)
        openings[wall].append(Opening("door", s0, s0 + width, 0.0, min(rng.uniform(2.0, 2.2), height - 0.2)))
    free_walls = [w for w in range(4) if w not in door_walls]
    n_windows = int(rng.integers(config.window_count[0], config.window_count[1] + 1))
    for _ in range(n_windows if free_walls else 0):
        for _attempt in range(20):
            wall = free_walls[int(rng.integers(len(free_walls)))]
            length = frames[wall][1]
            width = min(rng.uniform(0.8, 2.0), length - 0.8)
            s0 = rng.uniform(0.4, length - 0.4 - width)
            sill = rng.uniform(0.6, 1.0)
            top = min(sill + rng.uniform(1.0, 1.6), height - 0.2)
            if all(s0 + width + 0.4 < o.s0 or s0 > o.s1 + 0.4 for o in openings[wall]):
                openings[wall].append(Opening("window", s0, s0 + width, sill, top))
                break
    return [sorted(wall_openings, key=lambda o: o.s0) for wall_openings in openings]


def _wall_pieces(world_T_wall, length, height, openings, material) -> list[Piece]:
    """The slab of one wall cut around its openings (one texture frame for all pieces)."""
    t = WALL_THICKNESS
    pieces, cursor = [], -t
    for opening in openings:
        pieces.append(_slab(world_T_wall, (cursor, -t, 0), (opening.s0, 0, height), material, world_T_wall))
        if opening.z0 > 0:
            pieces.append(_slab(world_T_wall, (opening.s0, -t, 0), (opening.s1, 0, opening.z0), material, world_T_wall))
        pieces.append(_slab(world_T_wall, (opening.s0, -t, opening.z1), (opening.s1, 0, height), material, world_T_wall))
        cursor = opening.s1
    pieces.append(_slab(world_T_wall, (cursor, -t, 0), (length + t, 0, height), material, world_T_wall))
    return pieces


def _skirting(world_T_wall, length, openings, material) -> list[Piece]:
    """Skirting boards along the foot of a wall, interrupted by doors."""
    height, depth = 0.08, 0.012
    pieces, cursor = [], 0.0
    for opening in openings:
        if opening.kind == "door":
            if opening.s0 - cursor > 0.05:
                pieces.append(_slab(world_T_wall, (cursor, 0, 0), (opening.s0, depth, height), material))
            cursor = opening.s1
    if length - cursor > 0.05:
        pieces.append(_slab(world_T_wall, (cursor, 0, 0), (length, depth, height), material))
    return pieces


def _annex(rng, world_T_wall, length, door: Opening, height, wall_material) -> list[Piece]:
    """A small room behind a door (closed slabs), so that rays through the door hit something."""
    t = WALL_THICKNESS
    depth = rng.uniform(1.2, 2.5)
    s_lo = max(0.0, door.s0 - rng.uniform(0.2, 1.5))
    s_hi = min(length, door.s1 + rng.uniform(0.2, 1.5))
    floor = materials.floor_material(rng)
    walls = wall_material if rng.random() < 0.5 else materials.wall_material(rng)
    back = -t - depth
    return [
        _slab(world_T_wall, (s_lo - t, back - t, -t), (s_hi + t, -t, 0), floor),
        _slab(world_T_wall, (s_lo - t, back - t, height), (s_hi + t, -t, height + t), walls),
        _slab(world_T_wall, (s_lo - t, back - t, 0), (s_hi + t, back, height), walls, world_T_wall),
        _slab(world_T_wall, (s_lo - t, back, 0), (s_lo, -t, height), walls, world_T_wall),
        _slab(world_T_wall, (s_hi, back, 0), (s_hi + t, -t, height), walls, world_T_wall),
    ]


def _window_trim(rng, world_T_wall, window: Opening) -> list[Piece]:
    """Frame inside the window reveal (jambs, head, bottom rail, optional mullion) and a sill."""
    t, frame_w = WALL_THICKNESS, rng.uniform(0.04, 0.07)
    d0, d1 = -t / 2 - 0.03, -t / 2 + 0.03
    material = (materials.furniture_material(rng) if rng.random() < 0.3 else
                materials.plain_material("window:frame", (0.93, 0.93, 0.91), specular=0.2))
    s0, s1, z0, z1 = window.s0, window.s1, window.z0, window.z1
    pieces = [
        _slab(world_T_wall, (s0 - 0.01, d0, z0), (s0 + frame_w, d1, z1 + 0.01), material),
        _slab(world_T_wall, (s1 - frame_w, d0, z0), (s1 + 0.01, d1, z1 + 0.01), material),
        _slab(world_T_wall, (s0 + frame_w, d0, z1 - frame_w), (s1 - frame_w, d1, z1 + 0.01), material),
        _slab(world_T_wall, (s0 + frame_w, d0, z0 + 0.02), (s1 - frame_w, d1, z0 + 0.02 + frame_w), material),
        _slab(world_T_wall, (s0 - 0.06, -t, z0 - 0.02), (s1 + 0.06, 0.05, z0 + 0.02), material),
    ]
    if s1 - s0 > 1.0 and rng.random() < 0.7:
        mid = (s0 + s1) / 2
        pieces.append(_slab(world_T_wall, (mid - frame_w / 2, d0, z0 + 0.02 + frame_w),
                            (mid + frame_w / 2, d1, z1 - frame_w), material))
    return pieces


def _posters(rng, config, walls: list[Wall], height) -> list[tuple[str, list[Piece]]]:
    """Framed photo prints hung on walls away from doors and windows."""
    elements = []
    n_posters = int(rng.integers(config.poster_count[0], config.poster_count[1] + 1))
    for _ in range(n_posters):
        for _attempt in range(20):
            wall = walls[int(rng.integers(4))]
            width, tall = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.9)
            if wall.length < width + 0.6:
                continue
            s0 = rng.uniform(0.3, wall.length - 0.3 - width)
            z0 = min(rng.uniform(1.3, 1.8), height - 0.15 - tall / 2) - tall / 2
            # Clear of every door, window and poster along the wall (whatever the height).
            if not wall.blocked(s0, s0 + width, np.inf, margin=0.15):
                depth = rng.uniform(0.01, 0.03)
                poster = materials.poster_material(rng, width, tall)
                piece = _slab(wall.world_T_wall, (s0, 0, z0), (s0 + width, depth, z0 + tall), poster)
                elements.append(("poster", [piece]))
                wall.openings.append(Opening("poster", s0, s0 + width, z0, z0 + tall))
                break
    return elements


def _ceiling_lights(rng, config, size) -> tuple[list[tuple[str, list[Piece]]], list[PointLight]]:
    """Emissive ceiling fixtures with a point light just below each."""
    lx, ly, height = size
    n_lights = int(rng.integers(config.light_count[0], config.light_count[1] + 1))
    elements, lights = [], []
    total = rng.uniform(3.0, 6.0) * (lx * ly / 20.0) ** 0.5
    for _ in range(n_lights):
        radius, thickness = rng.uniform(0.1, 0.25), rng.uniform(0.03, 0.08)
        x, y = rng.uniform(min(0.8, lx / 3), lx - min(0.8, lx / 3)), rng.uniform(min(0.8, ly / 3), ly - min(0.8, ly / 3))
        intensity = total / n_lights * rng.uniform(0.8, 1.2)
        fixture = Piece(cylinder(radius, thickness, 28), translation((x, y, height - thickness)),
                        materials.lamp_material(brightness=intensity * rng.uniform(0.8, 1.5)))
        elements.append(("ceiling_light", [fixture]))
        lights.append(PointLight(np.array([x, y, height - thickness - 0.03]), _light_color(rng), intensity))
    return elements, lights


def build_room(rng: np.random.Generator, config) -> Room:
    """Generate a room shell from ``rng`` within the ranges of ``config`` (a SceneConfig)."""
    lx, ly = (rng.uniform(*config.room_size_m) for _ in range(2))
    height = rng.uniform(*config.ceiling_height_m)
    size = np.array([lx, ly, height])
    t = WALL_THICKNESS
    frames = _wall_frames(lx, ly)
    openings = _sample_openings(rng, config, frames, height)
    wall_material, floor_material = materials.wall_material(rng), materials.floor_material(rng)
    accent_wall = int(rng.integers(4)) if rng.random() < 0.25 else -1
    skirting_material = (materials.furniture_material(rng) if rng.random() < 0.4 else
                         materials.plain_material("skirting", (0.92, 0.92, 0.9), specular=0.2))
    world = np.eye(4)
    elements: list[tuple[str, list[Piece]]] = [
        ("floor", [_slab(world, (-t, -t, -t), (lx + t, ly + t, 0), floor_material)]),
        ("ceiling", [_slab(world, (-t, -t, height), (lx + t, ly + t, height + t), materials.ceiling_material(rng))]),
    ]
    walls = []
    for index, ((world_T_wall, length), wall_openings) in enumerate(zip(frames, openings)):
        material = materials.wall_material(rng) if index == accent_wall else wall_material
        pieces = _wall_pieces(world_T_wall, length, height, wall_openings, material)
        pieces += _skirting(world_T_wall, length, wall_openings, skirting_material)
        elements.append((f"wall{index}", pieces))
        for opening in wall_openings:
            if opening.kind == "door":
                elements.append(("annex", _annex(rng, world_T_wall, length, opening, height, wall_material)))
            else:
                elements.append(("window_frame", _window_trim(rng, world_T_wall, opening)))
        walls.append(Wall(world_T_wall, length, list(wall_openings)))
    light_elements, lights = _ceiling_lights(rng, config, size)
    elements += light_elements
    lamp_irradiance = sum(light.intensity for light in lights) / 4.0  # at 2 m from all lamps
    windows = [(wall, o) for wall in walls for o in wall.openings if o.kind == "window"]
    if windows and rng.random() < 0.7:
        wall, window = windows[int(rng.integers(len(windows)))]
        local = np.array([(window.s0 + window.s1) / 2 + rng.uniform(-3, 3), -rng.uniform(4, 8),
                          window.z1 + rng.uniform(1.5, 5)])
        position = wall.world_T_wall[:3, :3] @ local + wall.world_T_wall[:3, 3]
        distance = np.linalg.norm(local[1:])
        lights.append(PointLight(position, np.array([1.0, 0.96, 0.88]),
                                 lamp_irradiance * rng.uniform(1.5, 4.0) * distance ** 2))
    sky_brightness = lamp_irradiance * rng.uniform(1.0, 2.5)
    top = height + OUTDOOR_MARGIN
    outer_lo = (-OUTDOOR_MARGIN, -OUTDOOR_MARGIN, -t - 0.1)
    outer_hi = (lx + OUTDOOR_MARGIN, ly + OUTDOOR_MARGIN, top)
    sky = _slab(world, outer_lo, outer_hi, materials.sky_material(rng, top + t, sky_brightness),
                translation((0, 0, top)))
    sky.mesh = sky.mesh.flipped()
    elements.append(("sky", [sky]))
    elements.append(("ground", [_slab(world, outer_lo, (outer_hi[0], outer_hi[1], -t),
                                      materials.outdoor_ground_material(rng, sky_brightness * 0.5))]))
    elements += _posters(rng, config, walls, height)
    ambient = lamp_irradiance * rng.uniform(0.1, 0.25) * np.mean([light.color for light in lights], axis=0)
    return Room(size, walls, elements, lights, ambient, bounce=float(rng.uniform(0.15, 0.35)))
