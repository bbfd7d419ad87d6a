"""A toy homeserver: a real process, started from a profile like any homeserver, whose discovery is
the reference resolver's and whose DNS and trust come only from where a real server finds them
(/etc/resolv.conf, the CA file its config names).

It lets the project's tests drive `--homeserver` end to end in seconds and without Synapse, and
misbehave on purpose: `--mode` makes it fail to start, never become ready, crash after N
triggers, answer a trigger with garbage, or leave a child of its own behind. With `--cache` it
keeps its well-known cache across triggers, as real servers do, so that scenarios would interfere
without fresh names.

    python toy_homeserver.py --listen HOST:PORT --ca CA.pem [--mode MODE] [--crash-after N]
                             [--cache]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from aiohttp import web

from matrix_resolver_conformance.env import Env
from matrix_resolver_conformance.reference.resolver import ReferenceResolver

MODES = ("ok", "exit-at-start", "never-ready", "crash", "garbage", "orphan")
KEY_PATH = "/_matrix/key/v2/server"


def nameserver(path: str = "/etc/resolv.conf") -> str:
    """The first `nameserver` of resolv.conf: where a real server's stub resolver asks."""
    with open(path, encoding="ascii") as f:
        for line in f:
            fields = line.split()
            if fields[:1] == ["nameserver"] and len(fields) > 1:
                return fields[1]
    raise SystemExit(f"toy: no nameserver in {path}")


class Toy:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.env = Env((nameserver(), 53), args.ca, path=KEY_PATH, timeout=1.0)
        self.triggers = 0
        self.resolver: ReferenceResolver | None = None

    def _resolver(self) -> ReferenceResolver:
        if self.resolver is None or not self.args.cache:
            self.resolver = ReferenceResolver(self.env)
        return self.resolver

    async def versions(self, request: web.Request) -> web.StreamResponse:
        if self.args.mode == "never-ready":
            return web.json_response({"errcode": "M_UNKNOWN"}, status=503)
        return web.json_response({"versions": ["v1.11"]})

    async def key_query(self, request: web.Request) -> web.StreamResponse:
        self.triggers += 1
        if self.args.mode == "crash" and self.triggers > self.args.crash_after:
            print(f"toy: crashing at trigger {self.triggers}", flush=True)
            os._exit(9)
        if self.args.mode == "garbage":
            transport = request.transport
            assert transport is not None
            transport.write(b"\x00\xffnot http at all\r\n\r\n")
            transport.close()
            return web.Response()
        if self.args.mode == "orphan" and self.triggers == 1:
            sleeper = "import time; time.sleep(3600)"  # its own session: not the server's group
            subprocess.Popen([sys.executable, "-c", sleeper, self.args.orphan_marker],
                             start_new_session=True)  # fmt: skip
        body: dict[str, Any] = await request.json()
        results = []
        for target in body.get("server_keys", {}):
            try:
                response = await self._resolver()(target)
                results.append({"server": target, "status": response.status})
            except Exception as e:  # a failed fetch is an empty answer, as a notary gives
                results.append({"server": target, "error": str(e)[:200]})
        return web.json_response({"server_keys": [], "toy": results})


async def serve(args: argparse.Namespace) -> None:
    toy = Toy(args)
    app = web.Application()
    app.router.add_get("/_matrix/client/versions", toy.versions)
    app.router.add_post("/_matrix/key/v2/query", toy.key_query)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = args.listen.rpartition(":")
    await web.TCPSite(runner, host, int(port)).start()
    print(f"toy: listening on {args.listen}, DNS {toy.env.dns_server[0]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--crash-after", type=int, default=1)
    parser.add_argument("--cache", action="store_true")
    parser.add_argument("--orphan-marker", default="toy-orphan")
    args = parser.parse_args()
    if args.mode == "exit-at-start":
        print("toy: cannot open its database (on purpose)", flush=True)
        raise SystemExit(3)
    print(json.dumps({"toy": "starting", "pid": os.getpid()}), flush=True)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
