"""`scanner scan -o html`: one self-contained page a person reads, from a USB stick, in a browser with no network.

Nothing outside the file is ever loaded: the style and the script are inline, the severity chart is
inline SVG, and a Content-Security-Policy meta tag (in `head`, before anything it governs) allows exactly that
style and that script, by the sha256 of their text, and nothing else: no connection, image, font,
frame, form target or base URL. The page writes no `style` attribute and no event-handler attribute,
which a hash cannot allow, so the policy needs no 'unsafe-inline' for either. No reference URL from a
feed becomes a link: the page makes no request even when clicked through.

Every text from the image, the SBOM, the feeds or the bundle is first made visible where it holds
characters a reader would not see (scanner.terminal.printable: controls, bidirectional overrides, lone
surrogates) and then HTML-escaped, so a package named `<script>` is text.

Without JavaScript the page shows everything: the findings table is complete, in the report's order.
The script only adds sorting (the column headings become buttons), a text filter, a minimum severity
and a known-exploited-only switch; its controls are `hidden` until it runs.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence

from scanner.match.exploitation import in_kev
from scanner.match.scan import ScanReport
from scanner.model import Finding, FixState, Severity
from scanner.report.base import FINDINGS, ReportFormat, register
from scanner.report.findings_json import epss_text, fix_text, headline_cvss, remediation_text
from scanner.report.table import summary_line, verdict_line
from scanner.terminal import printable

STYLE = """
:root { color-scheme: light; --line: #c8ccd2; --muted: #555d66; }
[hidden] { display: none !important; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #16191d;
  margin: 0 auto; padding: 1.5rem; max-width: 96rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .85em;
  overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.verdict { font-weight: 600; padding: .5rem .75rem; border-left: 4px solid #b42318; background: #fdf0ef; }
.verdict.clean { border-color: #067647; background: #ecfdf3; }
.summary { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.counts { display: grid; grid-template-columns: auto auto; gap: .15rem 1rem; margin: 0; }
.counts dt { color: var(--muted); } .counts dd { margin: 0; font-weight: 600; text-align: right; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid var(--line); padding: .3rem .45rem; text-align: left; vertical-align: top; }
thead th { background: #eef0f3; position: sticky; top: 0; }
th button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
td.num { text-align: right; white-space: nowrap; }
td.wide { min-width: 14rem; }
.scroll { overflow-x: auto; }
.sev { font-weight: 700; text-transform: uppercase; font-size: .8em; white-space: nowrap; }
.sev-5 { color: #7a0c0c; } .sev-4 { color: #b42318; } .sev-3 { color: #8a5300; }
.sev-2 { color: #1d5c96; } .sev-1, .sev-0 { color: var(--muted); }
.bar-5 { fill: #7a0c0c; } .bar-4 { fill: #d92d20; } .bar-3 { fill: #f79009; } .bar-2 { fill: #2e90fa; }
.bar-1 { fill: #98a2b3; } .bar-0 { fill: #667085; }
svg text { font: 13px system-ui, sans-serif; fill: #16191d; }
.kev { font-weight: 700; color: #7a0c0c; }
.aliases, .summary-text { display: block; color: var(--muted); font-size: .85em; overflow-wrap: anywhere; }
.controls { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin: .5rem 0; }
ul.plain { padding-left: 1.2rem; } ul.plain li { overflow-wrap: anywhere; }
@media print { .controls { display: none; } thead th { position: static; } }
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("findings");
  var controls = document.getElementById("controls");
  if (!table || !controls) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = document.getElementById("filter-text");
  var floor = document.getElementById("filter-severity");
  var kevOnly = document.getElementById("filter-kev");
  var shown = document.getElementById("shown-count");
  function apply() {
    var needle = text.value.toLowerCase();
    var minimum = Number(floor.value);
    var count = 0;
    rows.forEach(function (row) {
      var visible = Number(row.getAttribute("data-severity")) >= minimum &&
        (!kevOnly.checked || row.getAttribute("data-kev") === "1") &&
        (needle === "" || row.textContent.toLowerCase().indexOf(needle) >= 0);
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = String(count);
  }
  [text, floor, kevOnly].forEach(function (control) {
    control.addEventListener("input", apply);
    control.addEventListener("change", apply);
  });
  var headings = Array.prototype.slice.call(table.tHead.rows[0].cells);
  headings.forEach(function (heading, index) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = heading.textContent;
    heading.textContent = "";
    heading.appendChild(button);
    button.addEventListener("click", function () {
      var ascending = heading.getAttribute("aria-sort") !== "ascending";
      headings.forEach(function (other) { other.removeAttribute("aria-sort"); });
      heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var numeric = heading.getAttribute("data-type") === "number";
      rows.sort(function (a, b) {
        var x = a.cells[index].getAttribute("data-sort");
        var y = b.cells[index].getAttribute("data-sort");
        var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        if (order === 0) {
          return Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
        }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  controls.hidden = false;
  apply();
})();
"""


def _hash_source(text: str) -> str:
    """A CSP hash source for an inline element whose text is `text` (CSP level 2, section 4.2.4)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_hash_source(STYLE)}; script-src {_hash_source(SCRIPT)}; "
    "img-src 'none'; font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
)


def text(value: object) -> str:
    """Text from any input, safe in an HTML text node or a quoted attribute."""
    return html.escape(printable(str(value)), quote=True)


def _severity_label(severity: Severity) -> str:
    return f'<span class="sev sev-{int(severity)}">{text(severity.label)}</span>'


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list; the values are already HTML."""
    return '<dl class="facts">' + "".join(f"<dt>{text(label)}</dt><dd>{value}</dd>" for label, value in pairs) + "</dl>"


def _chart(counts: dict[str, int]) -> str:
    """Findings per severity as horizontal bars, inline SVG (no image request, no script)."""
    rows = [(Severity.parse(label), count) for label, count in counts.items()]
    widest = max((count for _, count in rows), default=0) or 1
    row_height, label_width, bar_width = 24, 92, 260
    height = row_height * len(rows) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_width + bar_width + 60}" '
             f'height="{height}" viewBox="0 0 {label_width + bar_width + 60} {height}" '
             'aria-labelledby="chart-title"><title id="chart-title">Findings by severity</title>']
    for index, (severity, count) in enumerate(rows):
        top = index * row_height + 2
        width = round(bar_width * count / widest)
        parts.append(f'<text x="0" y="{top + 16}">{text(severity.label)}</text>'
                     f'<rect class="bar-{int(severity)}" x="{label_width}" y="{top + 3}" width="{width}" height="16"/>'
                     f'<text x="{label_width + width + 6}" y="{top + 16}">{count}</text>')
    return "".join(parts) + "</svg>"


def _counts(report: ScanReport) -> str:
    fixable = sum(1 for finding in report.findings if finding.fix.state is FixState.FIXED)
    pairs = [("Findings", len(report.findings)), ("Known exploited (CISA KEV)", len(in_kev(report.findings))),
             ("Vulnerable packages", len({finding.package for finding in report.findings})),
             ("Packages checked", report.packages), ("Fixable", fixable), ("Suppressed", len(report.suppressed)),
             ("Not evaluated", len(report.unevaluated))]
    return '<dl class="counts">' + "".join(f"<dt>{text(label)}</dt><dd>{count}</dd>" for label, count in pairs) + "</dl>"


def _target(report: ScanReport) -> str:
    target = report.target
    distro = target.distro
    pairs = [("Target", text(f"{target.name} ({target.kind}, {target.format})")),
             ("Digest", f'<code>{text(target.digest)}</code>')]
    if target.tags:
        pairs.append(("Tags", text(", ".join(target.tags))))
    if target.platform:
        pairs.append(("Platform", text(target.platform)))
    if distro is not None:
        pairs.append(("Distribution", text(distro.pretty_name or f"{distro.id} {distro.version_id}")))
    pairs += [("Scanner", text(f"airgap-scanner {report.scanner_version}")),
              ("Scan", text(f"{report.started_at} to {report.generated_at}"))]
    if report.attestation_sha256:
        pairs.append(("Signed attestation", f'<code>sha256:{text(report.attestation_sha256)}</code>'))
    return _facts(pairs)


def _database(report: ScanReport) -> str:
    database = report.database
    pairs = [("Bundle", text(f"{database.channel} v{database.bundle_version} (schema {database.schema_version})")),
             ("Built", text(f"{database.built_at}, expires {database.expires_at}")),
             ("Data age", text(report.data_age_text())),
             ("Bundle sha256", f"<code>{text(database.bundle_sha256)}</code>"),
             ("Manifest sha256", f"<code>{text(database.manifest_sha256)}</code>"),
             ("Signed by", "<br>".join(f"<code>{text(key)}</code>" for key in database.key_ids) or "no key")]
    ages = dict(report.provider_age_days)
    providers = "".join(f"<tr><td>{text(name)}</td><td>{text(captured)}</td><td class=\"num\">{ages.get(name, '')}</td></tr>"
                        for name, captured in database.providers)
    table = ("<table><thead><tr><th>Provider</th><th>Data captured</th><th>Age (days)</th></tr></thead>"
             f"<tbody>{providers}</tbody></table>") if providers else ""
    return _facts(pairs) + table


def _coverage(report: ScanReport) -> str:
    if not report.coverage:
        return "<p>No ecosystem with packages.</p>"
    rows = "".join(f"<tr><td>{text(entry.ecosystem)}</td><td>{text(entry.status.value)}</td>"
                   f"<td class=\"num\">{entry.packages}</td><td>{text(', '.join(entry.providers) or 'none')}</td></tr>"
                   for entry in report.coverage)
    return ("<table><thead><tr><th>Ecosystem</th><th>Data</th><th>Packages</th><th>Providers</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _cell(content: str, sort_key: object, *, css: str = "") -> str:
    classes = f' class="{css}"' if css else ""
    return f'<td{classes} data-sort="{text(sort_key)}">{content}</td>'


def _vulnerability_cell(finding: Finding) -> str:
    vulnerability = finding.vulnerability
    content = f"<code>{text(vulnerability.id)}</code>"
    if vulnerability.aliases:
        content += f'<span class="aliases">{text(", ".join(vulnerability.aliases))}</span>'
    if vulnerability.summary:
        content += f'<span class="summary-text">{text(vulnerability.summary)}</span>'
    if finding.matched_by == "cpe":
        content += '<span class="aliases">matched by NVD CPE (opt-in)</span>'
    return _cell(content, vulnerability.id, css="wide")


def _fix_cell(finding: Finding) -> str:
    shown = fix_text(finding.fix) if finding.fix.state is FixState.FIXED else ""
    label = shown or finding.fix.state.value
    return _cell(text(label), label)


def _location(finding: Finding) -> str:
    package = finding.package
    layer = f"layer {package.layer_index}" if package.layer_index is not None else ""
    return "; ".join(part for part in (layer, *package.locations[:1]) if part)


def _finding_row(finding: Finding, order: int) -> str:
    package, vulnerability = finding.package, finding.vulnerability
    cvss = headline_cvss(vulnerability)
    kev, epss = vulnerability.kev, vulnerability.epss
    kev_content = "" if kev is None else (
        f'<span class="kev">due {text(kev.due_date)}</span><span class="aliases">added {text(kev.date_added)}'
        + ("; known ransomware use" if kev.known_ransomware_use == "Known" else "")
        + f"; {text(kev.required_action)}</span>")
    cells = [
        _cell(_severity_label(vulnerability.severity), int(vulnerability.severity)),
        _cell(text(package.name), package.name.lower()),
        _cell(f"<code>{text(package.version)}</code>", package.version),
        _cell(text(package.ecosystem or package.type), package.ecosystem or package.type),
        _vulnerability_cell(finding),
        _cell(text(f"{cvss.score:.1f}") if cvss else "", cvss.score if cvss else -1, css="num"),
        _cell(kev_content, 1 if kev else 0, css="wide"),
        _cell(text(epss_text(epss).removeprefix("EPSS ")) if epss else "", epss.score if epss else -1),
        _fix_cell(finding),
        _cell(text(_location(finding)), _location(finding)),
    ]
    return (f'<tr data-order="{order}" data-severity="{int(vulnerability.severity)}" data-kev="{1 if kev else 0}">'
            + "".join(cells) + "</tr>")


_COLUMNS = (("Severity", "number"), ("Package", "text"), ("Version", "text"), ("Ecosystem", "text"),
            ("Vulnerability", "text"), ("CVSS", "number"), ("CISA KEV", "number"), ("EPSS", "number"),
            ("Fix", "text"), ("Location", "text"))


def _findings(report: ScanReport) -> str:
    if not report.findings:
        return f"<p>{text(verdict_line(report))}</p>"
    options = "".join(f'<option value="{int(severity)}">{text(severity.label)} or worse</option>'
                      for severity in sorted(Severity, reverse=True))
    controls = (
        '<div class="controls" id="controls" hidden>'
        '<label>Filter <input type="search" id="filter-text" placeholder="package, id, text"></label>'
        f'<label>Severity <select id="filter-severity"><option value="0" selected>all</option>{options}</select></label>'
        '<label><input type="checkbox" id="filter-kev"> known exploited only</label>'
        f'<span class="muted"><span id="shown-count">{len(report.findings)}</span> of {len(report.findings)} shown'
        "</span></div>"
        "<noscript><p class=\"muted\">JavaScript is off: every finding is listed, in the report's order.</p></noscript>")
    head = "".join(f'<th scope="col" data-type="{kind}">{text(name)}</th>' for name, kind in _COLUMNS)
    body = "".join(_finding_row(finding, order) for order, finding in enumerate(report.findings))
    return (f'{controls}<div class="scroll"><table id="findings"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def _list(items: Sequence[str], empty: str) -> str:
    if not items:
        return f'<p class="muted">{text(empty)}</p>'
    return '<ul class="plain">' + "".join(f"<li>{text(item)}</li>" for item in items) + "</ul>"


def render(report: ScanReport) -> bytes:
    target = report.target
    verdict_class = "verdict clean" if report.clean else "verdict"
    suppressed = [f"{f.vulnerability.id} in {f.package.name} {f.package.version}: {f.suppressed_by}"
                  for f in report.suppressed]
    unevaluated = [f"{u.package.name} {u.package.version}{' ' + u.advisory_id if u.advisory_id else ''}: {u.reason}"
                   for u in report.unevaluated]
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="airgap-scanner {text(report.scanner_version)}">
<title>Vulnerability report: {text(target.name)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>Vulnerability report: {text(target.name)}</h1>
<p class="muted">{text(summary_line(report))}</p>
<p class="{verdict_class}">{text(verdict_line(report))}</p>
</header>
<main>
<section aria-labelledby="summary"><h2 id="summary">Summary</h2>
<div class="summary">{_counts(report)}{_chart(report.severity_counts())}</div>
</section>
<section aria-labelledby="target"><h2 id="target">Target and scan</h2>{_target(report)}</section>
<section aria-labelledby="database"><h2 id="database">Vulnerability database</h2>{_database(report)}</section>
<section aria-labelledby="coverage"><h2 id="coverage">Coverage</h2>
<p class="muted">Advisory data for each ecosystem with packages: complete (a whole export), partial or none.</p>
{_coverage(report)}</section>
<section aria-labelledby="findings-title"><h2 id="findings-title">Findings</h2>{_findings(report)}</section>
<section aria-labelledby="remediation"><h2 id="remediation">Remediation</h2>
{_list([remediation_text(item) for item in report.remediations], "Nothing to remediate.")}</section>
<section aria-labelledby="unevaluated"><h2 id="unevaluated">Not evaluated</h2>
{_list(unevaluated, "Every package check was evaluated.")}</section>
<section aria-labelledby="suppressed"><h2 id="suppressed">Suppressed</h2>
{_list(suppressed, "No finding was suppressed.")}</section>
<section aria-labelledby="warnings"><h2 id="warnings">Warnings</h2>
{_list(report.warnings, "No warnings.")}</section>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""
    return page.encode("utf-8")


register(ReportFormat(FINDINGS, "html", "one self-contained HTML page for people (no external resource)", render))
