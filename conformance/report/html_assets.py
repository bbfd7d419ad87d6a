"""The HTML report's inline style, dialog and script (report/html.py puts them in the page).

Nothing here loads anything: no URL, no font, no import. The script reads the JSON embedded in
the page only when a scenario is first opened, builds that scenario's detail and draws its
sequence diagram (the plan of report/sequence.py) as SVG; it writes text with textContent only.
"""

from __future__ import annotations

STYLE = r"""
:root {
  --bg: #ffffff; --bg2: #f6f8fa; --fg: #1f2328; --fg2: #59636e; --fg3: #afb8c1; --line: #d1d9e0;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9; --skip: #6e7781;
  --skip-bg: #eaeef2; --unav: #9a6700; --unav-bg: #fff8c5; --decl: #0969da; --decl-bg: #ddf4ff;
  --dns: #8250df; --dns-bg: #fbefff; --warn: #bc4c00; --on-bad: #ffffff;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --bg2: #161b22; --fg: #e6edf3; --fg2: #9198a1; --fg3: #3d444d;
    --line: #30363d; --ok: #3fb950; --ok-bg: #12361f; --bad: #f85149; --bad-bg: #42181a;
    --skip: #9198a1; --skip-bg: #21262d; --unav: #d29922; --unav-bg: #3b2e0a; --decl: #4493f8;
    --decl-bg: #0c2d4f; --dns: #ab7df8; --dns-bg: #2b1a4a; --warn: #f0883e; --on-bad: #ffffff;
  }
}
* { box-sizing: border-box; }
body { margin: 0 auto; padding: 1rem 1.5rem 4rem; max-width: 1600px; background: var(--bg);
  color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.4rem; margin: .2rem 0 .8rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
code, .id, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.hint { color: var(--fg2); font-size: .85rem; margin: .2rem 0; }
.notice { background: var(--unav-bg); border-left: 4px solid var(--unav); padding: .3rem .6rem; }
table { border-collapse: collapse; }
th, td { padding: 2px 6px; }
th { text-align: left; font-weight: 600; }
table.impls td, table.impls th { border-bottom: 1px solid var(--line); padding: 3px 8px; }
table.impls td.lv { text-align: center; font-variant-numeric: tabular-nums; }
td.p, .cell.p { background: var(--ok-bg); }
td.f, .cell.f { background: var(--bad-bg); }
td.s, .cell.s { background: var(--skip-bg); }
table.impls td.about { color: var(--fg2); font-size: .8rem; }
.grids { display: flex; flex-wrap: wrap; gap: 1.2rem; align-items: flex-start; }
table.grid { border: 1px solid var(--line); font-variant-numeric: tabular-nums; }
table.grid caption { text-align: left; font-weight: 600; padding: 2px 0; }
table.grid th, table.grid td { border: 1px solid var(--line); padding: 2px 6px; }
table.grid thead th { background: var(--bg2); font-size: .8rem; }
table.grid tr.all th, table.grid tr.all td { border-top: 2px solid var(--fg2); }
.cell { cursor: pointer; white-space: nowrap; text-align: right; }
.cell:hover { outline: 2px solid var(--decl); outline-offset: -2px; }
.cell.empty { background: transparent; cursor: default; }
.cell .n { display: inline-block; min-width: 2.2em; font-weight: 600; padding: 0 2px; }
.cell .n:hover { text-decoration: underline; }
.n.p { color: var(--ok); } .n.f { color: var(--bad); } .n.s { color: var(--skip); }
.n.zero { color: var(--fg3); font-weight: 400; }
form.filters { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center;
  position: sticky; top: 0; z-index: 3; background: var(--bg); padding: .5rem 0;
  border-bottom: 1px solid var(--line); }
form.filters select, form.filters input, form.filters button { font: inherit; }
#f-count { color: var(--fg2); }
#matrix { width: 100%; margin-top: .3rem; table-layout: fixed; }
#matrix thead th { position: sticky; top: 2.9rem; z-index: 2; background: var(--bg);
  border-bottom: 1px solid var(--line); vertical-align: bottom; }
#matrix th.impl { padding: 4px 0; width: 2.3em; text-align: center; }
#matrix th.impl span { writing-mode: vertical-rl; transform: rotate(180deg); max-height: 14em;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; display: inline-block; }
#matrix tr.grp th { background: var(--bg2); border-top: 1px solid var(--line); padding: 4px 6px; }
#matrix tr.grp small { color: var(--fg2); font-weight: 400; margin-left: .5em; }
#matrix tr.r td { border-bottom: 1px solid var(--bg2); }
#matrix tr.r:hover td { background-image: linear-gradient(rgba(128,128,128,.12),
  rgba(128,128,128,.12)); cursor: pointer; }
#matrix tr.cur td.id { box-shadow: inset 4px 0 0 var(--decl); }
#matrix td.id { white-space: nowrap; font-size: 12.5px; overflow: hidden;
  text-overflow: ellipsis; }
#matrix td.id a { color: var(--fg); text-decoration: none; }
#matrix td.id a:hover { text-decoration: underline; }
#matrix td.lvl { font-size: .8rem; color: var(--fg2); white-space: nowrap; }
#matrix td.o { text-align: center; padding: 0; font-weight: 700; border-left: 2px solid var(--bg); }
#matrix td.o a { display: block; padding: 2px 0; text-decoration: none; color: inherit; }
#matrix td.o.p { color: var(--ok); }
#matrix td.o.f { background: var(--bad); color: var(--on-bad); }
#matrix td.o.s { color: var(--skip); }
#matrix td.o.u { background: var(--unav-bg); color: var(--unav); }
#matrix td.o.none { color: var(--fg3); }
#matrix td.sn { overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; color: var(--fg2); font-size: .85rem; }
.spec { color: var(--fg2); }
dialog#detail { width: min(96vw, 1500px); max-height: 92vh; padding: 0; border: 1px solid
  var(--line); border-radius: 8px; background: var(--bg); color: var(--fg); }
dialog#detail::backdrop { background: rgba(0, 0, 0, .45); }
.dwrap { padding: 0 1.2rem 1.2rem; }
.dbar { position: sticky; top: 0; z-index: 1; display: flex; gap: .4rem; align-items: center;
  background: var(--bg2); border-bottom: 1px solid var(--line); padding: .4rem 1.2rem;
  margin: 0 -1.2rem; }
.dbar button { font: inherit; cursor: pointer; }
#d-tabs { display: flex; gap: .3rem; flex-wrap: wrap; flex: 1; }
#d-tabs .tab { border: 1px solid var(--line); border-radius: 4px; background: var(--bg);
  color: var(--fg); padding: 1px 8px; }
#d-tabs .tab.failed { border-color: var(--bad); color: var(--bad); }
#d-tabs .tab.passed { color: var(--ok); }
#d-tabs .tab[aria-selected="true"] { outline: 2px solid var(--decl); font-weight: 700; }
#d-close { margin-left: auto; }
.detail h2 { margin-top: .8rem; display: flex; gap: .6rem; align-items: center; }
.badge { font-size: .8rem; border-radius: 4px; padding: 1px 8px; text-transform: uppercase;
  color: var(--on-bad); background: var(--skip); }
.badge.passed { background: var(--ok); } .badge.failed { background: var(--bad); }
.detail .meta { color: var(--fg2); margin: 0; }
blockquote.sentence { margin: .6rem 0; padding: .3rem .8rem; border-left: 4px solid var(--decl);
  background: var(--bg2); }
dl.eo { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; }
dl.eo dt { font-weight: 600; color: var(--fg2); } dl.eo dd { margin: 0; }
p.note { padding: .3rem .6rem; background: var(--decl-bg); border-left: 4px solid var(--decl); }
p.note.missing { background: var(--bad-bg); border-color: var(--bad); font-weight: 600; }
table.failures { width: 100%; }
table.failures th, table.failures td { border: 1px solid var(--line); padding: 3px 6px;
  vertical-align: top; }
table.failures thead th { background: var(--bg2); }
table.failures td.lvl-required { color: var(--bad); font-weight: 700; }
table.failures td.sent { color: var(--fg2); font-size: .85rem; }
.chip { display: inline-block; border: 1px solid var(--ok); color: var(--ok); border-radius: 9px;
  padding: 0 7px; margin: 0 3px; font-size: .8rem; }
p.notrace { color: var(--fg2); font-style: italic; }
.legend { display: flex; flex-wrap: wrap; gap: .2rem 1.1rem; font-size: .8rem;
  color: var(--fg2); margin: .3rem 0 .5rem; }
.legend span { display: inline-flex; gap: .35rem; align-items: center; }
.scroll { overflow: auto; max-height: 78vh; border: 1px solid var(--line); border-radius: 6px; }
svg.seq.head { position: sticky; top: 0; z-index: 1; }
.quiet { color: var(--fg2); font-size: .85rem; }
details.events table { font-size: .85rem; }
details.events td, details.events th { border-bottom: 1px solid var(--line); vertical-align: top; }
details.events td.t { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
svg.seq, svg.sw { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
svg.seq { display: block; background: var(--bg); }
.lane rect, .sw rect { fill: var(--bg2); stroke: var(--fg2); stroke-width: 1.5; }
.lane text { fill: var(--fg); }
.lane .tag { font-size: 10px; letter-spacing: .04em; fill: var(--fg2); }
.lane .ep { font-size: 10px; fill: var(--fg2); }
.lane .lbl { font-size: 12px; font-weight: 700; }
.lane.resolver rect, .sw .resolver { fill: var(--fg); stroke: var(--fg); }
.lane.resolver text { fill: var(--bg); }
.lane.dns rect, .sw .dns { fill: var(--dns-bg); stroke: var(--dns); }
.lane.expected rect, .sw .expected { fill: var(--ok-bg); stroke: var(--ok); stroke-width: 2.5; }
.lane.expected .tag { fill: var(--ok); font-weight: 700; }
.lane.idle rect, .sw .idle { fill: var(--bg); stroke-dasharray: 5 3; }
.lane.declared rect, .sw .declared { fill: var(--decl-bg); stroke: var(--decl); }
.lane.decoy rect, .sw .decoy { fill: var(--bg); stroke: var(--bad); stroke-dasharray: 4 2; }
.lane.decoy .tag { fill: var(--bad); }
.lane.hit rect, .sw .hit { fill: var(--bad); stroke: var(--bad); stroke-dasharray: none; }
.lane.hit text, .lane.hit .tag, .lane.hit .ep { fill: var(--on-bad); font-weight: 700; }
.lane.refused rect { fill: var(--skip-bg); stroke: var(--skip); }
.life { stroke: var(--fg3); stroke-width: 1.5; stroke-dasharray: 2 4; }
.life.expected { stroke: var(--ok); } .life.hit { stroke: var(--bad); }
.m line, .sw line { stroke-width: 1.6; stroke: var(--fg2); }
.m polygon, .sw polygon { fill: var(--fg2); }
.m.ok line, .sw .ok { stroke: var(--ok); } .m.ok polygon, .sw polygon.ok { fill: var(--ok); }
.m.wrong line, .sw .wrong { stroke: var(--bad); stroke-width: 2.6; }
.m.wrong polygon, .sw polygon.wrong { fill: var(--bad); }
.m.dns line, .sw .dnsm { stroke: var(--dns); } .m.dns polygon { fill: var(--dns); }
.m.response line, .sw .resp { stroke-dasharray: 6 4; stroke-width: 1.2; }
.m.fail line { stroke-dasharray: 2 3; }
.m text { font-size: 12px; paint-order: stroke; stroke: var(--bg); stroke-width: 4px;
  stroke-linejoin: round; }
.m .tx { fill: var(--fg); }
.m.ok .tx { fill: var(--ok); } .m.wrong .tx { fill: var(--bad); font-weight: 700; }
.m .nt { font-size: 11px; fill: var(--fg2); }
.m .nt.warn { fill: var(--warn); } .m .nt.fail { fill: var(--bad); }
.m .x, .sw .x { fill: var(--bad); font-size: 15px; font-weight: 700; }
.tm { font-size: 10px; fill: var(--fg2); }
"""

DIALOG = """<dialog id="detail" aria-labelledby="d-title"><div class="dwrap">
<div class="dbar"><button type="button" id="d-prev" title="previous scenario in the list (←)">←
</button><button type="button" id="d-next" title="next scenario in the list (→)">→</button>
<div id="d-tabs"></div><button type="button" id="d-close" title="close (Esc)">close ×</button>
</div><div id="d-body"></div></div></dialog>
<template id="legend"><div class="legend">
<span><svg class="sw" width="26" height="14"><rect class="expected" x="1" y="1" width="24"
height="12" rx="3"/></svg>expected site</span>
<span><svg class="sw" width="26" height="14"><rect class="expected idle" x="1" y="1" width="24"
height="12" rx="3"/></svg>expected, never reached</span>
<span><svg class="sw" width="26" height="14"><rect class="hit" x="1" y="1" width="24"
height="12" rx="3"/></svg>decoy hit / server reached wrongly</span>
<span><svg class="sw" width="26" height="14"><rect class="decoy" x="1" y="1" width="24"
height="12" rx="3"/></svg>decoy asked only for the well-known (allowed)</span>
<span><svg class="sw" width="26" height="14"><rect class="declared" x="1" y="1" width="24"
height="12" rx="3"/></svg>other server of the scenario</span>
<span><svg class="sw" width="34" height="14"><line class="ok" x1="1" y1="7" x2="26" y2="7"/>
<polygon class="ok" points="33,7 25,3 25,11"/></svg>to the expected site</span>
<span><svg class="sw" width="34" height="14"><line class="wrong" x1="1" y1="7" x2="26" y2="7"/>
<polygon class="wrong" points="33,7 25,3 25,11"/></svg>wrong destination</span>
<span><svg class="sw" width="34" height="14"><line x1="1" y1="7" x2="26" y2="7"/>
<polygon points="33,7 25,3 25,11"/></svg>other traffic</span>
<span><svg class="sw" width="34" height="14"><line class="dnsm" x1="1" y1="7" x2="26" y2="7"/>
<polygon points="33,7 25,3 25,11" style="fill: var(--dns)"/></svg>DNS query → answer</span>
<span><svg class="sw" width="34" height="14"><line class="resp" x1="8" y1="7" x2="33" y2="7"/>
<polygon points="1,7 9,3 9,11"/></svg>HTTP response</span>
<span><svg class="sw" width="16" height="14"><text class="x" x="2" y="12">✗</text></svg>
TLS handshake failed</span>
</div></template>"""

SCRIPT = r"""
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  let DATA = null;
  const data = () => DATA || (DATA = JSON.parse($("#report-data").textContent));
  const SYM = { passed: "✓", failed: "✗", skipped: "–" };
  const SVGNS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false || kid === "") continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }
  function sv(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const stepLabel = (s) => (/^[0-9]/.test(s) ? "step " + s : s);

  // ---- filters ---------------------------------------------------------------------------
  const bodies = $$("#matrix > tbody");
  const rows = $$("#matrix tr.r");
  const F = { step: $("#f-step"), level: $("#f-level"), outcome: $("#f-outcome"),
              impl: $("#f-impl"), text: $("#f-text") };
  function matches(o, want, impl) {
    if (!want) return true;
    if (want === "d") return new Set([...o].filter((c) => c !== "-")).size > 1;
    const cols = impl === "" ? [...o] : [o[Number(impl)]];
    if (want === "s") return cols.some((c) => c === "s" || c === "u");
    return cols.includes(want);
  }
  function applyFilters() {
    const step = F.step.value, level = F.level.value, want = F.outcome.value;
    const impl = F.impl ? F.impl.value : "";
    const text = F.text.value.trim().toLowerCase();
    let shown = 0;
    for (const tb of bodies) {
      let any = false;
      const stepOk = !step || tb.dataset.step === step;
      for (const tr of tb.querySelectorAll("tr.r")) {
        if (text && tr._q === undefined) tr._q = tr.textContent.toLowerCase();
        const ok = stepOk && (!level || tr.dataset.level === level)
          && matches(tr.dataset.o, want, impl) && (!text || tr._q.includes(text));
        tr.hidden = !ok;
        if (ok) { any = true; shown += 1; }
      }
      tb.hidden = !any;
    }
    $("#f-count").textContent = shown + " of " + rows.length + " scenarios shown";
  }
  for (const c of Object.values(F)) {
    if (c) for (const ev of ["input", "change"]) c.addEventListener(ev, applyFilters);
  }
  $("#f-reset").addEventListener("click", () => {
    for (const c of Object.values(F)) if (c) c.value = "";
    applyFilters();
  });
  for (const cell of $$(".grid td.cell[data-impl]")) {
    cell.addEventListener("click", (ev) => {
      const n = ev.target.closest("b.n");
      F.step.value = cell.dataset.step;
      F.level.value = cell.dataset.level;
      F.outcome.value = n ? { passed: "p", failed: "f", skipped: "s" }[n.dataset.outcome] : "";
      if (F.impl) F.impl.value = cell.dataset.impl;
      F.text.value = "";
      applyFilters();
      $("#scenarios").scrollIntoView();
    });
  }
  $("#matrix").addEventListener("click", (ev) => {  // a click anywhere on a row opens it
    if (ev.target.closest("a")) return;
    const tr = ev.target.closest("tr.r");
    if (tr) location.hash = $("td.id a", tr).getAttribute("href");
  });

  // ---- the detail ------------------------------------------------------------------------
  const dlg = $("#detail");
  let current = null;
  function open(k, i) {
    const D = data();
    if (!D.rows[k] || !(i >= 0 && i < D.impls.length)) return;
    current = [k, i];
    $("#d-body").replaceChildren(detail(D, k, i));
    tabs(D, k, i);
    if (!dlg.open) dlg.showModal();
    dlg.scrollTop = 0;
    for (const tr of $$("#matrix tr.cur")) tr.classList.remove("cur");
    const tr = $('#matrix tr[data-k="' + k + '"]');
    if (tr) tr.classList.add("cur");
  }
  function go(k, i) {
    open(k, i);
    try {  // the address names what is open; browsers ignore some when called very often
      history.replaceState(null, "", "#d=" + k + "." + i);
    } catch (e) { /* the view is right; only the address lags */ }
  }
  function fromHash() {
    const m = /^#d=(\d+)\.(\d+)$/.exec(location.hash);
    if (m) open(Number(m[1]), Number(m[2]));
    else if (dlg.open) dlg.close();
  }
  function move(delta) {
    if (!current) return;
    const keys = rows.filter((tr) => !tr.hidden && !tr.parentElement.hidden)
      .map((tr) => Number(tr.dataset.k));
    let at = keys.indexOf(current[0]);
    if (at < 0) at = delta > 0 ? -1 : keys.length;
    const k = keys[at + delta];
    if (k !== undefined) go(k, current[1]);
  }
  window.addEventListener("hashchange", fromHash);
  dlg.addEventListener("close", () => {
    current = null;
    if (location.hash.startsWith("#d=")) {
      history.replaceState(null, "", location.pathname + location.search);
    }
  });
  dlg.addEventListener("click", (ev) => { if (ev.target === dlg) dlg.close(); });
  dlg.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, select, textarea")) return;
    if (ev.key === "ArrowLeft") { move(-1); ev.preventDefault(); }
    if (ev.key === "ArrowRight") { move(1); ev.preventDefault(); }
  });
  $("#d-close").addEventListener("click", () => dlg.close());
  $("#d-prev").addEventListener("click", () => move(-1));
  $("#d-next").addEventListener("click", () => move(1));

  function tabs(D, k, i) {
    const box = $("#d-tabs");
    box.replaceChildren();
    if (D.impls.length < 2) {
      box.append(el("span", {}, D.impls[0].label));
      return;
    }
    D.impls.forEach((im, j) => {
      const r = D.res[k][j];
      box.append(el("button", {
        type: "button", class: "tab " + (r ? r.outcome : "none"), disabled: !r,
        "aria-selected": j === i ? "true" : "false", title: im.label,
        onclick: () => go(k, j),
      }, (r ? SYM[r.outcome] : "·") + " " + im.label));
    });
  }

  function detail(D, k, i) {
    const row = D.rows[k], r = D.res[k][i], im = D.impls[i];
    const box = el("div", { class: "detail", "data-k": k, "data-impl": i });
    const word = !r ? "not in this report" : r.unavailable ? "not run here" : r.outcome;
    box.append(el("h2", { id: "d-title" },
      el("span", { class: "badge " + (r ? r.outcome : "none") }, word), el("code", {}, row.id)));
    const meta = [stepLabel(row.step), "level " + row.level, r && r.spec && "rule set " + r.spec,
      im.label + (im.version ? " (" + im.version + ")" : ""),
      r && r.seconds !== null && r.seconds !== undefined && r.seconds + " s"];
    box.append(el("p", { class: "meta" }, meta.filter(Boolean).join(" · ")));
    if (row.sentence) box.append(el("blockquote", { class: "sentence" }, row.sentence));
    if (!r) return box;
    const dl = el("dl", { class: "eo" });
    if (r.outcome === "skipped") dl.append(el("dt", {}, "skipped"), el("dd", {}, r.observed));
    else {
      dl.append(el("dt", {}, "expected"), el("dd", { class: "expected" }, r.expected));
      dl.append(el("dt", {}, "observed"), el("dd", { class: "observed" }, r.observed));
    }
    box.append(dl);
    if (r.note !== undefined) {
      box.append(el("p", { class: "note" }, el("b", {}, "Investigation: "), r.note));
    } else if (D.investigated && r.outcome === "failed") {
      box.append(el("p", { class: "note missing" }, "NOT INVESTIGATED"));
    }
    if (r.failures && r.failures.length) {
      box.append(el("h3", {}, "Rules broken (" + r.failures.length + ")"));
      const tb = el("tbody");
      for (const f of r.failures) {
        tb.append(el("tr", { class: "failure" },
          el("td", {}, el("code", {}, f.rule)),
          el("td", { class: "lvl-" + f.level }, f.level),
          el("td", { class: "msg" }, f.message),
          el("td", { class: "sent" }, f.sentence || "(the scenario's sentence, above)")));
      }
      box.append(el("table", { class: "failures" }, el("thead", {}, el("tr", {},
        el("th", {}, "rule"), el("th", {}, "level"), el("th", {}, "what happened"),
        el("th", {}, "sentence"))), tb));
    } else if (r.problems && r.problems.length) {
      box.append(el("h3", {}, "Problems (" + r.problems.length + ")"),
        el("p", { class: "hint" }, "A format 1 report: the rules broken were not recorded."),
        el("ul", {}, r.problems.map((p) => el("li", { class: "msg" }, p))));
    }
    if (r.held && r.held.length) {
      box.append(el("p", { class: "held" }, "Rules that held: ",
        r.held.map((h) => el("span", { class: "chip" }, h))));
    }
    box.append(el("h3", {}, "What the world saw"));
    if (!r.diagram) {
      box.append(el("p", { class: "notrace" },
        "no trace recorded" + (im.format < 2 ? " (a format " + im.format + " report)"
          : r.outcome === "skipped" ? " (the scenario did not run)" : "")));
    } else {
      const plan = unpack(r.diagram);
      box.append($("#legend").content.cloneNode(true));
      box.append(el("div", { class: "scroll" }, draw(plan)));
      if (plan.quiet.length) {
        box.append(el("p", { class: "quiet" }, "No traffic at: " + plan.quiet.join(", ")));
      }
      box.append(events(plan));
    }
    return box;
  }

  // ---- the sequence diagram (geometry only: report/sequence.py decided the rest) ------------
  const ctx = document.createElement("canvas").getContext("2d");
  const FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
  function tw(text, size, bold) {
    ctx.font = (bold ? "bold " : "") + size + "px " + FONT;
    return ctx.measureText(String(text)).width;
  }
  const clip = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);
  function tag(l) {
    const hit = l.state === "hit";
    if (l.role === "resolver") return "UNDER TEST";
    if (l.role === "dns") return "DNS SERVER";
    if (l.role === "expected") return l.state === "idle" ? "EXPECTED · NEVER REACHED" : "EXPECTED";
    if (l.role === "decoy") return hit ? "DECOY HIT" : "DECOY · WELL-KNOWN LOOKUP";
    if (l.role === "declared") return hit ? "DECLARED · REACHED WRONGLY" : "DECLARED";
    if (l.role === "refused") return "REFUSES CONNECTIONS";
    return String(l.role).toUpperCase() + (hit ? " · REACHED WRONGLY" : "");
  }
  const NOTE = 64;
  function unpack(packed) {  // report/html.py's _pack, undone
    return {
      lanes: packed.lanes.map(([label, role, endpoints, state]) => ({ label, role, endpoints,
                                                                       state })),
      rows: packed.rows.map(([t, a, b, kind, text, note, tone, flags]) => ({
        t, a, b, kind, text, note, tone, fail: (flags & 1) !== 0, warn: (flags & 2) !== 0 })),
      quiet: packed.quiet,
    };
  }
  function draw(plan) {
    const lanes = plan.lanes, list = plan.rows;
    const GUT = 64, TOP = 70, ROW = 40;
    const width = lanes.map((l) => Math.max(118, tw(l.label, 12, true), tw(l.endpoints, 10),
      tw(tag(l), 10) + 6) + 20);
    const gap = lanes.map((l, j) => (j ? (width[j - 1] + width[j]) / 2 + 14 : 0));
    const spans = list.filter((r) => r.a !== r.b).map((r) => ({
      lo: Math.min(r.a, r.b), hi: Math.max(r.a, r.b),
      need: Math.max(tw(r.text, 12), tw(clip(r.note, NOTE), 11)) + 34,
    })).sort((p, q) => (p.hi - p.lo) - (q.hi - q.lo));
    for (const s of spans) {
      let have = 0;
      for (let j = s.lo + 1; j <= s.hi; j++) have += gap[j];
      if (have < s.need) gap[s.hi] += s.need - have;
    }
    const x = [];
    lanes.forEach((l, j) => x.push(j ? x[j - 1] + gap[j] : GUT + width[0] / 2));
    const W = Math.ceil(x[x.length - 1] + width[width.length - 1] / 2 + 12);
    const H = TOP + 24 + list.length * ROW;
    // two drawings in one scroll box: the lane heads stay on top while the arrows scroll
    const HEAD = 64, BODY = H - HEAD;
    const head = sv("svg", { class: "seq head", width: W, height: HEAD,
                             viewBox: "0 0 " + W + " " + HEAD });
    const body = sv("svg", { class: "seq body", width: W, height: BODY,
                             viewBox: "0 " + HEAD + " " + W + " " + BODY,
                             role: "img", "aria-label": "sequence diagram" });
    body.append(sv("title", {}, "What the world observed, in order"));
    lanes.forEach((l, j) => {
      const cls = ("lane " + l.role + " " + l.state).trim();
      const g = sv("g", { class: cls, "data-site": l.label });
      g.append(sv("line", { class: "life " + l.role + " " + l.state, x1: x[j], x2: x[j], y1: 60,
                            y2: HEAD }));
      g.append(sv("rect", { x: x[j] - width[j] / 2, y: 6, width: width[j], height: 54, rx: 6 }));
      g.append(sv("text", { class: "tag", x: x[j], y: 21, "text-anchor": "middle" }, tag(l)));
      g.append(sv("text", { class: "lbl", x: x[j], y: 37, "text-anchor": "middle" }, l.label));
      g.append(sv("text", { class: "ep", x: x[j], y: 52, "text-anchor": "middle" }, l.endpoints));
      g.append(sv("title", {}, l.label + " (" + tag(l).toLowerCase() + ") " + l.endpoints));
      head.append(g);
      body.append(sv("line", { class: "life " + l.role + " " + l.state, x1: x[j], x2: x[j],
                               y1: HEAD, y2: H - 4, "data-site": l.label }));
    });
    list.forEach((r, n) => {
      const y = TOP + 26 + n * ROW;
      body.append(sv("text", { class: "tm", x: 6, y: y + 4 }, r.t === null ? "" : r.t + " ms"));
      const cls = ["m", r.tone, r.kind, r.fail ? "fail" : ""].join(" ").trim();
      const g = sv("g", { class: cls, "data-site": lanes[r.a === 0 ? r.b : r.a].label });
      g.append(sv("title", {}, r.text + (r.note ? "\n" + r.note : "")));
      let tx = x[r.a] + 10;
      if (r.a !== r.b) {
        const x1 = x[r.a], x2 = x[r.b], dir = x2 > x1 ? 1 : -1;
        g.append(sv("line", { x1: x1 + dir * 2, y1: y, x2: x2 - dir * 8, y2: y }));
        const bx = x2 - dir * 10;
        g.append(sv("polygon", { points: x2 + "," + y + " " + bx + "," + (y - 5) + " " + bx + ","
                                         + (y + 5) }));
        if (r.fail) g.append(sv("text", { class: "x", x: x2 - dir * 22 - 5, y: y + 5 }, "✗"));
        tx = Math.min(x1, x2) + 10;
      }
      g.append(sv("text", { class: "tx", x: tx, y: y - 6 }, r.text));
      if (r.note) {
        const cl = "nt" + (r.fail ? " fail" : r.warn ? " warn" : "");
        g.append(sv("text", { class: cl, x: tx, y: y + 14 }, clip(r.note, NOTE)));
      }
      body.append(g);
    });
    return [head, body];
  }
  function events(plan) {
    const tb = el("tbody");
    for (const r of plan.rows) {
      const from = plan.lanes[r.a].label, to = plan.lanes[r.b].label;
      tb.append(el("tr", { class: r.tone },
        el("td", { class: "t" }, r.t === null ? "" : r.t + " ms"),
        el("td", { class: "mono" }, r.a === r.b ? from : from + " → " + to),
        el("td", { class: "mono" }, r.text), el("td", {}, r.note)));
    }
    return el("details", { class: "events" },
      el("summary", {}, "Every event as text (" + plan.rows.length + ")"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "t"), el("th", {}, "from → to"),
        el("th", {}, "what"), el("th", {}, "result"))), tb));
  }

  // for scripts (and the project's browser test): open a scenario without touching history
  window.conformanceReport = { open: open, close: () => dlg.close() };
  applyFilters();
  fromHash();
  document.documentElement.dataset.ready = String(Math.round(performance.now()));
})();
"""
