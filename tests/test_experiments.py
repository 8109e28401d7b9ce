"""The experiment scripts' shared parts: the command line and the table writer."""

from __future__ import annotations

import json

from experiments._common import fmt, main, markdown_table
from experiments.ronchi_table import run_ronchi_experiment


def test_markdown_table_aligns_figures_right_and_fmt_marks_missing_values():
    lines = markdown_table(["Row", "P1"], [["a", fmt(1.25)], ["b", fmt(float("nan"))]])
    assert lines == ["| Row | P1 |", "|---|---:|", "| a | 1.2 |", "| b | - |"]
    assert fmt(None) == "-" and fmt(0.1234, 3) == "0.123"


def test_a_config_names_the_folders_and_the_flags_win(tmp_path):
    calls = []

    def run(data_root, out_dir, quick=False, progress=True, **options):
        calls.append((data_root, out_dir, options))

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"method": "zhou-image", "data_root": "from-config",
                               "out_dir": "out-from-config", "lab_samples": 7}))
    assert main(run, ["--config", str(cfg)], "default-out") == 0
    assert main(run, ["--config", str(cfg), "--data-dir", "flag-data", "--out-dir", "flag-out"],
                "default-out") == 0
    assert calls == [("from-config", "out-from-config", {"lab_samples": 7}),
                     ("flag-data", "flag-out", {"lab_samples": 7})]


def test_a_config_must_be_an_object_of_known_options(tmp_path, capsys):
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    assert main(run_ronchi_experiment, ["--config", str(listed)], "out") == 2
    assert "not a JSON object" in capsys.readouterr().err
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"foo": 1}')
    assert main(run_ronchi_experiment, ["--config", str(unknown)], "out") == 2
    err = capsys.readouterr().err
    assert "unknown experiment option(s): foo" in err and str(unknown) in err
