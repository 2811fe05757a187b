"""Object-centred synthetic scenes for mono-depth (edgegeo.data.synthetic.objects): seeded,
valid depth on the aimed-at props, a distinct held-out setting, no evaluation image among the
textures."""
import numpy as np
import pytest

from edgegeo.data.synthetic import textures
from edgegeo.data.synthetic.objects import (HEROES, ObjectSceneConfig, generate_object_scene,
                                            object_views, tube)
from edgegeo.data.synthetic.materials import plain_material


def test_scenes_and_views_are_seeded_with_valid_depth():
    frames = [object_views(generate_object_scene(4), 2, 64, 48, seed=4) for _ in range(2)]
    for a, b in zip(*frames):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth, b.depth)
    for frame in frames[0]:
        assert frame.rgb.shape == (48, 64, 3) and frame.depth.dtype == np.float32
        assert (frame.depth > 0).all()                     # the enclosure closes every ray
        centre = frame.depth[20:28, 28:36]                 # cameras aim at a prop 0.8–8 m away
        assert 0.3 < np.median(centre) < 12.0
    other = object_views(generate_object_scene(5), 1, 64, 48, seed=5)[0]
    assert not np.array_equal(other.depth, frames[0][0].depth)


def test_held_out_setting_differs_and_texture_pools_exclude_evaluation_images():
    train, held_out = ObjectSceneConfig(), ObjectSceneConfig.held_out()
    assert not set(train.ground_photos) & set(held_out.ground_photos)
    assert not set(train.backdrop_photos) & set(held_out.backdrop_photos)
    assert dict(train.hero_kinds) != dict(held_out.hero_kinds)
    for config in (train, held_out):
        assert not set(config.ground_photos + config.backdrop_photos) & \
            set(textures.EVALUATION_ONLY_PHOTOS)
    with pytest.raises(ValueError, match="not texture photos"):
        ObjectSceneConfig(ground_photos=("stereo_motorcycle",))
    with pytest.raises(ValueError, match="unknown"):
        ObjectSceneConfig(hero_kinds=(("spaceship", 1.0),))


@pytest.mark.parametrize("kind", sorted(HEROES))
def test_hero_builders_stay_inside_their_footprint_height(kind):
    prop = HEROES[kind](np.random.default_rng(1))
    points = np.concatenate([p.mesh.transformed(p.obj_T_piece).vertices for p in prop.pieces])
    assert points[:, 2].min() > -0.05 and points[:, 2].max() < prop.height + 0.1


def test_tube_joins_its_end_points():
    piece = tube((0, 0, 0), (1, 2, 2), 0.05, plain_material("t", (0.5, 0.5, 0.5)))
    vertices = piece.mesh.transformed(piece.obj_T_piece).vertices
    axis = np.array([1, 2, 2]) / 3.0
    along = vertices @ axis
    assert along.min() == pytest.approx(0, abs=1e-9) and along.max() == pytest.approx(3, abs=1e-9)
    radial = np.linalg.norm(vertices - np.outer(along, axis), axis=1)
    assert radial.max() == pytest.approx(0.05, abs=1e-9)
