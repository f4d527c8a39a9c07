"""How long a test's child process may run before the test calls it hung.

The limit guards against a hang, not against slowness: the suite must pass on a 2-core machine
shared with other work (a full ``-n 2`` run at load 15 ran 7x slower than on a quiet machine, and
children with 120-300 s limits were killed mid-work). A real hang still fails, after this long.
Speed is measured by the benchmarks, never by a test's timeout.
"""

HANG_S = 1800
