"""The runtime's stages: callables ``packet → packet | None`` the engine
(:mod:`edgegeo.runtime.pipeline`) runs each in its own thread, one module per stage or small
group:

* :mod:`.check` — :class:`~.check.CheckFrame`, first of every pipeline: reject frames the rest
  cannot use.
* :mod:`.depth` — :class:`~.depth.DepthStage` (a depth / disparity predictor on the RGB) and
  :class:`~.depth.ScaleToReference` (relative disparity → metres, fitted to reference depth).
* :mod:`.stereo` — :class:`~.stereo.StereoStage`, metric depth from rectified pairs.
* :mod:`.mvs` — :class:`~.mvs.MVSStage`, metric depth for the keyframes of a posed stream.
* :mod:`.upsample` — :class:`~.upsample.UpsampleStage`, low-resolution depth to the frame's.
* :mod:`.track` — :class:`~.track.TrackStage`, the camera pose from the depth (sources without
  poses).
* :mod:`.fuse` — :class:`~.fuse.FuseStage`, depth into the run's
  :class:`~edgegeo.runtime.map.LiveMap`.

Which stages make a named pipeline (``gt``, ``mono``, ``stereo``, ``mvs``) is
:func:`edgegeo.runtime.assembly.standard_stages`.
"""
