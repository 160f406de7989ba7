"""The session report: one self-contained HTML page (``rtcapture report``, ``rtcapture serve``)."""

from .page import ReportOptions, render_report

__all__ = ["ReportOptions", "render_report"]
