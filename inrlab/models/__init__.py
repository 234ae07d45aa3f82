"""Model families and the registry that builds them by name.

Each family lives in its own module and registers itself; importing this package imports
them all, so `build(name)` sees every family.
"""

from .base import INR
from .registry import available, build, coerce, parameters, rebuild, register, valid_keys
from . import siren, fourier, relu  # noqa: F401  (registration)
from . import ensemble  # noqa: F401  (registration)
from . import loe  # noqa: F401  (registration)
from . import multihead  # noqa: F401  (registration)
from . import finer, gauss, grid, hashgrid, wire  # noqa: F401  (registration)
ensemble.Ensemble.add_member_ranges()
from .factorize import factorize_, is_factorized, merge_  # noqa: F401  (random weight factorization)

__all__ = ["INR", "available", "build", "coerce", "parameters", "rebuild", "register", "valid_keys"]
