"""Reusable layers of the model families, one small module per kind: fused linear layers
(`fused`), activations (`activations`), initialisation rules (`init`), encodings
(`encoding`), batched and complex layers (`batched`), sparse heads (`sparse`), grouping of
samples per cell or tile (`groups`), tiled layers (`tiled`) and the parts a pointwise family
offers to composites (`pointwise`)."""

from .activations import (EXP_FLOOR, Sine, finer, gabor, gauss, make_activation, sine,  # noqa: F401
                          w0_in_weights, _finer_reference, _gauss_reference)
from .batched import BatchedLinear, ComplexLinear  # noqa: F401
from .encoding import Encoding, Positional, RandomFourier  # noqa: F401
from .fused import _textbook_ops, linear, relu_mlp, relu_stack  # noqa: F401
from .groups import CoordsMemo, Groups  # noqa: F401
from .init import default_bias_init_, glorot_init_, siren_init_, torch_default_init_  # noqa: F401
from .pointwise import (Activation, FinerAct, GaborAct, GaussAct, Pointwise, Relu, SineAct,  # noqa: F401
                        linear_stack, run_batched, run_mlp)
from .sparse import SparseHeads, sparse_heads_reference, sparse_wiring  # noqa: F401
from .tiled import TiledLinear, tile_index  # noqa: F401

TileGroups = Groups   # the name tiled layers' callers know
