"""Reports: the run record every engine produces, and the HTML/CSV/PNG/SVG reports drawn from it.

Public API (see ``docs/reports.md``, "Run record API"):
  record_from_counters(counters, spec=, graph=, energy_tables=, ...) -> RunRecord
  RunRecord.save(path) / load_run(path)
  render.write_report(record, folder)      compare.write_compare(records, folder)
Importing this package is cheap: matplotlib is imported only when a figure is drawn.
"""

from neurosim.report.build import HARDWARE_AWARE, PAPER_STYLE, record_from_counters
from neurosim.report.record import (
    COMPONENTS,
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    Assumption,
    EnergyBreakdown,
    Headline,
    Histogram,
    MappingSummary,
    RunRecord,
    Table,
    Timing,
    load_run,
)

__all__ = [
    "COMPONENTS", "HARDWARE_AWARE", "PAPER_STYLE", "RUN_FORMAT", "RUN_FORMAT_VERSION", "Assumption",
    "EnergyBreakdown", "Headline", "Histogram", "MappingSummary", "RunRecord", "Table", "Timing", "load_run",
    "record_from_counters",
]
