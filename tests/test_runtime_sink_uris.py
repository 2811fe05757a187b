"""Outputs by URI: each scheme opens the right sink with its options, a bad URI is a clear
ValueError naming the problem, and ``edgegeo run``'s old output flags become the same sinks as
the URIs they are short for."""
import argparse
from pathlib import Path

import pytest

from edgegeo.cli.run import register, sink_uris
from edgegeo.fusion import FusionConfig, TSDFFusion
from edgegeo.runtime.map import LiveMap
from edgegeo.runtime.sinks import (DepthFramesSink, DepthVideoSink, MapSink, RosBagSink,
                                   open_sink)


@pytest.fixture(scope="module")
def live_map():
    return LiveMap(TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15, max_depth=4.0)))


def _config(sink) -> dict:
    """What a sink was configured with: its public attributes."""
    return {key: value for key, value in vars(sink).items() if not key.startswith("_")}


def test_each_scheme_opens_its_sink(live_map, tmp_path):
    ply = open_sink(f"ply://{tmp_path}/map?every=5&cloud=0", live_map=live_map)
    assert isinstance(ply, MapSink) and ply.live_map is live_map and ply.every_s == 5
    assert ply.mesh_path == tmp_path / "map" / "mesh.ply" and ply.cloud_path is None
    png = open_sink(f"png16://{tmp_path}/depth?every=3")
    assert isinstance(png, DepthFramesSink) and (png.fmt, png.every) == ("png16", 3)
    assert png.out_dir == tmp_path / "depth"
    assert open_sink(f"npy://{tmp_path}/d").fmt == "npy"
    video = open_sink(f"mp4://{tmp_path}/depth.mp4", live_map=live_map, fps=15)
    assert isinstance(video, DepthVideoSink) and video.path == tmp_path / "depth.mp4"
    assert (video.fps, video.max_depth, video.with_rgb) == (15.0, 4.0, True)
    video = open_sink(f"mp4://{tmp_path}/v.mp4?fps=5&max_depth=2.5&rgb=0")
    assert (video.fps, video.max_depth, video.with_rgb) == (5.0, 2.5, False)
    bag = open_sink(f"mcap://{tmp_path}/bag?map_every=0&max_points=1000", live_map=live_map)
    assert isinstance(bag, RosBagSink) and bag.live_map is live_map
    assert (bag.path, bag.map_every_s, bag.max_map_points) == (tmp_path / "bag", 0.0, 1000)
    assert open_sink("mcap://bag").live_map is None          # no fusion: a bag without map


@pytest.mark.parametrize("uri, message", [
    ("", "empty sink URI"),
    ("out/mesh.ply", "has no scheme; known: ply://, png16://, npy://, mp4://, mcap://"),
    ("obj://out", "unknown sink scheme 'obj'"),
    ("png16://", "no path after png16://"),
    ("png16://d?fps=3", "unknown option(s) fps for a png16:// sink; allowed: every"),
    ("png16://d?every=0", "every must be >= 1"),
    ("mp4://v.mp4?fps=fast", "fps must be a positive number"),
    ("mcap://b?map_every=-1", "map_every must be a non-negative number"),
    ("ply://d?mesh=maybe", "mesh must be 0 or 1"),
    ("ply://d?every", "option 'every' must be key=value"),
    ("ply://d", "ply:// saves the fused map, and this run does not fuse"),
])
def test_bad_sink_uris_say_what_is_wrong(uri, message):
    with pytest.raises(ValueError) as error:
        open_sink(uri)
    assert message in str(error.value)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["run", "--source", "synthetic://walkthrough", *argv])


def test_old_output_flags_are_the_uris_they_stand_for(live_map, tmp_path):
    out = tmp_path / "run dir"                               # a space survives the URI
    flags = sink_uris(_args("--out", str(out), "--fuse", "--save-every", "5",
                            "--save-depth", "npy", "--video", "--bag"))
    uris = sink_uris(_args("--out", str(out), "--fuse", "--sink", f"ply://{out}?every=5",
                           "--sink", f"tum://{out}/trajectory.txt",
                           "--sink", f"npy://{out}/depth", "--sink", f"mp4://{out}/depth.mp4",
                           "--sink", f"mcap://{out}/bag?map_every=5"))
    assert len(flags) == len(uris) == 5
    for flag, uri in zip(flags, uris):
        a, b = (open_sink(u, live_map=live_map, fps=10) for u in (flag, uri))
        assert type(a) is type(b) and _config(a) == _config(b), (flag, uri)
    assert open_sink(flags[0], live_map=live_map).out_dir == Path(out)


def test_fuse_saves_the_map_in_out_unless_a_ply_sink_says_where(tmp_path):
    assert sink_uris(_args("--out", "o", "--fuse")) == ["ply://o?every=30",
                                                        "tum://o/trajectory.txt"]
    assert sink_uris(_args("--out", "o", "--fuse", "--sink", "ply://elsewhere",
                           "--sink", "tum://t.txt")) == ["ply://elsewhere", "tum://t.txt"]
    assert sink_uris(_args("--out", "o", "--track")) == ["tum://o/trajectory.txt"]
    assert sink_uris(_args("--out", "o", "--bag", "--save-every", "0")) == \
        ["mcap://o/bag?map_every=10"]
