"""Object-centred scenes for monocular depth: one to three large props with thin, complex parts
(spoked wheels on tube frames, chairs, metal racks, railings, ladders, shelving) standing on a
textured ground, background furniture and clutter behind them, a backdrop wall or a distant
enclosure, and one strong key light whose ray-cast shadows give contact and cast shadows.
Cameras are aimed at a prop from 1–5 m (close, object-filling shots, unlike the room
walk-throughs of :mod:`.scene`).

    scene = generate_object_scene(seed=3)                        # reproducible per seed
    frames = object_views(scene, 6, 320, 240, seed=3)            # Frames aimed at the props
    held_out = generate_object_scene(1000, ObjectSceneConfig.held_out())

:meth:`ObjectSceneConfig.held_out` is a *different generator setting* (other ground and backdrop
textures, other prop mix, wider distance range) for judging generalisation beyond more of the
same. World frame z-up, metres; cameras OpenCV (x right, y down, z forward).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegeo.data.frame import Frame
from edgegeo.geometry import K_from_fov, look_at

from . import clutter, furniture, materials, textures
from .camera_model import CameraModel
from .camera_placement import clearance
from .materials import Material, linear, plain_material
from .primitives import box, cylinder, translation, yaw_transform
from .props import Piece, PointLight, Prop, box_piece
from .scene import Scene

GROUND_HALF_M = 15.0
"""Half side of the square ground slab; the enclosure around it is a little larger."""


@dataclass(frozen=True)
class ObjectSceneConfig:
    """Ranges an object-centred scene is drawn from.

    Attributes:
        hero_count: large props in the middle (the ones cameras aim at).
        hero_kinds: ``(name, relative frequency)`` of the hero builders in :data:`HEROES`.
        background_count: furniture and clutter placed 1.5–6 m behind and beside the heroes.
        backdrop_p: probability of a wall behind the heroes (else only the far enclosure).
        ground_photos: scikit-image photo textures the ground may use (with procedural ones).
        backdrop_photos: photo textures the backdrop wall may use (with wall paints).
        distance_m: camera distance to the aimed-at point.
        hfov_deg: horizontal field of view range.
    """

    hero_count: tuple[int, int] = (1, 3)
    hero_kinds: tuple[tuple[str, float], ...] = (
        ("wheeled_frame", 0.3), ("chair", 0.12), ("rack", 0.14), ("railing", 0.1),
        ("ladder", 0.08), ("bookcase", 0.08), ("table", 0.08), ("spoked_wheel", 0.1))
    background_count: tuple[int, int] = (4, 12)
    backdrop_p: float = 0.7
    ground_photos: tuple[str, ...] = ("gravel", "grass", "brick")
    backdrop_photos: tuple[str, ...] = ("brick", "astronaut", "coffee", "chelsea", "rocket")
    distance_m: tuple[float, float] = (1.0, 5.0)
    hfov_deg: tuple[float, float] = (45.0, 75.0)

    def __post_init__(self):
        unknown = [name for name, _ in self.hero_kinds if name not in HEROES]
        if unknown or not self.hero_kinds:
            raise ValueError(f"hero_kinds: unknown {unknown}; choose from {', '.join(HEROES)}")
        bad_photos = [p for p in self.ground_photos + self.backdrop_photos
                      if p not in textures.PHOTOS]
        if bad_photos:   # also keeps every evaluation-only image out of the texture pools
            raise ValueError(f"photos {bad_photos} are not texture photos ({textures.PHOTOS})")
        low, high = self.distance_m
        if not 0.3 <= low <= high or self.hero_count[0] < 1 or self.hero_count[1] < self.hero_count[0]:
            raise ValueError("need 0.3 <= distance_m[0] <= distance_m[1] and 1 <= hero_count")

    @classmethod
    def held_out(cls) -> "ObjectSceneConfig":
        """The evaluation setting: grounds and backdrops from photos training never puts there
        (coins, moon, camera; procedural tiles), another prop mix (more shelving, ladders and
        tables, fewer wheels) and a wider distance range (0.8–6 m)."""
        return cls(hero_kinds=(("wheeled_frame", 0.1), ("chair", 0.15), ("rack", 0.2),
                               ("railing", 0.1), ("ladder", 0.15), ("bookcase", 0.1),
                               ("table", 0.15), ("spoked_wheel", 0.05)),
                   ground_photos=("coins", "moon"), backdrop_photos=("camera", "moon", "hubble_deep_field"),
                   distance_m=(0.8, 6.0))


# ----------------------------------------------------------------------------- geometry helpers

def tube(start, end, radius: float, material: Material, segments: int = 10) -> Piece:
    """A cylinder of ``radius`` metres from point ``start (3,)`` to ``end (3,)`` (object frame)."""
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    axis = end - start
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        raise ValueError("tube needs distinct end points")
    z = axis / length
    helper = np.array([1.0, 0, 0]) if abs(z[0]) < 0.9 else np.array([0, 1.0, 0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    pose[:3, 3] = start
    return Piece(cylinder(radius, length, segments), pose, material)


def _wheel(centre, radius: float, axis_yaw: float, rng: np.random.Generator, rim: Material,
           tyre: Material, spoke: Material) -> list[Piece]:
    """A wheel standing vertically: a tyre and a rim (rings of short tubes), 8–36 thin spokes,
    a hub; its axle is horizontal at heading ``axis_yaw``."""
    centre = np.asarray(centre, np.float64)
    axle = np.array([np.cos(axis_yaw), np.sin(axis_yaw), 0.0])
    u = np.array([-axle[1], axle[0], 0.0])          # in the wheel plane, horizontal
    v = np.array([0.0, 0.0, 1.0])
    segments = 20
    angles = np.linspace(0, 2 * np.pi, segments + 1)
    tyre_r = radius * rng.uniform(0.06, 0.12)
    rim_r = radius - tyre_r
    pieces = []
    for ring_radius, thickness, material in ((radius - tyre_r / 2, tyre_r / 2, tyre),
                                             (rim_r, tyre_r * 0.25, rim)):
        points = [centre + ring_radius * (np.cos(a) * u + np.sin(a) * v) for a in angles]
        pieces += [tube(points[i], points[i + 1], thickness, material, 8) for i in range(segments)]
    hub_half = radius * rng.uniform(0.06, 0.12)
    pieces.append(tube(centre - axle * hub_half, centre + axle * hub_half, radius * rng.uniform(0.06, 0.15),
                       rim, 16))
    n_spokes = int(rng.choice([0, 5, 8, 16, 24, 32])) if rng.random() < 0.9 else 3
    spoke_r = max(0.002, radius * rng.uniform(0.006, 0.02)) if n_spokes > 8 else radius * rng.uniform(0.03, 0.07)
    for k in range(n_spokes):
        a = 2 * np.pi * k / n_spokes + rng.uniform(0, 0.1)
        side = axle * hub_half * (1 if k % 2 else -1) * 0.8
        pieces.append(tube(centre + side, centre + rim_r * (np.cos(a) * u + np.sin(a) * v), spoke_r, spoke, 6))
    if n_spokes == 0:                                  # a solid disc wheel
        pieces.append(tube(centre - axle * tyre_r * 0.3, centre + axle * tyre_r * 0.3, rim_r, rim, 28))
    return pieces


def _paint_or_metal(rng: np.random.Generator) -> Material:
    if rng.random() < 0.5:
        return materials.metal_material(rng)
    chrome = rng.uniform(0.55, 0.9)
    return plain_material("metal:chrome", (chrome,) * 3, specular=rng.uniform(0.7, 1.0),
                          shininess=rng.uniform(150, 400))


# ----------------------------------------------------------------------------- hero props

def spoked_wheel(rng: np.random.Generator) -> Prop:
    """A single wheel (0.25–0.7 m radius) on a stand: a bicycle wheel, a cart wheel or a disc."""
    radius = rng.uniform(0.25, 0.7)
    rim, spoke = _paint_or_metal(rng), _paint_or_metal(rng)
    tyre = plain_material("rubber", (rng.uniform(0.03, 0.15),) * 3, specular=0.2, shininess=20)
    pieces = _wheel((0, 0, radius + 0.02), radius, 0.0, rng, rim, tyre, spoke)
    pieces.append(box_piece((0.3, radius * 1.2, 0.02), (-0.15, -radius * 0.6, 0.0), rim))
    return Prop("spoked_wheel", pieces, (0.2, radius), 2 * radius + 0.02)


def wheeled_frame(rng: np.random.Generator) -> Prop:
    """A two-wheeled vehicle-like frame along +x (bicycle, scooter, motorbike-sized cart):
    spoked wheels, a tube frame, fork, handlebar, seat and optional body panels and engine
    block."""
    radius = rng.uniform(0.28, 0.45)
    wheelbase = rng.uniform(2.6, 4.0) * radius
    frame = _paint_or_metal(rng) if rng.random() < 0.5 else plain_material(
        "paint", materials._vivid_color(rng), specular=rng.uniform(0.4, 0.9), shininess=rng.uniform(60, 250))
    chrome, spoke = _paint_or_metal(rng), _paint_or_metal(rng)
    tyre = plain_material("rubber", (rng.uniform(0.03, 0.12),) * 3, specular=0.2, shininess=20)
    rear, front = np.array([-wheelbase / 2, 0, radius]), np.array([wheelbase / 2, 0, radius])
    pieces = _wheel(rear, radius, np.pi / 2, rng, chrome, tyre, spoke)
    pieces += _wheel(front, radius, np.pi / 2, rng, chrome, tyre, spoke)
    tube_r = rng.uniform(0.015, 0.04)
    seat = np.array([-wheelbase * 0.15, 0, radius * rng.uniform(1.9, 2.4)])
    head = np.array([wheelbase * 0.32, 0, radius * rng.uniform(2.0, 2.6)])
    crank = np.array([0.0, 0, radius * 0.9])
    for a, b in ((rear, seat), (rear, crank), (crank, seat), (seat, head), (crank, head)):
        pieces.append(tube(a, b, tube_r, frame))
    for side in (-1, 1):                              # fork legs and rear stays
        offset = np.array([0, side * 0.05, 0])
        pieces.append(tube(front + offset, head + offset * 0.5, tube_r * 0.8, chrome))
    bar = head + [0.03, 0, 0.12]
    pieces.append(tube(head, bar, tube_r, chrome))
    half_bar = rng.uniform(0.2, 0.38)
    pieces.append(tube(bar + [0, -half_bar, 0], bar + [0, half_bar, 0], tube_r * 0.8, chrome))
    seat_material = plain_material("seat", (rng.uniform(0.05, 0.3),) * 3, specular=0.3)
    pieces.append(box_piece((0.25, 0.14, 0.05), seat + [-0.12, -0.07, 0], seat_material))
    if rng.random() < 0.5:                            # motorbike: engine block, tank, exhaust
        body = plain_material("paint", materials._vivid_color(rng), specular=0.7, shininess=200)
        size = (radius * 0.9, 0.25, radius * 0.7)
        pieces.append(box_piece(size, crank + [-size[0] / 2, -0.125, -0.1], chrome))
        pieces.append(box_piece((radius * 1.0, 0.28, radius * 0.35), (seat + head) / 2 + [-radius * 0.5, -0.14, -0.05], body))
        pieces.append(tube(crank + [0, 0.15, -0.05], rear + [-0.1, 0.15, 0.05], 0.04, chrome, 14))
    return Prop("wheeled_frame", pieces, (wheelbase / 2 + radius, half_bar), float(head[2] + 0.15))


def rack(rng: np.random.Generator) -> Prop:
    """A metal shelving rack: four thin posts, 3–6 shelves (solid or wire bars), boxes and
    bottles on the shelves."""
    width, depth, height = rng.uniform(0.6, 1.4), rng.uniform(0.3, 0.6), rng.uniform(0.9, 2.0)
    metal = _paint_or_metal(rng)
    post = rng.uniform(0.012, 0.03)
    pieces = [tube((x, y, 0), (x, y, height), post, metal, 8)
              for x in (-width / 2, width / 2) for y in (-depth / 2, depth / 2)]
    n_shelves = int(rng.integers(3, 7))
    wire = rng.random() < 0.4
    for level in range(n_shelves):
        z = 0.08 + level * (height - 0.1) / (n_shelves - 1)
        if wire:
            for y in np.linspace(-depth / 2, depth / 2, int(rng.integers(4, 9))):
                pieces.append(tube((-width / 2, y, z), (width / 2, y, z), post * 0.4, metal, 6))
        else:
            pieces.append(box_piece((width, depth, 0.02), (-width / 2, -depth / 2, z - 0.02), metal))
        x = -width / 2 + 0.05
        while x < width / 2 - 0.1 and level < n_shelves - 1 and rng.random() < 0.85:
            item = clutter.small_box(rng) if rng.random() < 0.5 else clutter.cup_or_bottle(rng)
            if item.height > (height - 0.1) / (n_shelves - 1) - 0.03:
                break
            dx = item.half_extents[0]
            pose = translation((x + dx, rng.uniform(-0.05, 0.05), z))
            pieces += [Piece(p.mesh, pose @ p.obj_T_piece, p.material) for p in item.pieces]
            x += 2 * dx + rng.uniform(0.01, 0.15)
    return Prop("rack", pieces, (width / 2, depth / 2), height)


def railing(rng: np.random.Generator) -> Prop:
    """A railing or fence section: posts, 1–3 rails and many thin bars (or diagonal braces)."""
    length, height = rng.uniform(1.2, 3.0), rng.uniform(0.8, 1.3)
    metal = _paint_or_metal(rng) if rng.random() < 0.6 else materials.furniture_material(rng)
    radius = rng.uniform(0.01, 0.03)
    pieces = [tube((x, 0, 0), (x, 0, height), radius * 1.6, metal, 10)
              for x in np.linspace(-length / 2, length / 2, int(rng.integers(2, 5)))]
    for z in np.linspace(height * 0.15, height, int(rng.integers(1, 4))):
        pieces.append(tube((-length / 2, 0, z), (length / 2, 0, z), radius * 1.3, metal, 10))
    if rng.random() < 0.7:
        for x in np.arange(-length / 2, length / 2, rng.uniform(0.08, 0.2)):
            pieces.append(tube((x, 0, 0.02), (x, 0, height), radius * 0.6, metal, 6))
    else:
        xs = np.linspace(-length / 2, length / 2, int(rng.integers(2, 5)))
        for a, b in zip(xs[:-1], xs[1:]):
            pieces.append(tube((a, 0, 0.05), (b, 0, height * 0.95), radius, metal, 6))
            pieces.append(tube((b, 0, 0.05), (a, 0, height * 0.95), radius, metal, 6))
    return Prop("railing", pieces, (length / 2, 0.05), height)


def ladder(rng: np.random.Generator) -> Prop:
    """A step ladder (A-frame): two pairs of rails leaning together with rungs on one side."""
    height, width = rng.uniform(0.9, 2.0), rng.uniform(0.35, 0.55)
    spread = height * rng.uniform(0.25, 0.4)
    metal = _paint_or_metal(rng) if rng.random() < 0.6 else materials.furniture_material(rng)
    rail = rng.uniform(0.015, 0.03)
    top_y = 0.0
    pieces = []
    for side in (-1, 1):
        for x in (-width / 2, width / 2):
            pieces.append(tube((x, side * spread, 0), (x * 0.85, top_y, height), rail, metal, 8))
    for t in np.linspace(0.2, 0.85, int(rng.integers(3, 7))):
        y, z = spread * (1 - t), height * t
        pieces.append(box_piece((width * (1 - 0.15 * t), 0.08, 0.025), (-width * (1 - 0.15 * t) / 2, y - 0.04, z), metal))
    pieces.append(box_piece((width, 0.2, 0.03), (-width / 2, -0.1, height), metal))
    return Prop("ladder", pieces, (width / 2, spread), height + 0.03)


HEROES = {
    "wheeled_frame": wheeled_frame, "spoked_wheel": spoked_wheel, "rack": rack, "railing": railing,
    "ladder": ladder, "chair": furniture.chair, "bookcase": furniture.bookcase,
    "table": furniture.table,
}
"""Builders of the props cameras aim at (``rng → Prop``)."""

_BACKGROUND = (furniture.cabinet, furniture.bookcase, furniture.plant, furniture.bin_or_drum,
               furniture.ball, furniture.storage_box, furniture.sofa, furniture.table,
               furniture.chair, clutter.thin_pole, clutter.small_box, clutter.cup_or_bottle)


# ----------------------------------------------------------------------------- scene

def _ground_material(rng: np.random.Generator, config: ObjectSceneConfig) -> Material:
    """A photo (tinted when grey) or a procedural floor finish."""
    if config.ground_photos and rng.random() < 0.55:
        name = config.ground_photos[int(rng.integers(len(config.ground_photos)))]
        tint = (linear(materials._hsv(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.5, 0.95)))
                if name in textures.GRAY_PHOTOS else (1.0, 1.0, 1.0))
        size = rng.uniform(0.4, 2.0)
        return Material(f"ground:{name}", textures.photo_texture(name), tile_m=(size, size), tint=tint,
                        specular=rng.uniform(0.0, 0.3), shininess=30.0)
    return materials.floor_material(rng)


def _backdrop_material(rng: np.random.Generator, config: ObjectSceneConfig, width: float,
                       height: float) -> Material:
    if config.backdrop_photos and rng.random() < 0.5:
        name = config.backdrop_photos[int(rng.integers(len(config.backdrop_photos)))]
        size = rng.uniform(0.5, 1.0) * max(width, height) if rng.random() < 0.5 else rng.uniform(0.6, 2.0)
        tint = (linear(materials._hsv(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.5, 0.95)))
                if name in textures.GRAY_PHOTOS else (1.0, 1.0, 1.0))
        return Material(f"wall:{name}", textures.photo_texture(name), tile_m=(size, size), tint=tint)
    return materials.wall_material(rng)


def _place(prop: Prop, world_T_obj: np.ndarray, name: str) -> tuple[str, list[Piece]]:
    return name, [Piece(p.mesh, world_T_obj @ p.obj_T_piece, p.material,
                        None if p.obj_T_texture is None else world_T_obj @ p.obj_T_texture)
                  for p in prop.pieces]


def _overlaps(rect, rects, gap: float) -> bool:
    x0, y0, x1, y1 = rect
    return any(x0 < b[2] + gap and b[0] < x1 + gap and y0 < b[3] + gap and b[1] < y1 + gap for b in rects)


def _footprint(prop: Prop, yaw: float, x: float, y: float) -> tuple[float, float, float, float]:
    hx, hy = prop.half_extents
    ex = abs(np.cos(yaw)) * hx + abs(np.sin(yaw)) * hy
    ey = abs(np.sin(yaw)) * hx + abs(np.cos(yaw)) * hy
    return x - ex, y - ey, x + ex, y + ey


def generate_object_scene(seed: int, config: ObjectSceneConfig | None = None) -> Scene:
    """An object-centred scene, reproducibly from ``seed``.

    Heroes stand near the origin facing -y (towards where cameras mostly are); background props
    stand 1.5–6 m beyond them (+y side) and beside them; with probability ``backdrop_p`` a wall
    closes the view 2–7 m behind the heroes. ``scene.hero_targets`` is an ``(N, 3) float64`` array
    of points cameras may aim at (each hero's centre), ``scene.hero_sizes`` their heights.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    config = config or ObjectSceneConfig()
    rng = np.random.default_rng([int(seed), 7])      # a stream distinct from the rooms' of seed
    half = GROUND_HALF_M
    elements: list[tuple[str, list[Piece]]] = [
        ("ground", [box_piece((2 * half, 2 * half, 0.1), (-half, -half, -0.1), _ground_material(rng, config))])]
    enclosure_mat = (materials.sky_material(rng, 10.0, rng.uniform(0.5, 1.5)) if rng.random() < 0.4
                     else materials.wall_material(rng))
    enclosure = Piece(box((2 * half + 2, 2 * half + 2, 12.0)).flipped(), translation((-half - 1, -half - 1, -0.2)),
                      enclosure_mat)
    elements.append(("wall:enclosure", [enclosure]))

    names = [name for name, _ in config.hero_kinds]
    weights = np.array([w for _, w in config.hero_kinds], np.float64)
    rects, targets, sizes = [], [], []
    for _ in range(int(rng.integers(config.hero_count[0], config.hero_count[1] + 1))):
        prop = HEROES[names[int(rng.choice(len(names), p=weights / weights.sum()))]](rng)
        for _ in range(20):
            yaw = rng.uniform(-np.pi, np.pi)
            x, y = rng.uniform(-1.2, 1.2) * (len(rects) > 0), rng.uniform(-0.6, 0.8) * (len(rects) > 0)
            rect = _footprint(prop, yaw, x, y)
            if not _overlaps(rect, rects, 0.1):
                rects.append(rect)
                elements.append(_place(prop, yaw_transform(yaw, (x, y, 0.0)), prop.kind))
                targets.append((x, y, prop.height * rng.uniform(0.35, 0.6)))
                sizes.append(prop.height)
                break
    for _ in range(int(rng.integers(config.background_count[0], config.background_count[1] + 1))):
        prop = _BACKGROUND[int(rng.integers(len(_BACKGROUND)))](rng)
        for _ in range(10):
            angle = rng.uniform(-0.35, 1.35) * np.pi          # behind (+y) and to the sides
            radius = rng.uniform(1.5, 6.0)
            x, y = radius * np.cos(angle), radius * np.sin(angle)
            yaw = rng.uniform(-np.pi, np.pi)
            rect = _footprint(prop, yaw, x, y)
            if not _overlaps(rect, rects, 0.05):
                rects.append(rect)
                elements.append(_place(prop, yaw_transform(yaw, (x, y, 0.0)), prop.kind))
                break
    if rng.random() < config.backdrop_p:
        distance = rng.uniform(2.0, 7.0)
        yaw = rng.uniform(-0.4, 0.4)
        width, height = rng.uniform(6.0, 14.0), rng.uniform(2.5, 5.0)
        wall = box_piece((width, 0.2, height), (-width / 2, distance, 0.0),
                         _backdrop_material(rng, config, width, height))
        wall.obj_T_piece = yaw_transform(yaw) @ wall.obj_T_piece
        elements.append(("wall:backdrop", [wall]))

    # One strong key light (sun, lamp, window) casting shadows, plus a weaker fill.
    key_distance = rng.uniform(3.0, 9.0)
    azimuth, elevation = rng.uniform(-np.pi, np.pi), rng.uniform(0.35, 1.3)
    key_position = key_distance * np.array([np.cos(elevation) * np.cos(azimuth),
                                            np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    key_colour = np.array(linear(materials._hsv(rng.uniform(0.05, 0.6), rng.uniform(0.0, 0.25), 1.0)))
    lights = [PointLight(key_position, key_colour / key_colour.max(), key_distance ** 2 * rng.uniform(0.8, 1.5))]
    fill_position = np.array([rng.uniform(-4, 4), rng.uniform(-6, -2), rng.uniform(2, 4)])
    lights.append(PointLight(fill_position, np.ones(3), float(np.sum(fill_position ** 2)) * rng.uniform(0.05, 0.3)))
    ambient = rng.uniform(0.05, 0.3) * np.ones(3)
    scene = Scene(elements, lights, ambient, [[-half, -half, 0.0], [half, half, 11.0]], seed=int(seed),
                  bounce=float(rng.uniform(0.05, 0.2)))
    scene.hero_targets = np.asarray(targets, np.float64).reshape(-1, 3)
    scene.hero_sizes = np.asarray(sizes, np.float64)
    return scene


def object_views(scene: Scene, n_views: int, width: int, height: int, seed: int = 0,
                 config: ObjectSceneConfig | None = None) -> list[Frame]:
    """``n_views`` frames aimed at the heroes of an object scene.

    Each view picks a hero, a distance log-uniform in ``config.distance_m`` (times 0.8–1.6
    with the prop's height, so tall props fit), a heading mostly from the front half (-y side), eye height 0.2–1.9 m, small roll,
    random camera model (exposure, white balance, vignetting, blur, noise, gamma).

    Returns:
        Frames with ``rgb (H, W, 3) uint8``, ``depth (H, W) float32`` metres (0 = no hit), K,
        world_T_cam.
    """
    config = config or ObjectSceneConfig()
    rng = np.random.default_rng([int(seed), 11])
    frames = []
    while len(frames) < n_views:
        index = int(rng.integers(len(scene.hero_targets)))
        target = scene.hero_targets[index] + rng.normal(0.0, 0.15, 3) * [1, 1, 0.5]
        distance = np.exp(rng.uniform(*np.log(config.distance_m))) * np.clip(scene.hero_sizes[index] / 1.2, 0.8, 1.6)
        heading = rng.uniform(-0.9, 0.9) * np.pi - np.pi / 2           # mostly from -y
        eye = target + [distance * np.cos(heading), distance * np.sin(heading), 0.0]
        eye[2] = rng.uniform(0.2, 1.9)
        if np.linalg.norm(eye - target) < 0.5:
            continue
        if clearance(scene, eye[None])[0] < 0.15:
            continue
        world_T_cam = look_at(eye, target)
        roll = rng.normal(0.0, 0.05)
        cos, sin = np.cos(roll), np.sin(roll)
        world_T_cam[:3, :3] = world_T_cam[:3, :3] @ np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
        K = K_from_fov(width, height, rng.uniform(*config.hfov_deg))
        frames.append(scene.render(K, world_T_cam, width, height, rng, camera=CameraModel.sample(rng)))
    return frames


__all__ = ["HEROES", "ObjectSceneConfig", "generate_object_scene", "object_views", "tube"]
