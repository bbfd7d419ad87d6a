"""The HTML report's inline style, dialog and script (report/html.py puts them in the page), read
once from report/assets/: report.css, dialog.html (the scenario dialog and the diagram's legend)
and report.js.

Nothing in them loads anything: no URL, no font, no import. The script reads the JSON embedded
in the page only when a scenario is first opened, builds that scenario's detail and draws its
sequence diagram (the plan of report/sequence.py) as SVG; it writes text with textContent only.
"""

from __future__ import annotations

from importlib.resources import files

_ASSETS = files("matrix_resolver_conformance.report") / "assets"

STYLE = (_ASSETS / "report.css").read_text(encoding="utf-8")
DIALOG = (_ASSETS / "dialog.html").read_text(encoding="utf-8")
SCRIPT = (_ASSETS / "report.js").read_text(encoding="utf-8")
