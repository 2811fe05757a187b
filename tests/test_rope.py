"""2-D RoPE: relative positions, norm preservation, identity at 0, and a complex-number
reference of the CroCo v2 definition (Weinzaepfel et al., ICCV 2023)."""
import numpy as np
import pytest
import torch

from edgegeo.models.layers.rope import Rope2D, apply_rope_2d, grid_positions


def rotate(x: torch.Tensor, positions: torch.Tensor, base: float = 100.0) -> torch.Tensor:
    """x (N, D) one head, positions (N, 2) → rotated (N, D)."""
    cos, sin = Rope2D(x.shape[-1], base)(positions)
    return apply_rope_2d(x[None, None], cos, sin)[0, 0]


def complex_reference(x: np.ndarray, positions: np.ndarray, base: float = 100.0) -> np.ndarray:
    """Direct reading of the definition: in each half (y, then x), channels i and i + half/2
    form the complex number x_i + j·x_{i+half/2}, multiplied by exp(j · pos · base^(-2i/half))."""
    half = x.shape[-1] // 2
    quarter = half // 2
    freqs = base ** (-2.0 * np.arange(quarter) / half)
    out = np.empty_like(x)
    for axis, start in ((0, 0), (1, half)):
        z = x[:, start:start + quarter] + 1j * x[:, start + quarter:start + half]
        z = z * np.exp(1j * positions[:, axis:axis + 1] * freqs)
        out[:, start:start + quarter] = z.real
        out[:, start + quarter:start + half] = z.imag
    return out


def test_frequencies_follow_the_definition():
    rope = Rope2D(32)
    half = 16
    expected = [1 / 100 ** (2 * k / half) for k in range(half // 2)]
    np.testing.assert_allclose(rope.inv_freq.numpy(), expected, rtol=1e-6)
    assert rope.inv_freq[0] == 1.0 and rope.inv_freq[-1] > 1 / 100


@pytest.mark.parametrize("head_dim", [4, 16, 64])
def test_matches_complex_reference(head_dim):
    gen = torch.Generator().manual_seed(head_dim)
    x = torch.randn(12, head_dim, generator=gen, dtype=torch.float64)
    positions = torch.randint(0, 40, (12, 2), generator=gen).double()
    expected = complex_reference(x.numpy(), positions.numpy())
    np.testing.assert_allclose(rotate(x.float(), positions).numpy(), expected, atol=1e-5)


def test_identity_at_position_zero_and_norm_preserved():
    x = torch.randn(6, 32)
    np.testing.assert_allclose(rotate(x, torch.zeros(6, 2)).numpy(), x.numpy(), atol=0)
    rotated = rotate(x, torch.tensor([[3.0, 7.0], [0, 50], [11, 0], [2, 2], [63, 63], [1, 0]]))
    np.testing.assert_allclose(rotated.norm(dim=-1).numpy(), x.norm(dim=-1).numpy(), rtol=1e-5)
    assert not torch.allclose(rotated, x)


def test_score_depends_only_on_position_difference():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 32, generator=gen), torch.randn(1, 32, generator=gen)

    def score(pos_q, pos_k):
        rq = rotate(q, torch.tensor([pos_q], dtype=torch.float32))
        rk = rotate(k, torch.tensor([pos_k], dtype=torch.float32))
        return float((rq * rk).sum())

    reference = score((2, 5), (7, 1))
    for shift in [(0, 0), (10, 0), (0, -4), (31, 17), (-2, 100)]:
        shifted = score((2 + shift[0], 5 + shift[1]), (7 + shift[0], 1 + shift[1]))
        assert shifted == pytest.approx(reference, abs=1e-5)   # angles are float32
    # ... and it does depend on the difference, along y and along x separately.
    assert abs(score((2, 5), (8, 1)) - reference) > 1e-3
    assert abs(score((2, 5), (7, 2)) - reference) > 1e-3


def test_batched_positions_and_heads_broadcast():
    x = torch.randn(2, 3, 5, 16)                                  # (B, heads, N, D)
    positions = torch.randint(0, 9, (2, 5, 2)).float()
    cos, sin = Rope2D(16)(positions)
    assert cos.shape == sin.shape == (2, 5, 16)
    rotated = apply_rope_2d(x, cos, sin)
    for b in range(2):
        for h in range(3):
            torch.testing.assert_close(rotated[b, h], rotate(x[b, h], positions[b]))


def test_grid_positions_are_row_major_y_x():
    positions = grid_positions(2, 3)
    assert positions.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="multiple of 4"):
        Rope2D(18)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        Rope2D(16)(torch.zeros(5, 3))
    cos, sin = Rope2D(16)(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="apply_rope_2d"):
        apply_rope_2d(torch.zeros(1, 1, 5, 8), cos, sin)
