"""Each command's result type is rendered by its type: none is left to print nothing."""
from __future__ import annotations

import pytest

from pipeline_cli.commands import results
from pipeline_cli.render.results import TEXT, show

RESULT_TYPES = [v for k, v in vars(results).items() if isinstance(v, type) and k.endswith("Result")]


def test_every_result_type_has_its_text():
    assert len(RESULT_TYPES) >= 10
    assert [t.__name__ for t in RESULT_TYPES if t not in TEXT] == []


def test_a_value_that_is_no_result_is_refused_not_silently_dropped():
    class Unknown:
        pass

    with pytest.raises(TypeError, match="no text for a Unknown"):
        show(Unknown())
