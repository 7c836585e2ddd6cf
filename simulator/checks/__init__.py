"""The verdict: the oracle (independent truth), the facts of a finished run, the invariants.

Imports ``core``, ``scenarios`` and ``engine``; never a party, so a planted defect can
never corrupt the truth.
"""
