"""The committed run records keep their run ids: each folder under results/ is named by the hash of the config
that its own gin files and bindings parse to today. A rename of a gin-visible name (`@WCL()`, `Trainer.epochs`),
or a change in how the suite registers its classes with gin, would break this before it orphaned a record."""

from __future__ import annotations

import json
from pathlib import Path

import gin

from benchsuite import config, records
from benchsuite.experiment.execute import identified_config

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_every_committed_record_is_named_by_the_run_id_of_its_config(monkeypatch):
    monkeypatch.chdir(RESULTS.parent)  # the records name their gin files relative to the repository
    folders = sorted(path.parent for path in RESULTS.glob("*/*/record.json"))
    assert len(folders) >= 200
    renamed = []
    try:
        for folder in folders:
            record = json.loads((folder / records.RECORD).read_text())
            config.parse(record["gin_files"], record["gin_bindings"])
            if records.run_id(identified_config()) != folder.name:
                renamed.append(str(folder.relative_to(RESULTS)))
    finally:
        gin.clear_config()
    assert not renamed, renamed
