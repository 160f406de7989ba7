"""Every built-in rule and threshold of ``rtcapture check`` is documented in docs/check.md,
each threshold with its default."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from rtcapture.check.rules import RULE_IDS, Thresholds

DOC = (Path(__file__).resolve().parents[2] / "docs" / "check.md").read_text(encoding="utf-8")


def test_every_rule_has_a_row() -> None:
    missing = [r for r in RULE_IDS if f"| `{r}` |" not in DOC]
    assert missing == []


def test_every_threshold_is_documented_with_its_default() -> None:
    defaults = Thresholds()
    for f in fields(Thresholds):
        value = f"{getattr(defaults, f.name):g}"
        assert f"`{f.name}` = {value}" in DOC, f.name  # the rules table
        assert f"{f.name} = {value}\n" in DOC, f.name  # the rules file example
