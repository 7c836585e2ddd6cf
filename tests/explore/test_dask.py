"""Campaigns on a Dask cluster: a LocalCluster finds what one process finds; a scheduler that
cannot be reached is a clear error."""

from __future__ import annotations

import pytest
from distributed import LocalCluster

from simulator.core.errors import LendsimError
from simulator.explore.campaign import CHUNK, explore
from simulator.explore.executors import DaskBackend, InlineBackend

CUTOFF = ("bank.utc_cutoff",)


def test_a_local_cluster_finds_what_one_process_finds() -> None:
    """Two threads of an in-process Dask worker run the chunks; the findings (runs, invariants,
    first messages) and the shrunk scenarios' texts equal those of a run in this process."""
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                      dashboard_address=None) as cluster:
        backend = DaskBackend(cluster.scheduler_address)
        try:
            assert backend.workers == 2
            assert "Dask" in backend.name
            on_dask = explore(backend, seed=3, runs=CHUNK, defects=CUTOFF, shrink_budget=3)
        finally:
            backend.close()
    here = explore(InlineBackend(), seed=3, runs=CHUNK, defects=CUTOFF, shrink_budget=3)
    assert on_dask.findings and [f.as_dict() for f in on_dask.findings] == \
        [f.as_dict() for f in here.findings]
    assert [s.shrunk.text if s.shrunk else None for s in on_dask.shrunk] == \
        [s.shrunk.text if s.shrunk else None for s in here.shrunk]


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    """--dask at an address where no scheduler listens fails fast, naming the address."""
    with pytest.raises(LendsimError, match=r"--dask tcp://127\.0\.0\.1:9: cannot reach"):
        DaskBackend("tcp://127.0.0.1:9", timeout=1)
