"""The contract suite: does an HTTP face do what its contract says?

``lendsim contracts test`` runs `schemathesis <https://schemathesis.io>`_
against each party's contract — in process against a fresh sandbox world
(default) or against a live server laid out like ``lendsim serve`` (``--url``)
— and adds lendsim's own checks beyond the schema:

=============================  ===============================================================
``lendsim_idempotent_replay``  a replayed ``Idempotency-Key`` answers the identical response and
                               posts nothing new (the loan reads the same before and after)
``lendsim_key_reuse_refused``  the same key with a different repayment is refused (422)
``lendsim_value_time``         a posting keeps the value time it was sent with; a repayment the
                               platform captured lists the value time it answered
``lendsim_no_personal_data``   no error body carries an ID number, a mobile phone number or an SSN
``lendsim_positive_data``      a request the contract allows is not refused as malformed (400,
                               415, or a 422 titled "Invalid request"; a 422 with a title of its
                               own is a business rule, like a reused key)
``lendsim_clock``              the sandbox clock moves forward only, exactly as far as asked,
                               at once or when polled
=============================  ===============================================================

The schemathesis part covers the examples in the contracts, boundary values
(coverage), random positive and negative data (fuzzing) and stateful sequences
through the contracts' OpenAPI links, with every built-in check (``no 5xx``,
status codes, content types, response schemas, …; ``positive_data_acceptance``
gives way to ``lendsim_positive_data``). Generation is seeded
(``--seed``) and bounded (``--max-examples`` per operation and phase, no
shrinking), so a run is repeatable and its request count bounded. Every request
is signed with a partner key of the test keyring (:mod:`simulator.wire.signing`), as
the party contracts' security schemes say — given to schemathesis as the run's
authentication, so the requests it means to send without credentials (a negative
case without a signature header; ``ignored_auth``'s unsigned and forged probes)
go unsigned, and must be refused with ``401``.

A failure names the party, the operation, the check, what was wrong, and a
request that reproduces it (a ``curl`` command without the signature headers,
which never replay: sign it afresh, see :mod:`simulator.wire.signing`). Personal
data in the report is masked, long digit runs in request bodies included.
"""

from simulator.faces.contract_suite.report import Finding, PartyReport, SuiteReport
from simulator.faces.contract_suite.run import (
    DEFAULT_MAX_EXAMPLES,
    run_contract_suite,
    suite_scenario,
)

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "Finding",
    "PartyReport",
    "SuiteReport",
    "run_contract_suite",
    "suite_scenario",
]
