"""PyTorch's own output-size formulas and the checks it makes, one place for every op that slides a window.

Each function returns the output size along one axis or raises the `ShapeError` PyTorch's refusal means,
naming the node. Sources (torch 2.13): ``aten/src/ATen/native/ConvUtils.h`` (``conv_output_size``,
``conv_input_size`` for transposed convs, ``check_shape_forward``) and ``aten/src/ATen/native/Pool.h``
(``pooling_output_shape``, ``pool2d_shape_check``). Checked against PyTorch on random configurations by
tests/test_ops_registry.py (hypothesis).
"""

from __future__ import annotations

from engine.core.errors import ShapeError
from engine.core.text import fmt_shape

Shape = tuple[int, ...]


def need_rank(node: str, shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        raise ShapeError(node, f"expects {what}, got {fmt_shape(shape)}", expected=what, received=shape)


def _too_small(node: str, axis: str, size: int, what: str, out: int) -> ShapeError:
    return ShapeError(node, f"the {axis} of {size} is too small for {what}: PyTorch's output size would be {out}",
                      expected="an output size of at least 1", received=out,
                      hint="use a larger input, fewer stride-2 stages or more padding")


def conv_out(node: str, axis: str, size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """``(size + 2p - d(k - 1) - 1) // s + 1``; PyTorch refuses a padded input smaller than the dilated
    kernel ("Kernel size can't be greater than actual input size"), that is an output below 1."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise _too_small(node, axis, size, f"kernel {kernel} (dilation {dilation}) with padding {padding}", out)
    return out


def conv_transpose_out(node: str, axis: str, size: int, kernel: int, stride: int, padding: int,
                       output_padding: int, dilation: int = 1) -> int:
    """``(size - 1) s - 2p + d(k - 1) + output_padding + 1``; PyTorch requires output_padding smaller than
    the stride or the dilation and refuses a negative output. An output of 0 (PyTorch returns an empty map)
    is refused too: nothing after it could use it."""
    if output_padding >= stride and output_padding >= dilation:
        raise ShapeError(node, f"output_padding {output_padding} must be smaller than the stride {stride} "
                               f"(or the dilation {dilation})", expected=f"< {max(stride, dilation)}",
                         received=output_padding, hint="lower output_padding")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ShapeError(node, f"padding {padding} leaves no output for the {axis} of {size}: PyTorch's output "
                               f"size would be {out}", expected="an output size of at least 1",
                         received=out, hint="lower the padding")
    return out


def pool_out(node: str, axis: str, size: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False,
             dilation: int = 1) -> int:
    """PyTorch's ``pooling_output_shape``: floor (or ceil) of ``(size + 2p - d(k - 1) - 1) / s`` plus 1, where
    in ceil mode the last window must start inside the input or its left padding; ``pool2d_shape_check``
    refuses padding above half the (dilated) kernel and an output below 1 ("Output size is too small")."""
    effective = dilation * (kernel - 1) + 1
    if padding > effective // 2:
        raise ShapeError(node, f"padding {padding} must be at most half the kernel {kernel}",
                         expected=f"<= {effective // 2}", received=padding, hint="lower the padding")
    out = (size + 2 * padding - effective + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise _too_small(node, axis, size, f"a {kernel}x{kernel} pool with stride {stride}, padding {padding}", out)
    return out


def image_out(node: str, x: Shape, rule: object, *args: object) -> tuple[int, int]:
    """The (H, W) out of a per-axis `rule` applied to an image [C, H, W] (errors name the map and the axis)."""
    where = f"{x[1]}x{x[2]} map's"
    return (rule(node, f"{where} height", x[1], *args), rule(node, f"{where} width", x[2], *args))  # type: ignore
