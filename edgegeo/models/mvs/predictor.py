"""``MVSPredictor`` (numpy posed images in, metric depth out) and ``MVSStream`` (posed frames one
by one, DeepVideoMVS keyframe buffer, depth per keyframe)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgegeo.data.frame import Frame
from edgegeo.geometry.intrinsics import resize_K, validate_K
from edgegeo.geometry.poses import relative_pose, validate_pose
from edgegeo.limits import check_distances, check_intrinsics_for_image
from edgegeo.models.common import check_rgb_image

from .config import SIZE_MULTIPLE
from .keyframes import Keyframe, KeyframeBuffer, select_sources
from .photometric import PhotometricRefinement, refine_depth
from .planar import PlanarPrior, snap_to_planes

PREDICT_ON = ("keyframes", "all")


def _check_K_fits(K: np.ndarray, height: int, width: int, name: str) -> None:
    """The focal lengths must be plausible for the image (:mod:`edgegeo.limits`) and the
    principal point must lie in the central half of the image: intrinsics of another
    resolution (half or double size) fail this."""
    check_intrinsics_for_image(K, (height, width), name)
    cx, cy = K[0, 2], K[1, 2]
    if abs(cx - (width - 1) / 2) >= width / 4 or abs(cy - (height - 1) / 2) >= height / 4:
        raise ValueError(
            f"{name}: principal point ({cx:.1f}, {cy:.1f}) is far from the centre of the "
            f"{width}x{height} image; are these intrinsics for another resolution? Rescale "
            "them with edgegeo.geometry.resize_K")


def _check_images(images, name: str) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if not isinstance(images, (list, tuple)):
        raise ValueError(f"{name} must be a list of (H, W, 3) uint8 RGB images or an (S, H, W, 3) "
                         f"array, got {type(images).__name__}")
    checked = []
    for index, image in enumerate(images):
        try:
            checked.append(check_rgb_image(image))
        except ValueError as exc:
            raise ValueError(f"{name}[{index}]: {exc}") from None
    return checked


def _resize_depth(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(1, 1, h, w)`` depth (0 = none) bilinearly resized to ``size``; an output pixel that
    any pixel without depth contributes to is 0 too (no blend of depth with "no depth")."""
    antialias = depth.shape[-1] > size[1] or depth.shape[-2] > size[0]
    resized = F.interpolate(depth, size=size, mode="bilinear", align_corners=False,
                            antialias=antialias)
    has_depth = (depth > 0).to(depth.dtype)
    if bool(has_depth.all()):
        return resized
    coverage = F.interpolate(has_depth, size=size, mode="bilinear", align_corners=False,
                             antialias=antialias)
    return torch.where(coverage > 0.999, resized, torch.zeros_like(resized))


class MVSPredictor:
    """Metric depth of a reference image from posed source images, with an :class:`MVSNet`.

    Args:
        model: an ``MVSNet``.
        device: torch device.
        resolution: ``(H_in, W_in)`` working size, multiples of 32 (default: the model's
            ``config.image_size``, 192×256 for the shipped model): images are resized to it
            (intrinsics rescaled with them) and the depth resized back.
        min_sources: fewest sources accepted (default: the model's ``num_sources``); with fewer
            than ``num_sources`` the rest are padding (marked invalid to the model).
        planar_prior: None/False (off), True (the defaults), a dict of
            :class:`~.planar.PlanarPrior` fields or a ``PlanarPrior``: depth on planar,
            similarly coloured regions is snapped to the region's plane at the working
            resolution (:func:`~.planar.snap_to_planes`; needs the ``planes`` decoder's
            confidence). The shipped model's card turns it on.
        photometric: None/False (off), True (the defaults), a dict of
            :class:`~.photometric.PhotometricRefinement` fields or one: after the network (and
            the planar prior), each pixel's depth is refined by a ZNCC search over the sources
            the network used, at the input resolution, on ``device``
            (:func:`~.photometric.refine_depth`).
            The shipped model's card turns it on.

    Call ``predictor(ref_image, ref_K, ref_world_T_cam, src_images, src_Ks, src_world_T_cams)``:

    * ``ref_image``: ``(H, W, 3) uint8`` RGB; ``ref_K``: ``(3, 3)`` intrinsics of it (pixels);
      ``ref_world_T_cam``: ``(4, 4)`` camera-to-world pose (metres);
    * ``src_images``: list of ``(H, W, 3) uint8`` (same size as the reference); ``src_Ks``,
      ``src_world_T_cams``: one ``(3, 3)`` / ``(4, 4)`` per source.

    A hinted model (``config.hint``) also takes ``hint_depth``: ``(H, W) float32`` metres, 0 =
    none (default: none anywhere), e.g. the fused map rendered at the reference pose
    (:meth:`MVSStream.hint`).

    Returns ``(H, W) float32`` depth in metres along the optical axis, within the model's
    ``[min_depth, max_depth]``, or 0 (no depth) where the model's confidence is below its
    ``config.min_confidence``, snapped to planes where ``planar_prior`` is on and refined
    photometrically where ``photometric`` is. With more than
    ``num_sources`` sources, the ``num_sources`` with the lowest DeepVideoMVS penalty (see
    :mod:`.keyframes`) are used.

    Raises:
        ValueError: a bad image, mismatched image sizes, intrinsics that are invalid or do not
            fit the image, poses that are non-finite or not rigid, unequal numbers of source
            images / intrinsics / poses, or fewer than ``min_sources`` sources.
    """

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu",
                 resolution: tuple[int, int] | None = None, min_sources: int | None = None,
                 planar_prior: PlanarPrior | dict | bool | None = None,
                 photometric: PhotometricRefinement | dict | bool | None = None):
        config = getattr(model, "config", None)
        if config is None or not hasattr(config, "num_sources"):
            raise ValueError("model must be an MVSNet (with a .config.num_sources)")
        resolution = tuple(int(v) for v in (resolution or config.image_size))
        if len(resolution) != 2 or any(v <= 0 or v % SIZE_MULTIPLE for v in resolution):
            raise ValueError(f"resolution must be (H, W), positive multiples of {SIZE_MULTIPLE}, "
                             f"got {resolution}")
        self.num_sources = config.num_sources
        min_sources = self.num_sources if min_sources is None else min_sources
        if not isinstance(min_sources, int) or not 1 <= min_sources <= self.num_sources:
            raise ValueError(f"min_sources must be an integer in [1, {self.num_sources}], got "
                             f"{min_sources!r}")
        self.min_sources = min_sources
        self.planar_prior = PlanarPrior.from_value(planar_prior)
        if self.planar_prior is not None and getattr(config, "decoder", None) != "planes":
            raise ValueError("planar_prior needs the planes decoder's confidence; this model "
                             f"has the {getattr(config, 'decoder', None)!r} decoder")
        self.photometric = PhotometricRefinement.from_value(photometric)
        self.resolution = resolution
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    def check_inputs(self, ref_image, ref_K, ref_world_T_cam, src_images, src_Ks,
                     src_world_T_cams):
        """Validate the call's arguments; returns them as checked numpy arrays/lists."""
        ref_image = check_rgb_image(ref_image)
        height, width = ref_image.shape[:2]
        ref_K = validate_K(ref_K, "ref_K")
        _check_K_fits(ref_K, height, width, "ref_K")
        ref_pose = validate_pose(ref_world_T_cam, "ref_world_T_cam")
        check_distances(ref_pose[:3, 3], "ref_world_T_cam translation")
        src_images = _check_images(src_images, "src_images")
        try:
            counts = {"src_images": len(src_images), "src_Ks": len(src_Ks),
                      "src_world_T_cams": len(src_world_T_cams)}
        except TypeError:
            raise ValueError("src_Ks and src_world_T_cams must be sequences (one per source "
                             "image)") from None
        if len(set(counts.values())) != 1:
            raise ValueError(f"need one intrinsics matrix and one pose per source image, got "
                             f"{counts}")
        if len(src_images) < self.min_sources:
            raise ValueError(f"too few sources: got {len(src_images)}, this predictor needs at "
                             f"least {self.min_sources} (model trained with "
                             f"{self.num_sources})")
        Ks, poses = [], []
        for index, (image, K, pose) in enumerate(zip(src_images, src_Ks, src_world_T_cams)):
            if image.shape != ref_image.shape:
                raise ValueError(f"src_images[{index}] has shape {image.shape}, the reference "
                                 f"{ref_image.shape}; all views must have the same size")
            K = validate_K(K, f"src_Ks[{index}]")
            _check_K_fits(K, height, width, f"src_Ks[{index}]")
            Ks.append(K)
            poses.append(validate_pose(pose, f"src_world_T_cams[{index}]"))
            check_distances(poses[-1][:3, 3], f"src_world_T_cams[{index}] translation")
        return ref_image, ref_K, ref_pose, src_images, Ks, poses

    @torch.inference_mode()
    def __call__(self, ref_image, ref_K, ref_world_T_cam, src_images, src_Ks,
                 src_world_T_cams, hint_depth=None) -> np.ndarray:
        ref_image, ref_K, ref_pose, src_images, Ks, poses = self.check_inputs(
            ref_image, ref_K, ref_world_T_cam, src_images, src_Ks, src_world_T_cams)
        hint = self._hint_tensor(hint_depth, ref_image.shape[:2])
        if len(src_images) > self.num_sources:
            keep = select_sources(ref_pose, poses, self.num_sources)
            src_images = [src_images[i] for i in keep]
            Ks, poses = [Ks[i] for i in keep], [poses[i] for i in keep]
        batch = self.make_batch(ref_image, ref_K, ref_pose, src_images, Ks, poses)
        extra = {} if hint is None else {"hint_depth": hint}
        outputs = self.model(batch["image"], batch["src_images"], batch["K"], batch["src_K"],
                             batch["src_T_ref"], batch["source_valid"], **extra)
        depth = outputs["depth"][0]
        if self.planar_prior is not None:
            depth = self._snap_to_planes(batch, depth, outputs)
        height, width = ref_image.shape[:2]
        if depth.shape[-2:] != (height, width):
            depth = _resize_depth(depth, (height, width))
        depth = depth[0, 0].float().cpu().numpy().astype(np.float32)
        if self.photometric is not None:
            depth = refine_depth(ref_image, depth, ref_K, ref_pose, src_images, Ks, poses,
                                 self.photometric, self.device)
        return depth

    def _snap_to_planes(self, batch: dict[str, torch.Tensor], depth: torch.Tensor,
                        outputs: dict) -> torch.Tensor:
        """The planar prior at the working resolution: ``(1, 1, H_in, W_in)`` depth → the
        same, snapped (:func:`~.planar.snap_to_planes`)."""
        if "full_confidence" not in outputs:
            raise RuntimeError("planar_prior needs the model's full_confidence output (the "
                               "planes decoder in eval mode, or an mvs graph exported with "
                               "its confidence)")
        image = (batch["image"][0].permute(1, 2, 0) * 255.0).round().to(torch.uint8)
        snapped = snap_to_planes(image.cpu().numpy(), depth[0, 0].float().cpu().numpy(),
                                 outputs["full_confidence"][0, 0].float().cpu().numpy(),
                                 batch["K"][0].double().cpu().numpy(), self.planar_prior)
        return torch.from_numpy(snapped).to(depth)[None, None]

    @property
    def uses_hint(self) -> bool:
        """Whether the model reads a depth hint (``MVSNetConfig.hint``)."""
        return bool(getattr(self.model.config, "hint", False))

    def _hint_tensor(self, hint_depth, size: tuple[int, int]) -> torch.Tensor | None:
        """The hint as the model's ``(1, 1, H_in, W_in)`` input (nearest-resized; zeros when
        the model reads one and none is given), or None for a model without hints."""
        if not self.uses_hint:
            if hint_depth is not None:
                raise ValueError("this mvs model reads no depth hint (config.hint is False)")
            return None
        if hint_depth is None:
            hint_depth = np.zeros(size, np.float32)
        from edgegeo.fusion.tsdf import check_depth

        hint_depth = check_depth(np.asarray(hint_depth, dtype=np.float32), "hint_depth")
        if hint_depth.shape != tuple(size):
            raise ValueError(f"hint_depth must be {tuple(size)} like the reference image, got "
                             f"{hint_depth.shape}")
        hint = torch.from_numpy(hint_depth).to(self.device)[None, None]
        if hint.shape[-2:] != self.resolution:
            hint = F.interpolate(hint, size=self.resolution, mode="nearest")
        return hint

    def make_batch(self, ref_image: np.ndarray, ref_K: np.ndarray, ref_pose: np.ndarray,
                   src_images: list[np.ndarray], Ks: list[np.ndarray], poses: list[np.ndarray]
                   ) -> dict[str, torch.Tensor]:
        """Model inputs (batch of one) at the working resolution, sources padded to
        ``num_sources`` (padding: zero images, identity pose, ``source_valid`` False)."""
        height, width = ref_image.shape[:2]
        size = self.resolution
        n_real = len(src_images)
        images = torch.from_numpy(np.stack([ref_image, *src_images])).to(self.device)
        images = images.permute(0, 3, 1, 2).float() / 255.0
        if images.shape[-2:] != size:
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False,
                                   antialias=True).clamp(0.0, 1.0)
        K_in = resize_K(ref_K, (height, width), size)
        src_K = [resize_K(K, (height, width), size) for K in Ks]
        src_T_ref = [relative_pose(pose, ref_pose) for pose in poses]   # src_T_ref
        pad = self.num_sources - n_real
        src = images[1:]
        if pad:
            src = torch.cat([src, src.new_zeros(pad, 3, *size)])
            src_K += [K_in] * pad
            src_T_ref += [np.eye(4)] * pad
        valid = torch.tensor([True] * n_real + [False] * pad, device=self.device)

        def tensor(array) -> torch.Tensor:
            return torch.as_tensor(np.asarray(array), dtype=torch.float32, device=self.device)

        return {"image": images[:1], "src_images": src.unsqueeze(0), "K": tensor(K_in)[None],
                "src_K": tensor(np.stack(src_K))[None],
                "src_T_ref": tensor(np.stack(src_T_ref))[None], "source_valid": valid[None]}


class MVSStream:
    """Depth for a stream of posed frames, with DeepVideoMVS's keyframe buffer.

    Args:
        predictor: an :class:`MVSPredictor` (its ``min_sources`` decides when depth starts).
        buffer: the keyframe buffer (default ``KeyframeBuffer()``: 30 keyframes, new one at pose
            distance ≥ 0.1).
        predict_on: ``"keyframes"`` (DeepVideoMVS: depth only for frames that become
            keyframes, sources from the earlier keyframes) or ``"all"`` (every frame, sources
            from the buffered keyframes other than itself).
        fusion: optional :class:`edgegeo.fusion.TSDFFusion`: every predicted depth map is
            fused into it, and a hinted model (``config.hint``) gets the map fused so far
            rendered at the reference pose as its depth hint (DoubleTake). A hinted model's
            stream makes its own (``TSDFFusion()``, the defaults) when none is given.
        backfill: the keyframes that arrived before ``min_sources`` earlier keyframes existed
            (the stream's first one or two) get depth as soon as the buffer holds enough others,
            with the later keyframes as their sources: :attr:`last_backfill` after that push.
            On validation walk-throughs this gained 0.011 F-score@5cm (the map then covers
            what only the first frames saw).

    ``push(frame)`` takes anything with ``rgb (H, W, 3) uint8``, ``K (3, 3)`` and ``world_T_cam
    (4, 4)`` (an :class:`edgegeo.data.frame.Frame`) and returns ``(H, W) float32`` depth in
    metres, or None (not a keyframe, or fewer than ``min_sources`` sources yet). Bad poses,
    images or intrinsics raise ValueError and leave the buffer unchanged.

    Attributes:
        last_sources: frame indices of the sources of the last push's depth (empty if none).
        last_backfill: ``[(frame index, Frame, depth)]`` the last push gave earlier keyframes
            (``Frame`` with their ``rgb``, ``K``, ``world_T_cam``; depth ``(H, W) float32``
            metres), in frame order; empty on most pushes.
    """

    def __init__(self, predictor: MVSPredictor, buffer: KeyframeBuffer | None = None,
                 predict_on: str = "keyframes", fusion=None, backfill: bool = True):
        if predict_on not in PREDICT_ON:
            raise ValueError(f"predict_on must be one of {PREDICT_ON}, got {predict_on!r}")
        if getattr(predictor, "uses_hint", False) and fusion is None:
            from edgegeo.fusion import TSDFFusion

            fusion = TSDFFusion()
        self.predictor = predictor
        self.fusion = fusion
        self._hint_scene = None        # (frames integrated, RaycastingScene, triangles)
        self.buffer = buffer if buffer is not None else KeyframeBuffer()
        self.predict_on = predict_on
        self.backfill = backfill
        self.last_sources: list[int] = []
        self.last_backfill: list[tuple[int, Frame, np.ndarray]] = []
        self._waiting: list[Keyframe] = []        # keyframes that had too few sources

    def push(self, frame) -> np.ndarray | None:
        try:
            rgb, K, pose = frame.rgb, frame.K, frame.world_T_cam
        except AttributeError:
            raise ValueError("push needs a frame with rgb, K and world_T_cam (an "
                             "edgegeo.data.frame.Frame)") from None
        if pose is None:
            raise ValueError("frame has no pose (world_T_cam is None); MVS needs posed frames")
        rgb = check_rgb_image(rgb)
        K = validate_K(K, "frame.K")
        _check_K_fits(K, *rgb.shape[:2], "frame.K")
        pose = validate_pose(pose, "frame.world_T_cam")
        if self.buffer.keyframes and self.buffer.keyframes[-1].item[0].shape != rgb.shape:
            raise ValueError(f"frame size {rgb.shape} differs from the buffered keyframes' "
                             f"{self.buffer.keyframes[-1].item[0].shape}")
        added = self.buffer.try_add(pose, (rgb, K))
        self.last_sources, self.last_backfill = [], []
        if self.predict_on == "keyframes" and not added:
            return None
        sources = self.buffer.sources_for(pose, self.predictor.num_sources, exclude_last=added)
        if len(sources) < self.predictor.min_sources:
            if added and self.backfill:
                self._waiting.append(self.buffer.keyframes[-1])
            return None
        self.last_sources = [k.index for k in sources]
        depth = self._predict(rgb, K, pose, sources)
        waiting, self._waiting = self._waiting, []
        for keyframe in waiting:
            if not any(k is keyframe for k in self.buffer.keyframes):
                continue                                          # dropped from the buffer
            others = self.buffer.sources_for(keyframe.world_T_cam, self.predictor.num_sources,
                                             exclude=keyframe)
            if len(others) < self.predictor.min_sources:
                self._waiting.append(keyframe)
                continue
            (image, intrinsics), world_T_cam = keyframe.item, keyframe.world_T_cam
            self.last_backfill.append((keyframe.index, Frame(rgb=image, K=intrinsics,
                                                             world_T_cam=world_T_cam),
                                       self._predict(image, intrinsics, world_T_cam, others)))
        return depth

    def _predict(self, rgb: np.ndarray, K: np.ndarray, pose: np.ndarray,
                 sources: list[Keyframe]) -> np.ndarray:
        """Depth of one view from buffered keyframes (fused into ``fusion`` if given)."""
        extra = ({"hint_depth": self.hint(K, pose, rgb.shape[:2])}
                 if getattr(self.predictor, "uses_hint", False) else {})
        depth = self.predictor(rgb, K, pose, [k.item[0] for k in sources],
                               [k.item[1] for k in sources], [k.world_T_cam for k in sources],
                               **extra)
        if self.fusion is not None:
            self.fusion.integrate(depth, K, pose, rgb)
        return depth

    def hint(self, K: np.ndarray, world_T_cam: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        """The mesh fused so far (``fusion.extract_mesh``: voxels seen by more than its
        ``weight_threshold`` keyframes) rendered from a camera: ``(h, w) float32`` depth in
        metres along the optical axis, 0 where no surface is hit (all zeros without
        ``fusion``)."""
        if self.fusion is None or not self.fusion.frames_integrated:
            return np.zeros(tuple(hw), np.float32)
        if self._hint_scene is None or self._hint_scene[0] != self.fusion.frames_integrated:
            import open3d as o3d

            scene = o3d.t.geometry.RaycastingScene()
            mesh = self.fusion.extract_mesh()
            if len(mesh.triangles):
                scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
            self._hint_scene = (self.fusion.frames_integrated, scene, len(mesh.triangles))
        _, scene, triangles = self._hint_scene
        if not triangles:
            return np.zeros(tuple(hw), np.float32)
        from edgegeo.mesh_render import render_depth

        return render_depth(scene, K, world_T_cam, hw)
