"""The verdict as a JUnit XML file: one test case per check and one per interval.

CI systems (GitLab, Jenkins, GitHub's test reporters) read ``<testsuites>`` →
``<testsuite>`` → ``<testcase classname name>`` with a ``<failure message type>`` or a
``<skipped>`` child; every finding is one line of its case's failure text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from bench.report.replay import CHECKS, RunReport, check_of, message
from pricing import Finding


def _case(parent: ET.Element, classname: str, name: str, findings: Sequence[Finding]) -> None:
    case = ET.SubElement(parent, "testcase", classname=classname, name=name, time="0")
    if findings:
        kinds = sorted({f.kind for f in findings})
        failure = ET.SubElement(
            case,
            "failure",
            message=f"{len(findings)} finding(s): {', '.join(kinds)}",
            type=kinds[0],
        )
        failure.text = "\n".join(message(f) for f in findings)


def junit_tree(
    report: RunReport, extra: Sequence[Finding] = (), suite: str = "gridbench"
) -> ET.ElementTree:
    """The JUnit document of a verdict; ``extra`` adds findings from outside the journal
    (the live run's escrow, its error)."""
    findings = [*report.audit.findings, *extra]
    root = ET.Element("testsuites", name=suite)
    checks = ET.SubElement(root, "testsuite", name=f"{suite}.checks")
    names = [*CHECKS, *sorted({check_of(f) for f in extra} - set(CHECKS))]
    failed = 0
    for name in names:
        mine = [f for f in findings if check_of(f) == name]
        if name == "chain" and report.chain_checked is None and not mine:
            case = ET.SubElement(
                checks, "testcase", classname=f"{suite}.checks", name=name, time="0"
            )
            ET.SubElement(case, "skipped", message="no chain URL given: not reconciled")
            continue
        failed += bool(mine)
        _case(checks, f"{suite}.checks", name, mine)
    checks.set("tests", str(len(names)))
    checks.set("failures", str(failed))
    checks.set("errors", "0")
    intervals = ET.SubElement(root, "testsuite", name=f"{suite}.intervals")
    ids = sorted(
        {r.interval_id for r in report.rows} | set(range(1, (report.planned_intervals or 0) + 1))
    )
    recorded = {r.interval_id for r in report.rows}
    failed = 0
    for i in ids:
        mine = [f for f in findings if f.interval_id == i]
        if i not in recorded and not mine:
            mine = [Finding(i, "missing_interval", "never ran or was not recorded")]
        failed += bool(mine)
        _case(intervals, f"{suite}.intervals", f"interval {i}", mine)
    intervals.set("tests", str(len(ids)))
    intervals.set("failures", str(failed))
    intervals.set("errors", "0")
    root.set("tests", str(len(names) + len(ids)))
    root.set("failures", str(int(checks.get("failures", "0")) + failed))
    return ET.ElementTree(root)


def write_junit(report: RunReport, path: Path, extra: Sequence[Finding] = ()) -> None:
    """Write the verdict's JUnit XML to ``path``."""
    tree = junit_tree(report, extra)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
