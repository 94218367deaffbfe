"""The op registry: one module per kind of op, each op one self-contained definition (arguments, shape rule,
counts, training cost, module factory, code emitter, counting-library attribution, kind). Importing this
package registers every op; it imports no torch (module factories import it when a model is built)."""

from engine.ir.ops import (  # noqa: F401 - each module registers the ops of its kind
    activation,
    conv,
    gate,
    io,
    linear,
    merge,
    norm,
    pool,
    regularisation,
    reshape,
    resize,
    shortcut,
    tokens,
)
from engine.ir.ops.attribution import MACS, Cost, Part
from engine.ir.ops.base import (
    OPS,
    REQUIRED,
    Arg,
    Example,
    OpDef,
    Shape,
    all_ops,
    channels,
    get_op,
    numel,
    register_op,
    validate_args,
)
from engine.ir.ops.cost import Backward, Saved, backward_of, saved_of
from engine.ir.ops.emit import Emitter
from engine.ir.ops.kinds import KINDS, UNKNOWN, Kind, kind_of

__all__ = ["KINDS", "MACS", "OPS", "REQUIRED", "UNKNOWN", "Arg", "Backward", "Cost", "Emitter", "Example", "Kind",
           "OpDef", "Part", "Saved", "Shape", "all_ops", "backward_of", "channels", "get_op", "kind_of", "numel",
           "register_op", "saved_of", "validate_args"]
