"""wildpose.chunked.write_chunks: rows written chunk by chunk, resumed without redoing a chunk,
and chunks of other settings refused."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.chunked import write_chunks


def _rows(calls: list[tuple[int, int]]):
    def make(start: int, stop: int) -> dict[str, np.ndarray]:
        calls.append((start, stop))
        return {"x": np.arange(start, stop) * 10}
    return make


def test_rows_in_order_and_a_rerun_makes_only_the_missing_chunks(tmp_path):
    parts = tmp_path / "parts"
    calls: list[tuple[int, int]] = []
    files = write_chunks(parts, {"n": 7}, 7, 3, _rows(calls), "t", progress=False)
    assert calls == [(0, 3), (3, 6), (6, 7)]         # the last chunk holds the remainder
    assert [f.name for f in files] == ["000000000.npz", "000000003.npz", "000000006.npz"]
    np.testing.assert_array_equal(np.concatenate([np.load(f)["x"] for f in files]),
                                  np.arange(7) * 10)
    # An interrupted run left chunks 0 and 6 only: the rerun makes chunk 3 alone.
    files[1].unlink()
    calls.clear()
    again = write_chunks(parts, {"n": 7}, 7, 3, _rows(calls), "t", progress=False)
    assert calls == [(3, 6)] and again == files
    assert not list(parts.glob("*.tmp.npz"))         # no half-written file is left


def test_chunks_of_other_settings_and_empty_chunks_are_refused(tmp_path):
    parts = tmp_path / "parts"
    write_chunks(parts, {"size": 64}, 2, 2, _rows([]), "t", progress=False)
    with pytest.raises(ValueError, match="other samples or settings"):
        write_chunks(parts, {"size": 128}, 2, 2, _rows([]), "t", progress=False)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        write_chunks(tmp_path / "p2", {}, 2, 0, _rows([]), "t", progress=False)
