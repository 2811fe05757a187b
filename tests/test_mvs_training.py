"""The ``mvs`` recipe: training tuples from posed walk-throughs, config checks, and a smoke run
through ``edgegeo train mvs --smoke`` whose weights load with ``edgegeo.load``."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from edgegeo.cli import main
from edgegeo.geometry import pose_distance, relative_pose
from edgegeo.models.mvs import MVSNetConfig
from edgegeo.training.config import make_config
from edgegeo.training.mvs.cards import network_config
from edgegeo.models.mvs.keyframes import KeyframeBuffer
from edgegeo.training.mvs.data import (Sequence, SequenceSet, choose_sources, mvs_batch,
                                       pose_distance_matrix, stream_sources)
from edgegeo.training.recipes import get_recipe
from edgegeo.weights_io import load_weights


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pose(x, yaw=0.0):
    a = np.radians(yaw)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    T[0, 3] = x
    return T


def _sequence(n=12, step=0.07, size=(32, 64), seed=0):
    rng = np.random.default_rng(seed)
    poses = np.stack([_pose(step * i, yaw=2.0 * i) for i in range(n)])
    K = np.array([[40.0, 0, (size[1] - 1) / 2], [0, 40.0, (size[0] - 1) / 2], [0, 0, 1]])
    return Sequence(rgb=rng.integers(0, 256, (n, *size, 3), dtype=np.uint8),
                    depth=rng.uniform(0.5, 6, (n, *size)).astype(np.float32),
                    K=np.repeat(K[None], n, 0), world_T_cam=poses,
                    distance=pose_distance_matrix(poses), name="test")


def test_pose_distance_matrix_is_the_geometry_pose_distance():
    seq = _sequence(5)
    for i in range(5):
        for j in range(5):
            assert seq.distance[i, j] == pytest.approx(
                pose_distance(relative_pose(seq.world_T_cam[i], seq.world_T_cam[j])), abs=1e-12)


def test_sources_come_from_the_pose_range_and_fill_in_when_short():
    seq = _sequence(12)
    rng = np.random.default_rng(0)
    low, high = 0.1, 0.3
    for _ in range(20):
        chosen = choose_sources(seq.distance, 6, 3, (low, high), rng)
        assert len(set(chosen)) == 3 and 6 not in chosen
        assert all(low <= seq.distance[6, j] <= high for j in chosen)
    # Only frames 4, 8 (and 3, 9 at the edge) are in range for frame 6; asking for 6 fills in
    # with the frames nearest to the range.
    in_range = {j for j in range(12) if j != 6 and low <= seq.distance[6, j] <= high}
    chosen = choose_sources(seq.distance, 6, len(in_range) + 2, (low, high), rng)
    assert in_range <= set(chosen) and len(set(chosen)) == len(in_range) + 2
    extra = set(chosen) - in_range
    rest = [j for j in range(12) if j != 6 and j not in in_range]
    gaps = {j: max(low - seq.distance[6, j], seq.distance[6, j] - high) for j in rest}
    assert sorted(gaps[j] for j in extra) == sorted(gaps.values())[:2]
    # A sequence too short for the request gives what it has.
    assert sorted(choose_sources(seq.distance[:3, :3], 0, 5, (low, high), rng)) == [1, 2]


def test_batches_hold_consistent_tuples():
    data = SequenceSet([_sequence(12, seed=0), _sequence(10, seed=1)], "test")
    batch = mvs_batch(data, 4, 3, seed=7, pose_range=(0.1, 0.3))
    shapes = {k: tuple(v.shape) for k, v in batch.items()}
    assert shapes == {"image": (4, 3, 32, 64), "src_images": (4, 3, 3, 32, 64),
                      "depth": (4, 1, 32, 64), "src_depth": (4, 3, 1, 32, 64), "K": (4, 3, 3),
                      "src_K": (4, 3, 3, 3), "src_T_ref": (4, 3, 4, 4), "source_valid": (4, 3)}
    assert batch["source_valid"].all()
    assert batch["image"].min() >= 0 and batch["image"].max() <= 1
    # Every source pose is src_T_ref of a frame pair of a sequence, mostly in the pose range.
    pairs = np.concatenate([seq.distance[seq.distance > 0] for seq in data.sequences])
    distances = [pose_distance(batch["src_T_ref"][b, s].double().numpy())
                 for b in range(4) for s in range(3)]
    assert all(np.abs(pairs - d).min() < 1e-5 for d in distances)
    assert np.mean([0.1 - 1e-6 <= d <= 0.3 + 1e-6 for d in distances]) >= 0.5
    again = mvs_batch(data, 4, 3, seed=7, pose_range=(0.1, 0.3))
    assert all(torch.equal(batch[k], again[k]) for k in batch)      # a pure function of seed
    dropped = mvs_batch(data, 64, 3, seed=1, pose_range=(0.1, 0.3), drop_sources_p=1.0,
                        min_sources=1)
    real = dropped["source_valid"].sum(1)
    assert set(real.tolist()) == {1, 2}
    padding = ~dropped["source_valid"]
    assert (dropped["src_images"][padding] == 0).all()
    assert (dropped["src_depth"][padding] == 0).all()
    assert torch.equal(dropped["src_T_ref"][padding], torch.eye(4).expand(int(padding.sum()), 4, 4))


def test_stream_sources_are_the_keyframes_a_stream_would_pick_in_either_direction():
    seq = _sequence(20, step=0.06)
    rng = np.random.default_rng(0)
    directions = set()
    for _ in range(20):
        chosen = stream_sources(seq.world_T_cam, 12, 3, rng)
        forward = all(j < 12 for j in chosen)
        assert len(chosen) == 3 and (forward or all(j > 12 for j in chosen))
        directions.add(forward)
        # The stream: the same frames, in playing order, through a keyframe buffer.
        buffer = KeyframeBuffer()
        for j in (range(12) if forward else range(19, 12, -1)):
            buffer.try_add(seq.world_T_cam[j], j)
        assert sorted(chosen) == sorted(k.item for k in buffer.sources_for(seq.world_T_cam[12], 3))
    assert directions == {True, False}
    # At the start of the walk-through only the other direction has sources; with none there
    # a batch falls back to the pose-range draw (and so always has its sources).
    assert {len(stream_sources(seq.world_T_cam, 0, 3, rng)) for _ in range(20)} == {0, 3}
    data = SequenceSet([seq], "test")
    batch = mvs_batch(data, 16, 3, seed=2, pose_range=(0.1, 0.3), stream_sources_p=1.0)
    assert batch["source_valid"].all()


def test_reference_crops_keep_whole_sources_and_shift_the_intrinsics():
    data = SequenceSet([_sequence(12, size=(64, 96))], "test")
    whole = mvs_batch(data, 3, 2, seed=3, pose_range=(0.1, 0.3))
    crops = mvs_batch(data, 3, 2, seed=3, pose_range=(0.1, 0.3), crop_size=(32, 64))
    assert crops["image"].shape == (3, 3, 32, 64) and crops["depth"].shape == (3, 1, 32, 64)
    assert crops["src_images"].shape == (3, 2, 3, 64, 96)
    for b in range(3):
        # The crop's pixels and depth are the whole frame's at (top, left) = K shift.
        left = int(round(whole["K"][b, 0, 2].item() - crops["K"][b, 0, 2].item()))
        top = int(round(whole["K"][b, 1, 2].item() - crops["K"][b, 1, 2].item()))
        assert left % 4 == 0 and top % 4 == 0 and 0 <= left <= 32 and 0 <= top <= 32
        frames = [i for i in range(12) if torch.equal(
            torch.from_numpy(data.sequences[0].depth[i][top:top + 32, left:left + 64]),
            crops["depth"][b, 0])]
        assert len(frames) == 1
        np.testing.assert_array_equal(
            crops["image"][b].permute(1, 2, 0).numpy() * 255,
            data.sequences[0].rgb[frames[0]][top:top + 32, left:left + 64])
    with pytest.raises(ValueError, match="larger than"):
        mvs_batch(data, 1, 2, seed=0, pose_range=(0.1, 0.3), crop_size=(96, 96))


def test_config_checks_and_network_config():
    recipe = get_recipe("mvs")
    cfg = make_config(recipe.config_cls)
    assert network_config(cfg) == MVSNetConfig.matching()
    assert cfg.depth_range == (0.25, 8.0) and cfg.num_planes == 64 and cfg.num_views == 5
    assert (cfg.cost_volume, cfg.decoder) == ("correlation", "planes")
    dot = make_config(recipe.config_cls, overrides=["cost_volume=dot", "decoder=depth",
                                                    "num_views=4",
                                                    "depth_range=0.3,6", "mlp_hidden=64,32",
                                                    "image_size=96,128"])
    assert network_config(dot) == MVSNetConfig.small(cost_volume="dot", num_sources=3,
                                                     min_depth=0.3, max_depth=6.0,
                                                     mlp_hidden=(64, 32), image_size=(96, 128))
    for override, message in [("image_size=100,128", "multiples of 32"),
                              ("cost_volume=cos", "cost_volume"),
                              ("decoder=heads", "decoder"),
                              ("volume_ce=-1", "volume_ce"),
                              ("depth_range=5,1", "depth_range"),
                              ("min_sources=9", "min_sources"),
                              ("stream_sources_p=1.5", "stream_sources_p"),
                              ("model=huge", "model"),
                              ("crop_size=224,128", "fit in image_size"),
                              ("crop_size=100,128", "multiples of 32")]:
        with pytest.raises(ValueError, match=message):
            make_config(recipe.config_cls, overrides=[override])


def test_smoke_training_run_loads_with_edgegeo_load(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "mvs", "--smoke", "--out", str(out)]) == 0
    assert "trained mvs: 6 steps" in capsys.readouterr().out
    card = json.loads((out / "mvs.json").read_text())
    assert card["smoke"] is True and card["recipe"] == "mvs"
    assert set(card["metrics"]["train"]) >= {"train/loss", "train/ms_log_l1", "train/gradient",
                                             "train/normal", "train/multiview", "train/abs_rel",
                                             "train/volume_ce", "train/plane_ce"}
    assert card["metrics"]["eval"]["val_frames"] >= 1
    assert 0 < card["metrics"]["eval"]["val_abs_rel"] < 10
    assert "walk-throughs rendered in memory" in card["data"]
    assert card["batchnorm_recalibration"] == "2 whole-frame batches of 2"
    config = network_config(make_config(get_recipe("mvs").config_cls,
                                        smoke_overrides=get_recipe("mvs").smoke_overrides))
    assert config.image_size == (64, 96) and config.num_sources == 2
    assert MVSNetConfig.from_dict(card["model_config"]) == config   # written by the recipe

    from edgegeo.api import load
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 48, 80, 3), dtype=np.uint8)
    K = np.array([[50.0, 0, 39.5], [0, 50.0, 23.5], [0, 0, 1]])
    poses = [_pose(0.1 * i) for i in range(3)]
    predictor = load("mvs", weights=out / "mvs.safetensors")
    assert predictor.model.config == config and predictor.resolution == (64, 96)
    depth = predictor(images[0], K, poses[0], images[1:], [K, K], poses[1:])
    assert depth.shape == (48, 80) and (depth > 0).all()


def test_a_run_can_start_from_earlier_weights(tmp_path):
    first = tmp_path / "first"
    assert main(["train", "mvs", "--smoke", "--out", str(first), "--set", "steps=2",
                 "--set", "warmup_steps=1"]) == 0
    weights = first / "mvs.safetensors"
    recipe = get_recipe("mvs")
    cfg = make_config(recipe.config_cls, smoke_overrides=recipe.smoke_overrides,
                      overrides=[f"init={weights}"])
    model = recipe.build_model(cfg)
    saved = load_weights(weights)
    assert all(torch.equal(value, saved[key].to(value.dtype))
               for key, value in model.state_dict().items())
    with pytest.raises(ValueError, match="does not fit this mvs network"):
        recipe.build_model(make_config(recipe.config_cls, smoke_overrides=recipe.smoke_overrides,
                                       overrides=[f"init={weights}", "num_planes=5"]))


def test_a_local_volume_run_can_start_from_planes_weights(tmp_path):
    """``model=local`` on the weights of a run without the ½-resolution stages: those start at
    their identity initialisation, everything else is loaded."""
    from edgegeo.models.mvs import MVSNet
    from edgegeo.training.init_weights import initialise_from
    from edgegeo.training.recipes.mvs import ADDED_STAGES

    first = tmp_path / "first"
    assert main(["train", "mvs", "--smoke", "--out", str(first), "--set", "steps=2",
                 "--set", "warmup_steps=1"]) == 0
    weights = first / "mvs.safetensors"
    recipe = get_recipe("mvs")
    cfg = make_config(recipe.config_cls, smoke_overrides=recipe.smoke_overrides, overrides=[])
    local = MVSNet(dataclasses.replace(network_config(cfg), fine_channels=4))
    initialise_from(local, str(weights), "mvs", ADDED_STAGES)
    saved = load_weights(weights)
    assert all(torch.equal(value, saved[key].to(value.dtype))
               for key, value in local.state_dict().items() if key in saved)
    assert not torch.count_nonzero(local.local_refine.net[-1].weight)
    with pytest.raises(ValueError, match="does not fit this mvs network"):
        initialise_from(local, str(weights), "mvs")                # nothing may be missing
    # The matching encoder's ⅛ context stage starts as the identity too: same features.
    context = MVSNet(dataclasses.replace(network_config(cfg), fine_channels=4,
                                         matching_context=8))
    initialise_from(context, str(weights), "mvs", ADDED_STAGES)
    assert not torch.count_nonzero(context.matching_encoder.context[-1].weight)
    missing, _ = context.load_state_dict(local.state_dict(), strict=False)   # same ½ stages
    assert missing and all(key.startswith("matching_encoder.context.") for key in missing)
    local.eval(), context.eval()
    image = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        for with_context, without in zip(context.matching_encoder(image),
                                          local.matching_encoder(image)):
            assert (with_context is None and without is None) or torch.equal(with_context,
                                                                             without)
    # The full-resolution local volume starts as the identity: the same depth as before.
    full = MVSNet(dataclasses.replace(context.config, full_channels=4))
    missing, _ = full.load_state_dict(context.state_dict(), strict=False)
    assert missing and all(key.startswith(("matching_encoder.full.", "full_refine."))
                           for key in missing)
    full.eval()
    sources = torch.rand(2, full.config.num_sources, 3, 64, 96)
    K = torch.tensor([[80.0, 0, 48], [0, 80.0, 32], [0, 0, 1]]).expand(2, 3, 3)
    src_K = K[:, None].expand(2, full.config.num_sources, 3, 3)
    src_T_ref = torch.eye(4).repeat(2, full.config.num_sources, 1, 1)
    src_T_ref[..., 0, 3] = 0.1
    with torch.no_grad():
        before = context(image, sources, K, src_K, src_T_ref)
        after = full(image, sources, K, src_K, src_T_ref)
    torch.testing.assert_close(after["depth"][0], before["depth"][0], rtol=1e-6, atol=1e-6)
    assert after["full_logits"].shape == (2, 2 * full.config.full_radius + 1, 64, 96)
    assert torch.equal(after["full_center"], before["log_depth"][0])


def test_a_card_sums_the_wall_time_of_the_runs_behind_it():
    from edgegeo.training.init_weights import total_wall_time

    first = {"wall_time_s": 100.0}
    second = {"wall_time_s": 50.0, "init_from": {"weights": "a", **first}}
    assert total_wall_time(second) == 150.0
    third = {"wall_time_s": 25.0,
             "init_from": {"weights": "b", **second, "wall_time_total_s": 150.0}}
    assert total_wall_time(third) == 175.0
    assert total_wall_time({"wall_time_s": 7.5}) == 7.5


def test_batches_carry_the_reference_hint_and_stream_forward_only_with_hints():
    seq = _sequence(20, step=0.06)
    seq.hint = (np.arange(20, dtype=np.float16)[:, None, None] + 1) * np.ones((1, 32, 64),
                                                                               np.float16)
    data = SequenceSet([seq], "test")
    batch = mvs_batch(data, 32, 3, seed=3, pose_range=(0.1, 0.3), stream_sources_p=1.0,
                      hint_drop_p=0.25, crop_size=(32, 32))
    assert batch["hint_depth"].shape == (32, 1, 32, 32)
    hints = batch["hint_depth"].flatten(1)
    assert (hints == hints[:, :1]).all()                       # one frame's hint per tuple
    dropped = (hints[:, 0] == 0).float().mean()
    assert 0.05 < dropped < 0.5
    # The hint of frame i is i + 1: the reference's. Its sources were before it in time.
    rng = np.random.default_rng(0)
    assert all(all(j < 12 for j in stream_sources(seq.world_T_cam, 12, 3, rng,
                                                  forward_only=True)) for _ in range(10))
    mixed = SequenceSet([seq, _sequence(12, seed=1)], "test")
    with pytest.raises(ValueError, match="have depth hints and some not"):
        mvs_batch(mixed, 8, 3, seed=0, pose_range=(0.1, 0.3))


def test_online_hints_are_the_map_of_the_keyframes_before_each_frame():
    from edgegeo.fusion import FusionConfig
    from edgegeo.models.mvs import MVSNet, MVSPredictor
    from edgegeo.training.mvs.hints import online_hints

    seq = _sequence(10, step=0.06)
    torch.manual_seed(0)
    predictor = MVSPredictor(MVSNet(MVSNetConfig.tiny(num_sources=2)), resolution=(32, 64),
                             min_sources=1)
    config = FusionConfig(voxel_size=0.05, trunc=0.15, max_depth=8.0, color=False)
    hints = online_hints(seq.rgb, seq.K, seq.world_T_cam, predictor, config)
    assert hints.shape == seq.depth.shape and hints.dtype == np.float32
    # Frame 0 has no map yet; the first prediction needs two keyframes.
    assert (hints[:3] == 0).all()
    assert (hints[hints > 0] <= config.max_depth + config.voxel_size).all()
