"""wildpose.outputs: the names of output files (what the writers write is checked through
predict and lift in test_predict and test_lift_files)."""

from __future__ import annotations

from wildpose.outputs import not_onto, unique_stems


def test_unique_stems_name_each_output_once():
    assert unique_stems(["a/p.npy", "b/p.npy"]) == ["p", "p_2"]
    assert unique_stems(["good.npy", "good.npz"]) == ["good_npy", "good_npz"]
    assert unique_stems(["x/a.jpg", "x/a.png", "y/a.jpg"]) == ["a", "a_png", "a_2"]
    taken: set[str] = set()      # names used by an earlier input of the same run
    assert unique_stems(["f1/x.jpg"], taken) == ["x"]
    assert unique_stems(["f2/x.jpg", "f2/y.jpg"], taken) == ["x_2", "y"]
    assert taken == {"x", "x_2", "y"}


def test_an_output_named_like_an_input_is_moved_beside_it(tmp_path):
    src = tmp_path / "clip.bvh"
    src.write_text("input")
    assert not_onto(src, {src.resolve()}, "_out") == tmp_path / "clip_out.bvh"
    other = tmp_path / "other.bvh"
    assert not_onto(other, {src.resolve()}, "_out") == other
