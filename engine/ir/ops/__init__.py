"""The op registry: each op one self-contained definition (arguments, shape rule, counts, training cost,
module factory, ...). Importing this package registers every op."""

from engine.ir.ops import extra  # noqa: F401  (registers the connectivity families' ops: attention, gates ...)
from engine.ir.ops.base import (
    OPS,
    REQUIRED,
    Arg,
    OpDef,
    Shape,
    ZeroPadShortcut,
    concat_channels,
    get_op,
    numel,
    register_op,
    validate_args,
)
from engine.ir.ops.cost import Backward, Saved, backward_of, saved_of

__all__ = ["OPS", "REQUIRED", "Arg", "Backward", "OpDef", "Saved", "Shape", "ZeroPadShortcut", "backward_of",
           "concat_channels", "get_op", "numel", "register_op", "saved_of", "validate_args"]
