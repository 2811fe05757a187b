"""Procedural scenes: reproducibility, plausible scale, placement, configuration checks."""
import numpy as np
import pytest

from edgegeo.data.synthetic import SceneConfig, generate_scene
from edgegeo.data.synthetic.layout import Slot, footprint_rect
from edgegeo.data.synthetic.primitives import box, cylinder, sphere
from edgegeo.data.synthetic.room import WALL_THICKNESS

SMALL = SceneConfig(furniture_count=(3, 5), clutter_count=(5, 10))
SHELL = ("floor", "ceiling", "wall0", "wall1", "wall2", "wall3", "annex", "window_frame", "sky", "ground",
         "poster", "ceiling_light")


@pytest.fixture(scope="module")
def scene():
    return generate_scene(11)


def test_same_seed_gives_identical_scene():
    first, second = generate_scene(3, SMALL), generate_scene(3, SMALL)
    assert np.array_equal(first.vertices, second.vertices)
    assert np.array_equal(first.triangles, second.triangles)
    assert np.array_equal(first.tables.triangle_uv, second.tables.triangle_uv)
    assert [m.name for m in first.materials] == [m.name for m in second.materials]
    assert first.instance_names == second.instance_names


def test_different_seeds_give_different_scenes():
    assert not np.array_equal(generate_scene(1, SMALL).bounds, generate_scene(2, SMALL).bounds)


@pytest.mark.parametrize("seed", [0, 5])
def test_room_has_plausible_scale_and_objects_stay_inside(seed):
    scene = generate_scene(seed)
    length, width, height = scene.room_size
    assert 3.0 <= length <= 8.0 and 3.0 <= width <= 8.0 and 2.5 <= height <= 3.0
    instance = scene.tables.triangle_instance
    names = np.array(scene.instance_names)
    props = ~np.isin(names[instance], SHELL)
    assert props.sum() > 100, "a furnished room has furniture and clutter"
    corners = scene.vertices[scene.triangles[props].ravel()]
    assert np.all(corners >= scene.bounds[0] - 1e-3) and np.all(corners <= scene.bounds[1] + 1e-3)
    kinds = {name.split(":")[0] for name in names[1:]}
    assert {"floor", "ceiling", "wall0", "sky", "ground"} <= kinds


def test_mesh_holds_every_surface(scene):
    mesh = scene.mesh
    assert len(mesh.triangles) == len(scene.triangles)
    assert mesh.has_vertex_colors()
    low, high = np.asarray(mesh.get_min_bound()), np.asarray(mesh.get_max_bound())
    assert np.all(low < scene.bounds[0] - WALL_THICKNESS) and np.all(high > scene.bounds[1] + WALL_THICKNESS)


@pytest.mark.parametrize("field, value", [
    ("room_size_m", (5.0, 3.0)), ("room_size_m", (1.0, 3.0)), ("ceiling_height_m", (1.5, 2.0)),
    ("light_count", (0, 2)), ("door_count", (1, 5)), ("clutter_count", (-1, 3)), ("bookshelf_fill", 1.5),
])
def test_bad_scene_config_raises(field, value):
    with pytest.raises(ValueError, match=field):
        SceneConfig(**{field: value})


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError):
        generate_scene(seed)


def test_primitives_are_closed_with_outward_normals():
    for mesh in (box((0.3, 0.2, 0.1)), cylinder(0.1, 0.4), sphere(0.2)):
        corners = mesh.vertices[mesh.triangles]
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        outward = corners.mean(axis=1) - mesh.vertices.mean(axis=0)
        assert np.all((normal * outward).sum(axis=1) > 0)
        # Closed: every edge is shared by exactly two triangles (after merging equal vertices).
        _, index = np.unique(np.round(mesh.vertices, 9), axis=0, return_inverse=True)
        edges = np.sort(index.ravel()[mesh.triangles][:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        assert np.all(counts == 2)


def test_slot_rejects_overlap_and_tall_props():
    slot = Slot(np.eye(4), (1.0, 0.5), headroom=0.4)
    rect = footprint_rect((0.2, 0.1), 0.0, 0.0, 0.0)
    assert slot.fits(rect, 0.3, gap=0.01)
    assert not slot.fits(rect, 0.5, gap=0.01)
    slot.occupied.append(rect)
    assert not slot.fits(footprint_rect((0.2, 0.1), np.pi / 4, 0.1, 0.0), 0.1, gap=0.01)
    assert slot.fits(footprint_rect((0.2, 0.1), 0.0, 0.7, 0.0), 0.1, gap=0.01)
    assert not slot.fits(footprint_rect((0.2, 0.1), 0.0, 0.9, 0.0), 0.1, gap=0.01)


def test_surface_kinds_name_floor_walls_ceiling_and_objects(scene):
    from edgegeo.data.synthetic.scene import SURFACE_KINDS

    ids = np.arange(len(scene.instance_names))
    kinds = [SURFACE_KINDS[k] for k in scene.surface_kinds(ids)]
    by_name = dict(zip(scene.instance_names, kinds))
    assert by_name["floor"] == "floor" and by_name["ceiling"] == "ceiling"
    assert kinds[0] == "other structure"                                    # no hit
    for name, kind in zip(scene.instance_names, kinds):
        if name.startswith("wall"):
            assert kind == "walls", name
    # Everything the scene calls structure is a building surface; the rest are objects.
    structure = scene.is_structure(ids)
    assert all((kind != "objects") == bool(s) for kind, s in zip(kinds, structure))
    assert "objects" in kinds
    assert scene.surface_kinds(ids.reshape(-1, 1)).shape == (len(ids), 1)
