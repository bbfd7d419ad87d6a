// matrix-appservice-bridge's MatrixHostResolver under matrix-resolver-conformance, over the
// subprocess protocol (docs/subprocess-protocol.md). The Python side is
// conformance/adapters/node_adapters.py, which starts `node appservice_bridge.mjs` once per scenario
// with, besides the MRC_* variables, NODE_EXTRA_CA_CERTS = MRC_CA_FILE (read by node at start-up).
//
// The library resolves; it makes no federation request itself (its callers do, e.g. the
// provisioning API: `fetch(new URL(path, url), {headers: {Host: hostHeader}})`). So this script
// answers with a `plan` that the suite carries out exactly:
//
//   resolveMatrixServer(name) -> { url, hostHeader }
//   host     = hostHeader, verbatim
//   port     = url.port, or 443 when the URL has none (the WHATWG URL drops https' default port)
//   tls_name = url.hostname (brackets removed from an IPv6 literal): what a caller's HTTPS client
//              sends as SNI and checks the certificate against, since it connects to the URL
//   address  = url.hostname when it is an IP literal; otherwise the A then AAAA answers for it from
//              MRC_DNS_SERVER, in that order (what a caller's getaddrinfo would return), tried in
//              order by the suite
//
// The library's own I/O is pointed at the fake world and otherwise left as it is:
//   - `dns: {resolveSrv}` is a node Resolver on MRC_DNS_SERVER with node's default options;
//   - the well-known request uses the library's default, node's global fetch (redirects followed
//     as fetch does), with the fake CA from NODE_EXTRA_CA_CERTS and dns.lookup replaced (below)
//     by A/AAAA queries to MRC_DNS_SERVER, the stand-in for the system resolver.
//
// Loading: the package index pulls a native crypto module whose binary is downloaded by an install
// script, so `require('matrix-appservice-bridge')` fails. The resolver needs only `Logger` from the
// index: the index is pre-seeded in require.cache with a stub, and lib/utils/matrix-host-resolver.js
// is required directly. The stub logs to stderr (the suite shows the last lines on failure).
import dns from 'node:dns';
import Module, { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { lookupAll, useFakeSystemResolver } from './lookup.mjs';
import { serve } from './protocol.mjs';

const protocolWrite = process.stdout.write.bind(process.stdout); // stdout: the protocol only
process.stdout.write = process.stderr.write.bind(process.stderr);

// ---- The system resolver, pointed at the fake world: ./lookup.mjs ----------------------
useFakeSystemResolver(process.env.MRC_DNS_SERVER);

// ---- The library, with its index stubbed ----------------------------------------------------
const require = createRequire(import.meta.url);
class Logger {
  constructor(name) { this.name = name; }
  log(level, args) {
    const text = args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
    process.stderr.write(`[${this.name}] ${level}: ${text}\n`);
  }
  debug(...args) { this.log('debug', args); }
  info(...args) { this.log('info', args); }
  warn(...args) { this.log('warn', args); }
  error(...args) { this.log('error', args); }
}
const resolverPath = require.resolve('matrix-appservice-bridge/lib/utils/matrix-host-resolver.js');
const indexPath = require.resolve('matrix-appservice-bridge/lib/index.js');
const stub = new Module(indexPath);
Object.assign(stub, { filename: indexPath, loaded: true, exports: { Logger } });
require.cache[indexPath] = stub;
const { MatrixHostResolver } = require(resolverPath);

const srvResolver = new dns.promises.Resolver(); // node's defaults, as the library's own default
srvResolver.setServers([process.env.MRC_DNS_SERVER]);
const hostResolver = new MatrixHostResolver({
  dns: { resolveSrv: (name) => srvResolver.resolveSrv(name) },
  fetch: (...args) => globalThis.fetch(...args), // the library's default, made explicit
});

async function planFor(serverName) {
  const { url, hostHeader } = await hostResolver.resolveMatrixServer(serverName);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : 443;
  let address;
  if (isIP(host)) {
    address = host;
  } else {
    try {
      address = (await lookupAll(host, { all: true })).map((a) => a.address);
      if (!address.length) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
    } catch (e) {
      return { error: `the library resolved ${serverName} to ${url} (Host ${hostHeader}), `
        + `and ${host} has no address: ${e.message}` };
    }
  }
  return { plan: { address, port, host: hostHeader, tls_name: host } };
}

async function answerFor(serverName) {
  try {
    return await planFor(serverName);
  } catch (e) {
    return { error: `${e?.name ?? 'Error'}: ${e?.message ?? String(e)}` };
  }
}

serve(answerFor, protocolWrite);  // the protocol loop: ./protocol.mjs
