"""A scenario's trace (report/trace.py) as a sequence diagram: which lanes, which arrows, in which
words and colours. The HTML report embeds this plan and its script only draws it (geometry), when
the scenario is opened.

Lanes: the resolver, DNS, then each site in the order it first saw traffic, then the expected
sites nobody reached. An arrow's *tone* says what it means for the verdict:

- `ok`: traffic to an expected site (where the federation request belongs);
- `wrong`: a federation request anywhere else, any traffic to a decoy other than an allowed
  well-known lookup, a well-known request where the judge allowed none;
- `plain`: the rest of the story (the well-known lookup, a server the scenario declared);
- `dns`: DNS messages.

The trace names each site's role (expected, declared, decoy, refused) but not where the
well-known may be asked: origin:443 is a decoy whenever the scenario serves no well-known, and
asking it is still step 3. A well-known request is therefore wrong only where the judge said so
(a "well-known" failure "... went to <role> <site> (allowed: ...)").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

RESOLVER, DNS = 0, 1  # lane indices
DNS_NORMAL = ("NOERROR", "NXDOMAIN")  # answers; anything else is drawn as a warning


def plan(trace: Mapping[str, Any] | None, problems: Iterable[str] = ()) -> dict[str, Any] | None:
    """The diagram of one trace, or None when the report recorded none (older formats).

    `problems`: the failure messages of the entry (to find well-known requests judged wrong).
    Returns `{"lanes": [...], "rows": [...], "quiet": [...]}`; a lane is `{"label", "role",
    "endpoints", "state"}` (state: "hit" = reached wrongly, "lookup" = a decoy asked only for
    the well-known, "idle" = expected and never reached, "" otherwise); a row is `{"t", "a",
    "b", "kind", "text", "note", "tone", "fail", "warn"}` (an arrow from lane a to lane b).
    """
    if not trace:
        return None
    sites: Mapping[str, Mapping[str, Any]] = trace.get("sites") or {}
    events: list[Mapping[str, Any]] = list(trace.get("events") or [])
    messages = list(problems)
    if any("well_known" in info for info in sites.values()):  # trace format 2 says it
        disallowed = {s for s, info in sites.items() if not info.get("well_known")}
    else:  # format 1: read it off the judge's messages
        disallowed = {s for s in sites if any(f" {s} (allowed: " in m for m in messages)}
    lanes: list[dict[str, Any]] = [
        _lane("resolver", "resolver", "the implementation under test"),
        _lane("DNS", "dns", "the world's authoritative server"),
    ]
    index = {"dns": DNS}

    def lane_of(site: str, role: str) -> int:
        if site not in index:
            info = sites.get(site, {})
            index[site] = len(lanes)
            lanes.append(_lane(site, str(info.get("role") or role), str(info.get("endpoints", ""))))
        return index[site]

    requests_of: dict[Any, list[Mapping[str, Any]]] = {}
    for e in events:
        if e.get("kind") == "request":
            requests_of.setdefault(e.get("connection"), []).append(e)
    looked_up = {  # sites asked for the well-known where the judge allowed it
        str(e.get("site")) for e in events
        if e.get("kind") == "request" and e.get("well_known") and e.get("site") not in disallowed
    }  # fmt: skip

    rows: list[dict[str, Any]] = []
    for e in events:
        kind = e.get("kind")
        t = e.get("t")
        if kind == "dns":
            rows.append(_dns(t, e))
        elif kind == "connection":
            site = str(e.get("site"))
            b = DNS if site == "dns" else lane_of(site, str(e.get("role", "unknown")))
            reqs = requests_of.get(e.get("id"), [])
            rows.append(_connection(t, e, b, _connection_tone(e, reqs, disallowed, looked_up)))
        elif kind == "request":
            b = lane_of(str(e.get("site")), str(e.get("role", "unknown")))
            tone = _request_tone(e, disallowed)
            rows += _request(t, e, b, tone)
        else:  # a kind this renderer does not know (a newer trace format)
            rows.append(_row(t, RESOLVER, RESOLVER, "other", f"{kind} event", "", "plain"))
    for row in rows:
        if row["tone"] == "wrong":
            for lane in (lanes[row["a"]], lanes[row["b"]]):
                if lane["role"] not in ("resolver", "dns"):
                    lane["state"] = "hit"
    for label in sorted(index):
        lane = lanes[index[label]]
        if lane["role"] == "decoy" and not lane["state"]:
            lane["state"] = "lookup"
    for label, info in sorted(sites.items()):
        if info.get("role") == "expected" and label not in index:
            index[label] = len(lanes)
            lanes.append(_lane(label, "expected", str(info.get("endpoints", "")), "idle"))
    quiet = [f"{label} ({info.get('role')})" for label, info in sorted(sites.items())
             if label not in index]  # fmt: skip
    return {"lanes": lanes, "rows": rows, "quiet": quiet}


def _lane(label: str, role: str, endpoints: str, state: str = "") -> dict[str, Any]:
    return {"label": label, "role": role, "endpoints": endpoints, "state": state}


def _row(
    t: Any, a: int, b: int, kind: str, text: str, note: str, tone: str,
    fail: bool = False, warn: bool = False,
) -> dict[str, Any]:  # fmt: skip
    return {"t": t, "a": a, "b": b, "kind": kind, "text": text, "note": note, "tone": tone,
            "fail": fail, "warn": warn}  # fmt: skip


def _dns(t: Any, e: Mapping[str, Any]) -> dict[str, Any]:
    over = " over TCP" if e.get("transport") == "tcp" else ""
    if e.get("readable") is False:
        raw = str(e.get("raw") or "")
        note = "; ".join(
            x for x in (str(e.get("outcome") or ""), raw and f"starts {raw[:32]}") if x
        )
        return _row(t, RESOLVER, DNS, "dns", f"unreadable DNS message{over}, {e.get('size')} bytes",
                    note, "dns", warn=True)  # fmt: skip
    outcome = str(e.get("outcome") or "")
    return _row(t, RESOLVER, DNS, "dns", f"{e.get('type')} {e.get('name')}{over}", outcome,
                "dns", warn=not outcome.startswith(DNS_NORMAL))  # fmt: skip


def endpoint(address: Any, port: Any) -> str:
    a = str(address)
    return f"[{a}]:{port}" if ":" in a else f"{a}:{port}"


def _connection(t: Any, e: Mapping[str, Any], b: int, tone: str) -> dict[str, Any]:
    where = endpoint(e.get("address"), e.get("port"))
    if e.get("site") == "dns":
        return _row(t, RESOLVER, b, "connect", f"connect {where} · DNS over TCP", "", "dns")
    fail = warn = False
    if not e.get("tls"):
        text = f"connect {where} · plain TCP server"
        first = str(e.get("first_bytes") or "")
        if first.startswith("1603"):
            note, warn = "the client sent a TLS ClientHello to a plain-HTTP server", True
        elif first:
            note, warn = f"{e.get('received')} bytes, no HTTP request", True
        else:
            note = ""
    else:
        if not e.get("client_hello"):  # a silent server takes the bytes but never reads them
            hello = "ClientHello not read" if e.get("first_bytes") else "no ClientHello"
        elif e.get("sni") is None:
            hello = "no SNI"
        else:
            hello = f"SNI {e.get('sni')}"
        text = f"connect {where} · TLS · {hello}"
        if e.get("established"):
            note = "handshake ok"
        else:
            note, fail = f"handshake failed: {e.get('error') or 'no reason given'}", True
    return _row(t, RESOLVER, b, "connect", text, note, tone, fail=fail, warn=warn)


def _request(t: Any, e: Mapping[str, Any], b: int, tone: str) -> list[dict[str, Any]]:
    host = e.get("host")
    note = "no Host header" if host is None else f"Host {host}"
    status = e.get("status")
    answer = "no response" if status is None else f"{status}"
    return [
        _row(t, RESOLVER, b, "request", f"{e.get('method')} {e.get('path')}", note, tone),
        _row(None, b, RESOLVER, "response", answer, "", tone, warn=status is None),  # no own time
    ]


def _request_tone(e: Mapping[str, Any], disallowed: set[str]) -> str:
    if e.get("well_known"):
        return "wrong" if e.get("site") in disallowed else "plain"
    return "ok" if e.get("role") == "expected" else "wrong"


def _connection_tone(
    e: Mapping[str, Any],
    requests: list[Mapping[str, Any]],
    disallowed: set[str],
    looked_up: set[str],
) -> str:
    role = e.get("role")
    if role == "expected":
        return "ok"
    tones = {_request_tone(r, disallowed) for r in requests}
    if "wrong" in tones:
        return "wrong"
    if role == "decoy":
        # reaching a decoy is wrong, unless it was only for a well-known lookup allowed there
        lookup = tones == {"plain"} or (not tones and e.get("site") in looked_up)
        return "plain" if lookup else "wrong"
    return "plain"
