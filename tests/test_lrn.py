"""utils.network.lrn against torch.nn.functional.local_response_norm: forward and backward, both layouts."""

import pytest
import torch
import torch.nn.functional as F

from utils.network.lrn import LocalResponseNorm, local_response_norm, window_sum


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape,size", [((2, 64, 7, 5), 5), ((3, 11, 4, 4), 5), ((2, 6, 3, 3), 4),
                                        ((1, 3, 2, 2), 5)])
def test_matches_pytorch_forward_and_backward(shape, size, channels_last):
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    # large activations, so that the normalisation is far from the identity
    x = (torch.randn(shape, dtype=torch.float64) * 40).contiguous(memory_format=fmt)
    grad = torch.randn(shape, dtype=torch.float64)
    args = dict(size=size, alpha=1e-2, beta=0.75, k=1.0)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    ya = F.local_response_norm(a, **args)
    yb = local_response_norm(b, **args)
    ya.backward(grad)
    yb.backward(grad)
    assert (ya - 1).abs().max() > 0.1  # not the identity
    torch.testing.assert_close(yb, ya, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-10, atol=1e-12)
    assert yb.is_contiguous(memory_format=fmt)


def test_float32_within_1e6_of_pytorch():
    torch.manual_seed(1)
    x = (torch.randn(4, 192, 14, 14) * 50).relu().contiguous(memory_format=torch.channels_last)
    grad = torch.randn_like(x)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref = torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0)(a)
    out = LocalResponseNorm(5, 1e-4, 0.75, 1.0)(b)
    ref.backward(grad)
    out.backward(grad)
    assert ((out - ref).abs().max() / ref.abs().max()).item() <= 1e-6
    assert ((b.grad - a.grad).abs().max() / a.grad.abs().max()).item() <= 1e-6


def test_gradcheck():
    x = torch.randn(1, 7, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: local_response_norm(t, 5, 0.5, 0.75, 2.0), (x,))


def test_window_sum_by_hand():
    t = torch.arange(1.0, 6.0).view(1, 5, 1, 1)  # channels 1..5
    # window of 5 centred on each channel, zero outside: 1+2+3, 1+..+4, 1+..+5, 2+..+5, 3+4+5
    assert window_sum(t, 5).flatten().tolist() == [6.0, 10.0, 15.0, 14.0, 12.0]


@pytest.mark.parametrize("beta", [0.5, 0.75, 1.3])
def test_every_beta_matches_pytorch(beta):
    """beta = 0.75 takes the square-root route, other exponents pow: both agree with PyTorch."""
    torch.manual_seed(2)
    x = (torch.randn(2, 9, 3, 3, dtype=torch.float64) * 30).requires_grad_()
    ref = F.local_response_norm(x, 5, alpha=1e-2, beta=beta, k=2.0)
    out = local_response_norm(x, 5, alpha=1e-2, beta=beta, k=2.0)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    grad = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(out, x, grad)[0], torch.autograd.grad(ref, x, grad)[0],
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "input_without_grad"])
def test_the_path_without_gradient_matches_pytorch(mode):
    """Inference takes the plain composite, not the autograd function: it must compute the same LRN."""
    torch.manual_seed(3)
    x = (torch.randn(2, 11, 4, 3, dtype=torch.float64) * 30).contiguous(memory_format=torch.channels_last)
    ref = F.local_response_norm(x, 5, alpha=1e-2, beta=0.75, k=1.0)
    if mode == "no_grad":
        with torch.no_grad():
            out = local_response_norm(x.requires_grad_(), 5, alpha=1e-2, beta=0.75, k=1.0)
    elif mode == "inference_mode":
        with torch.inference_mode():
            out = LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=1.0)(x)
    else:
        out = local_response_norm(x, 5, alpha=1e-2, beta=0.75, k=1.0)
    assert not out.requires_grad
    assert (ref - 1).abs().max() > 0.1  # far from the identity, so a wrong alpha shows
    torch.testing.assert_close(out, ref.detach(), rtol=1e-10, atol=1e-12)
