"""The hypothesis profile of the fuzz tests: bounded, reproducible, and writing nothing into the repository.

``derandomize=True``: the examples follow from each test's source, so CI runs the same inputs every time and a
failure there fails again locally. Inputs hypothesis found once are kept as ``@example`` on their property.
``PLUSPORTAL_FUZZ_EXAMPLES=20000`` runs a long local search (still reproducible; change the code or drop
derandomize in a scratch run to look elsewhere).
"""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis's own caches (unicode tables, constants of the code under test) go to the temp folder, not .hypothesis/.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "plusportal-hypothesis")

settings.register_profile(
    "plusportal-fuzz",
    # 100 per property: the whole set in ~36 s at a load of 10 on 2 cores (200: ~76 s).
    max_examples=int(os.environ.get("PLUSPORTAL_FUZZ_EXAMPLES", "100")),
    deadline=None,  # the machine is shared: a slow example is not a failure
    derandomize=True,
    database=None,  # no .hypothesis/ directory in the worktree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=False,
)
settings.load_profile("plusportal-fuzz")
