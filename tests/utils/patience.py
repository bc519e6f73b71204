"""How much longer than on a developer's machine the tests wait for anything.

Every wait of the tests is stretched by `PATIENCE`. A wait bounds only how long a failing test
takes to fail, never what counts as passing; CI's machine has run the suite up to 3.6 times slower
than a developer's, and waits sized for the fast one then failed tests that were not broken.
Imported by the root conftest before Prefect's settings are fixed, so it imports nothing of ours.
"""

import os

PATIENCE = float(os.environ.get("AURA_TEST_PATIENCE", "3"))
