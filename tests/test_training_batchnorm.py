"""BatchNorm recalibration replaces running statistics by the average over given batches."""
import torch
from torch import nn

from edgegeo.training.batchnorm import recalibrate_batchnorm


def test_recalibration_averages_the_given_batches_and_keeps_the_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.BatchNorm2d(1)).eval()
    nn.init.ones_(model[0].weight)
    batches = [torch.full((2, 1, 3, 3), 2.0) + torch.randn(2, 1, 3, 3),
               torch.full((2, 1, 3, 3), 6.0) + torch.randn(2, 1, 3, 3)]
    used = recalibrate_batchnorm(model, batches, lambda net, x: net(x))
    assert used == 2 and not model.training
    means = torch.stack([b.mean() for b in batches])
    assert torch.allclose(model[1].running_mean, means.mean().view(1), atol=1e-5)
    assert model[1].momentum == 0.1                       # restored
    before = model[1].running_mean.clone()
    assert recalibrate_batchnorm(model, [], lambda net, x: net(x)) == 0
    assert torch.equal(model[1].running_mean, before)     # nothing seen: untouched


def test_models_without_batchnorm_are_left_alone():
    model = nn.Linear(2, 2)
    assert recalibrate_batchnorm(model, [torch.zeros(1, 2)], lambda net, x: net(x)) == 0
