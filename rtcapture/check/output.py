"""``rtcapture check`` output: text lines, JSON, JUnit XML (one test case per session x rule)."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape, quoteattr

from .rules import SessionResult, Violation


def _where(v: Violation) -> str:
    parts = [f"t={v.t_ms:.0f}ms" if v.t_ms is not None else "session"]
    if v.item_id:
        parts.append(f"item={v.item_id}")
    if v.response_id:
        parts.append(f"response={v.response_id}")
    return " ".join(parts)


def text_report(results: list[SessionResult]) -> str:
    """One line per violation, then a summary line."""
    lines = [f"{v.session_id} {v.rule} {_where(v)}: expected {v.expected}, observed "
             f"{v.observed} ({v.hint})" for r in results for v in r.violations]
    total = sum(len(r.violations) for r in results)
    lines.append(f"{len(results)} session(s) checked, {total} violation(s)")
    return "\n".join(lines) + "\n"


def json_report(results: list[SessionResult]) -> str:
    """A JSON document: per session, its events count and violations."""
    return json.dumps({"sessions": [{"session_id": r.session_id, "events": r.events,
                                     "violations": [v.as_dict() for v in r.violations]}
                                    for r in results],
                       "violations": sum(len(r.violations) for r in results)}, indent=2) + "\n"


def junit_report(results: list[SessionResult], rules: tuple[str, ...]) -> str:
    """JUnit XML: a test suite per session, a test case per enabled rule."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    failures = sum(1 for r in results for rule in rules
                   if any(v.rule == rule for v in r.violations))
    out.append(f'<testsuites name="rtcapture check" tests="{len(results) * len(rules)}" '
               f'failures="{failures}">')
    for r in results:
        bad = {v.rule for v in r.violations}
        out.append(f'  <testsuite name={quoteattr(r.session_id)} tests="{len(rules)}" '
                   f'failures="{len(bad & set(rules))}" errors="0" skipped="0">')
        for rule in rules:
            mine = [v for v in r.violations if v.rule == rule]
            head = f'    <testcase classname={quoteattr(r.session_id)} name={quoteattr(rule)}'
            if not mine:
                out.append(head + "/>")
                continue
            body = "\n".join(f"{_where(v)}: expected {v.expected}, observed {v.observed}"
                             for v in mine)
            out.append(head + ">")
            out.append(f'      <failure message={quoteattr(mine[0].hint)} type={quoteattr(rule)}>'
                       f"{escape(body)}</failure>")
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
