
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
