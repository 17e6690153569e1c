"""Fixtures of the Dask executor's tests: see dask_cluster.py (a real cluster on 127.0.0.1)."""
import pytest

pytest.importorskip("distributed")

from dask_cluster import dask_cluster, pipe_dask, start_cluster  # noqa: E402,F401  (fixtures)
