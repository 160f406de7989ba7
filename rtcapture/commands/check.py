"""``rtcapture check``: hold recorded sessions to barge-in, latency, error and hygiene rules."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from ..check import check_records, load_rules
from ..check.output import json_report, junit_report, text_report
from ..check.rules import RuleSet, SessionResult
from ..cli import AppContext, pass_app
from ..errors import UsageError
from ..store import Store
from .export import Since, _select

EXIT_VIOLATIONS = 1


def render(results: list[SessionResult], rules: RuleSet, fmt: str) -> str:
    """The report of ``results`` in ``fmt`` (text, json or junit)."""
    if fmt == "json":
        return json_report(results)
    if fmt == "junit":
        return junit_report(results, rules.enabled())
    return text_report(results)


def run_check(store: Store, selectors: tuple[str, ...], *, all_: bool = False,
              label: str | None = None, since: datetime | None = None,
              rules: RuleSet | None = None) -> list[SessionResult]:
    """Check the sessions the selectors pick."""
    if not selectors and not (all_ or label or since):
        raise UsageError("nothing to check: give SESSION arguments or --all")
    return list(check_records(store, _select(store, selectors, all_, label, since),
                              rules or RuleSet()))


def emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from None


@click.command(name="check")
@click.argument("selectors", nargs=-1, metavar="SESSION...")
@click.option("--all", "all_", is_flag=True, help="Every session (or those --label/--since pick).")
@click.option("--label", help="Only sessions with this label.")
@click.option("--since", type=Since(), help="Only sessions started on or after DATE (UTC).")
@click.option("--rules", "rules_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A TOML rules file: thresholds, allowed error codes, disabled rules.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text",
              show_default=True, help="Report format.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to FILE instead of stdout.")
@pass_app
def check_cmd(app: AppContext, selectors: tuple[str, ...], all_: bool, label: str | None,
              since: datetime | None, rules_file: Path | None, fmt: str, out: Path | None
              ) -> None:
    """Check sessions for barge-in, latency, error and protocol-hygiene violations.

    Exit 0: none; 1: violations; 2: usage error.

    \b
    Example:
      rtcapture check last
      rtcapture check --all --label ci --format junit --out check.xml
    """
    rules = load_rules(rules_file)
    results = run_check(app.store(create=False), selectors, all_=all_, label=label, since=since,
                        rules=rules)
    emit(render(results, rules, fmt), out)
    if any(r.violations for r in results):
        sys.exit(EXIT_VIOLATIONS)


COMMANDS = [check_cmd]
