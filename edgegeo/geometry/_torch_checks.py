"""Input checks for the batched torch geometry functions (internal)."""
import torch


def check_tensor(tensor, name: str, shape: tuple) -> torch.Tensor:
    """Check ``tensor`` is a floating torch.Tensor whose shape matches ``shape``.

    ``shape`` entries are ints or ``None`` (free). Returns ``tensor`` unchanged.
    """
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {tensor.dtype}")
    matches = tensor.ndim == len(shape) and all(
        want is None or want == got for want, got in zip(shape, tensor.shape))
    if not matches:
        wanted = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {wanted}, got {tuple(tensor.shape)}")
    return tensor


def check_depth_tensor(depth: torch.Tensor, name: str) -> torch.Tensor:
    """Check a (B, 1, H, W) depth tensor is finite and ≥ 0. Returns it unchanged."""
    check_tensor(depth, name, (None, 1, None, None))
    if not bool(torch.isfinite(depth).all()):
        raise ValueError(f"{name} contains NaN or inf (use 0 for invalid depth)")
    if bool((depth < 0).any()):
        raise ValueError(f"{name} must be >= 0 (0 = invalid)")
    return depth


def check_K_tensor(K, name: str, batch: int, like: torch.Tensor,
                   atol: float = 1e-4) -> torch.Tensor:
    """Check (B, 3, 3) intrinsics (finite, fx, fy > 0, bottom row [0, 0, 1] within ``atol``).

    Returns ``K`` cast to the dtype and device of ``like``.
    """
    check_tensor(K, name, (batch, 3, 3))
    if not bool(torch.isfinite(K).all()):
        raise ValueError(f"{name} contains NaN or inf")
    if bool((K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any()):
        raise ValueError(f"{name}: focal lengths fx = K[:,0,0] and fy = K[:,1,1] must be > 0")
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=K.dtype, device=K.device)
    if bool(((K[:, 2] - bottom).abs() > atol).any()):
        raise ValueError(f"{name}: bottom row must be [0, 0, 1]")
    return K.to(dtype=like.dtype, device=like.device)


def check_pose_tensor(T, name: str, batch: int, like: torch.Tensor,
                      atol: float = 1e-4) -> torch.Tensor:
    """Check (B, 4, 4) rigid transforms (finite, last row [0,0,0,1], R orthonormal, det +1).

    Returns ``T`` cast to the dtype and device of ``like``.
    """
    check_tensor(T, name, (batch, 4, 4))
    if not bool(torch.isfinite(T).all()):
        raise ValueError(f"{name} contains NaN or inf")
    last_row = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=T.dtype, device=T.device)
    if bool(((T[:, 3] - last_row).abs() > atol).any()):
        raise ValueError(f"{name}: last row must be [0, 0, 0, 1]")
    rotation = T[:, :3, :3].detach().double()
    identity = torch.eye(3, dtype=rotation.dtype, device=rotation.device)
    orthogonality_error = float((rotation @ rotation.transpose(1, 2) - identity).abs().max())
    if orthogonality_error > atol:
        raise ValueError(f"{name}: rotation block is not orthonormal "
                         f"(max |R R^T - I| = {orthogonality_error:.2e} > atol={atol})")
    if bool(((torch.linalg.det(rotation) - 1.0).abs() > atol).any()):
        raise ValueError(f"{name}: rotation block must have det +1 (a proper rotation)")
    return T.to(dtype=like.dtype, device=like.device)
