"""Procedural indoor scenes: ``generate_scene(seed, config) -> Scene``.

A :class:`Scene` holds every surface as one triangle soup in an Open3D ``RaycastingScene``
(CPU, Embree) plus per-triangle lookup tables (instance, material, texture frame, shading
normals), the lights, and the room bounds. ``Scene.render`` produces a :class:`Frame`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegeo.data.frame import Frame

from .camera_model import CameraModel
from .materials import Material
from .props import Piece, PointLight


STRUCTURE_NAMES = ("floor", "ceiling", "wall", "annex", "window_frame", "sky", "ground")
"""Instance names (prefixes) of the building itself; see :meth:`Scene.is_structure`."""

SURFACE_KINDS = ("floor", "walls", "ceiling", "other structure", "objects")
"""The kinds of surface :meth:`Scene.surface_kinds` tells apart."""


@dataclass(frozen=True)
class SceneConfig:
    """Ranges a scene is drawn from (inclusive; metres or counts).

    Attributes:
        room_size_m: room width and depth range.
        ceiling_height_m: ceiling height range.
        furniture_count: furniture tried (chairs at tables come on top).
        clutter_count: small objects tried (rows of books on shelves come on top).
        door_count: doors (each on its own wall, 0–4).
        window_count: windows (on walls without a door).
        light_count: ceiling lights (≥ 1).
        poster_count: photo prints on walls.
        bookshelf_fill: probability that a shelf gets a row of books.
    """

    room_size_m: tuple[float, float] = (3.0, 8.0)
    ceiling_height_m: tuple[float, float] = (2.5, 3.0)
    furniture_count: tuple[int, int] = (6, 14)
    clutter_count: tuple[int, int] = (20, 50)
    door_count: tuple[int, int] = (1, 2)
    window_count: tuple[int, int] = (0, 3)
    light_count: tuple[int, int] = (1, 3)
    poster_count: tuple[int, int] = (0, 3)
    bookshelf_fill: float = 0.6

    def __post_init__(self):
        def check_range(name, low_limit, high_limit=np.inf):
            value = getattr(self, name)
            if (len(value) != 2 or not np.all(np.isfinite(value)) or value[0] > value[1]
                    or value[0] < low_limit or value[1] > high_limit):
                raise ValueError(f"SceneConfig.{name} must be (low, high) with {low_limit} <= low <= high"
                                 f"{'' if high_limit == np.inf else f' <= {high_limit}'}, got {value}")

        check_range("room_size_m", 2.0, 30.0)
        check_range("ceiling_height_m", 2.2, 10.0)
        for name in ("furniture_count", "clutter_count", "window_count", "poster_count"):
            check_range(name, 0)
        check_range("door_count", 0, 4)
        check_range("light_count", 1)
        if not 0.0 <= self.bookshelf_fill <= 1.0:
            raise ValueError(f"SceneConfig.bookshelf_fill must be in [0, 1], got {self.bookshelf_fill}")


@dataclass(eq=False)
class SurfaceTables:
    """Per-triangle and per-material lookup tables the renderer reads (internal layout).

    Attributes:
        triangle_instance: ``(T,) int32`` instance id of each triangle.
        triangle_material: ``(T,) int32`` material index.
        triangle_normals: ``(T,3,3) float32`` shading normals at the three corners (world).
        triangle_curved: ``(T,) bool`` True where the corner normals differ (smooth shading);
            elsewhere the shading normal is the face normal.
        triangle_uv: ``(6,T) float32`` texture coordinates (in tiles) as an affine function of
            the barycentric coordinates (b1, b2): rows u0, v0, u1 − u0, v1 − v0, u2 − u0,
            v2 − v0 (box mapping is affine on a triangle, so interpolation is exact).
        triangle_texels_per_m: ``(T,) float32`` finest-level texels per metre on the triangle.
        material_texture: ``(M,) int32`` texture index of each material.
        material_tint: ``(3,M) float32`` linear albedo multiplier.
        material_specular, material_shininess, material_emission: ``(M,) float32``.
        texture_levels: mip levels, finest first, each ``(3, n_textures·s·s) uint8`` sRGB
            planes (texel (t, row, col) at column ``(t·s + row)·s + col``).
        texture_sizes: side ``s`` of each level in texels.
    """

    triangle_instance: np.ndarray
    triangle_material: np.ndarray
    triangle_normals: np.ndarray
    triangle_curved: np.ndarray
    triangle_uv: np.ndarray
    triangle_texels_per_m: np.ndarray
    material_texture: np.ndarray
    material_tint: np.ndarray
    material_specular: np.ndarray
    material_shininess: np.ndarray
    material_emission: np.ndarray
    texture_levels: list[np.ndarray]
    texture_sizes: list[int]


def box_map(corners: np.ndarray, tile_m: np.ndarray) -> np.ndarray:
    """Box (cube) mapping of triangles given in their texture frame.

    Each triangle is projected along the texture-frame axis closest to its normal; faces read
    like a print seen from outside (u to the viewer's right, v downwards).

    Args:
        corners: ``(T,3,3)`` corner positions in the texture frame, metres.
        tile_m: ``(T,2)`` metres per texture tile along u and v.
    Returns:
        ``(T,3,2) float64`` texture coordinates in tiles, shifted by whole tiles so the first
        corner lies in [0, 1) (keeps float32 precise; textures repeat every tile).
    """
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    axis = np.abs(normal).argmax(axis=1)
    sign = np.sign(normal[np.arange(len(axis)), axis])[:, None]
    x, y, z = corners[..., 0], corners[..., 1], corners[..., 2]
    u = np.where((axis == 0)[:, None], sign * y, np.where((axis == 1)[:, None], -sign * x, x))
    v = np.where((axis == 2)[:, None], -sign * y, -z)
    uv = np.stack([u, v], axis=-1) / tile_m[:, None, :]
    return uv - np.floor(uv[:, :1])


class Scene:
    """A static scene ready for ray casting and rendering.

    Attributes:
        seed: the seed it was generated from (None if built by hand).
        bounds: ``(2,3) float64`` min and max corner of the room interior, metres (world, z up).
        lights: point lights, world frame.
        ambient: ``(3,) float64`` linear ambient irradiance (uniform part of indirect light).
        bounce: fraction of each light's intensity returned as unshadowed fill (the part of
            indirect light that falls off with distance from the light).
        materials: every material used; ``instance_names[i]`` names instance ``i`` (0 = none).
        raycaster: the ``open3d.t.geometry.RaycastingScene`` holding every surface.
        vertices: ``(N,3) float32`` and ``triangles``: ``(T,3) uint32`` — the triangle soup.
        tables: per-triangle lookup tables for the renderer.
    """

    def __init__(self, elements: list[tuple[str, list[Piece]]], lights: list[PointLight],
                 ambient, bounds, seed: int | None = None, bounce: float = 0.0):
        """Build from named groups of world-frame pieces; each group becomes one instance
        (ids from 1 in order)."""
        import open3d as o3d

        if not elements or not lights:
            raise ValueError("a scene needs at least one surface and one light")
        self.seed = seed
        self.bounds = np.asarray(bounds, np.float64)
        self.lights = list(lights)
        self.ambient = np.asarray(ambient, np.float64)
        if not 0.0 <= bounce < 1.0:
            raise ValueError(f"bounce must be in [0, 1), got {bounce!r}")
        self.bounce = float(bounce)
        self.instance_names = ["none"] + [name for name, _ in elements]
        self.materials: list[Material] = []
        material_index: dict[int, int] = {}
        vertices, triangles, instance, material, normals, uv = [], [], [], [], [], []
        offset = 0
        for instance_id, (_, pieces) in enumerate(elements, start=1):
            for piece in pieces:
                mesh = piece.mesh.transformed(piece.obj_T_piece)
                if id(piece.material) not in material_index:
                    material_index[id(piece.material)] = len(self.materials)
                    self.materials.append(piece.material)
                texture_frame = piece.obj_T_texture if piece.obj_T_texture is not None else piece.obj_T_piece
                in_texture_frame = mesh.transformed(np.linalg.inv(texture_frame))
                count = len(mesh.triangles)
                uv.append(box_map(in_texture_frame.vertices[mesh.triangles],
                                  np.tile(np.asarray(piece.material.tile_m, np.float64), (count, 1))))
                vertices.append(mesh.vertices)
                triangles.append(mesh.triangles + offset)
                normals.append(mesh.normals[mesh.triangles])
                instance.append(np.full(count, instance_id, np.int32))
                material.append(np.full(count, material_index[id(piece.material)], np.int32))
                offset += len(mesh.vertices)
        self.vertices = np.concatenate(vertices).astype(np.float32)
        self.triangles = np.concatenate(triangles).astype(np.uint32)
        self.tables = self._build_tables(np.concatenate(instance), np.concatenate(material),
                                         np.concatenate(normals), np.concatenate(uv))
        self.raycaster = o3d.t.geometry.RaycastingScene()
        self.raycaster.add_triangles(o3d.core.Tensor(self.vertices), o3d.core.Tensor(self.triangles))
        self._mesh = None

    def _build_tables(self, instance, material, normals, uv) -> SurfaceTables:
        textures, texture_index = [], {}
        for item in self.materials:
            if id(item.texture) not in texture_index:
                texture_index[id(item.texture)] = len(textures)
                textures.append(item.texture)
        sizes = [level.shape[0] for level in textures[0].levels]
        levels = [np.ascontiguousarray(np.stack([texture.levels[level] for texture in textures]).reshape(-1, 3).T)
                  for level in range(len(sizes))]
        texels_per_m = np.array([sizes[0] / min(m.tile_m) for m in self.materials], np.float32)
        affine_uv = np.concatenate([uv[:, 0], uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]], axis=1)
        return SurfaceTables(
            triangle_instance=instance, triangle_material=material,
            triangle_normals=normals.astype(np.float32),
            triangle_curved=np.abs(normals - normals[:, :1]).max(axis=(1, 2)) > 1e-6,
            triangle_uv=np.ascontiguousarray(affine_uv.T, np.float32),
            triangle_texels_per_m=texels_per_m[material],
            material_texture=np.array([texture_index[id(m.texture)] for m in self.materials], np.int32),
            material_tint=np.ascontiguousarray(np.array([m.tint for m in self.materials], np.float32).T),
            material_specular=np.array([m.specular for m in self.materials], np.float32),
            material_shininess=np.array([m.shininess for m in self.materials], np.float32),
            material_emission=np.array([m.emission for m in self.materials], np.float32),
            texture_levels=levels, texture_sizes=sizes,
        )

    @property
    def mesh(self):
        """Every surface as a legacy ``open3d.geometry.TriangleMesh`` (world frame, metres),
        vertex colours = each material's mean albedo (sRGB). Built on first use."""
        if self._mesh is None:
            import open3d as o3d

            mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(self.vertices.astype(np.float64)),
                                             o3d.utility.Vector3iVector(self.triangles.astype(np.int32)))
            colors = np.zeros((len(self.vertices), 3))
            mean_rgb = np.array([(m.texture.mean_rgb ** 2.2 * m.tint) ** (1 / 2.2) for m in self.materials])
            colors[self.triangles.reshape(-1)] = np.repeat(mean_rgb[self.tables.triangle_material], 3, axis=0)
            mesh.vertex_colors = o3d.utility.Vector3dVector(colors)
            mesh.compute_triangle_normals()
            self._mesh = mesh
        return self._mesh

    def is_structure(self, instance) -> np.ndarray:
        """Whether each instance id belongs to the building (floor, ceiling, walls, annexes,
        outdoors) rather than to furniture, clutter, posters or lamps; id 0 counts as structure.

        Args:
            instance: integer array of instance ids.
        Returns:
            bool array of the same shape.
        """
        structure = np.array([name.startswith(STRUCTURE_NAMES) for name in self.instance_names])
        structure[0] = True
        return structure[np.asarray(instance)]

    def surface_kinds(self, instance) -> np.ndarray:
        """The kind of surface each instance id is, as an index into :data:`SURFACE_KINDS`:
        the floor, the walls, the ceiling, the rest of the building (annexes, window frames,
        ceiling lights, outdoors; id 0) and objects (furniture, clutter, posters).

        Args:
            instance: integer array of instance ids.
        Returns:
            ``int64`` array of the same shape.
        """
        structure = self.is_structure(np.arange(len(self.instance_names)))
        kinds = np.where(structure, SURFACE_KINDS.index("other structure"),
                         SURFACE_KINDS.index("objects"))
        for index, name in enumerate(self.instance_names):
            if name == "floor":
                kinds[index] = SURFACE_KINDS.index("floor")
            elif name.startswith("wall"):
                kinds[index] = SURFACE_KINDS.index("walls")
            elif name == "ceiling":
                kinds[index] = SURFACE_KINDS.index("ceiling")
        return kinds[np.asarray(instance)]

    @property
    def room_size(self) -> np.ndarray:
        """``(3,) float64`` interior size (Lx, Ly, H) in metres."""
        return self.bounds[1] - self.bounds[0]

    def render_buffers(self, K, world_T_cam, width: int, height: int):
        """Ray-cast and shade one view; see :func:`.renderer.render_buffers`."""
        from .renderer import render_buffers

        return render_buffers(self, K, world_T_cam, width, height)

    def render(self, K, world_T_cam, width: int, height: int, rng: np.random.Generator | None = None,
               camera: CameraModel | None = None) -> Frame:
        """Render one frame.

        Args:
            K: ``(3,3)`` intrinsics of a ``width × height`` image (pixel (0,0) centre at (0,0)).
            world_T_cam: ``(4,4)`` camera-to-world pose (OpenCV camera axes, world z up).
            width, height: image size in pixels.
            rng: draws the sensor noise; None → a generator seeded with 0 (deterministic).
            camera: exposure, white balance, noise, blur, gamma; None → ``CameraModel()``.
        Returns:
            Frame with rgb ``(H,W,3) uint8``, depth ``(H,W) float32`` metres along the optical
            axis (0 = no hit), normals ``(H,W,3) float32`` unit, camera frame, facing the
            camera, instance ``(H,W) int32`` (0 = no hit), K and world_T_cam (float64).
        Raises:
            ValueError for degenerate intrinsics, a non-rigid pose or a bad size.
        """
        buffers = self.render_buffers(K, world_T_cam, width, height)
        camera = camera or CameraModel()
        return buffers.to_frame(camera, camera.auto_gains(buffers.radiance), rng)


def generate_scene(seed: int, config: SceneConfig | None = None) -> Scene:
    """Generate a furnished room, reproducibly from ``seed``.

    Args:
        seed: any non-negative integer; the same seed and config give the same scene.
        config: ranges to draw from (default ``SceneConfig()``).
    Returns:
        Scene with a room (walls, floor, ceiling, doors onto annexes, windows onto an outdoor
        enclosure), furniture, clutter, posters, ceiling lights.
    """
    from . import layout
    from .room import build_room

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    config = config or SceneConfig()
    if not isinstance(config, SceneConfig):
        raise ValueError(f"config must be a SceneConfig, got {type(config).__name__}")
    rng = np.random.default_rng(seed)
    room = build_room(rng, config)
    floor = layout.floor_slot(room)
    furniture = layout.place_furniture(rng, room, floor, int(rng.integers(config.furniture_count[0],
                                                                           config.furniture_count[1] + 1)))
    slots = layout.surface_slots(furniture, room.size[2])
    books = []
    for slot in slots:
        if slot.bookshelf and rng.random() < config.bookshelf_fill:
            books += layout.fill_shelf_with_books(rng, slot)
    floor.weight = 0.25
    clutter = layout.place_clutter(rng, slots + [floor], int(rng.integers(config.clutter_count[0],
                                                                          config.clutter_count[1] + 1)))
    elements = list(room.elements)
    lights = list(room.lights)
    for placement in furniture + books + clutter:
        pieces = [Piece(piece.mesh, placement.world_T_obj @ piece.obj_T_piece, piece.material,
                        None if piece.obj_T_texture is None else placement.world_T_obj @ piece.obj_T_texture)
                  for piece in placement.prop.pieces]
        elements.append((placement.prop.kind, pieces))
        for light in placement.prop.lights:
            position = placement.world_T_obj[:3, :3] @ light.position + placement.world_T_obj[:3, 3]
            lights.append(PointLight(position, light.color, light.intensity))
    return Scene(elements, lights, room.ambient, [[0.0, 0.0, 0.0], room.size], seed=int(seed),
                 bounce=room.bounce)
