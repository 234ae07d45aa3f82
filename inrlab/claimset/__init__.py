"""The registered claims, one module per notebook, one check each (see inrlab.claims for the
vocabulary).

Each check reads the metric keys its notebook records; the keys are listed in each claim's
docstring, and tests/test_claims.py feeds every check synthetic metrics that give each verdict.
Paper numbers are the papers' own (papers/ texts and their public code, README table).
Importing this package registers every claim, in notebook order.
"""

from . import spectral, multihead, ensemble, loe, rwf, benchmark  # noqa: F401  (each registers its claims)
