// @rocket.chat/federation-sdk under matrix-resolver-conformance, over the subprocess protocol
// (docs/subprocess-protocol.md). The Python side is conformance/adapters/node_adapters.py, which
// starts `node rocketchat.mjs` once per scenario with, besides the MRC_* variables:
//   HOMESERVER_CONFIG_DNS_SERVERS = MRC_DNS_SERVER   the SDK's own resolver (SRV, CNAME), read at load
//   NODE_EXTRA_CA_CERTS = MRC_CA_FILE                 the fake world's CA, read by node at start-up
//
// The whole request path is the SDK's: `federationSDK.makeSignedRequest({method: 'GET', domain,
// uri})` runs its bundled discovery (well-known through global fetch, SRV, A/AAAA) and then its own
// HTTPS request with its own Host header and SNI. This script only points the process at the fake
// world and answers `status` (any HTTP response, including a non-2xx that the SDK throws as a
// FederationRequestError) or `error` (no response).
//
// Where the SDK uses the system resolver (dns.lookup / dns.promises.lookup, i.e. getaddrinfo: its
// A/AAAA lookups, and node's connect for the well-known fetch and the federation request), this
// script replaces both functions *before the SDK is loaded* with ones that ask AAAA and A of
// MRC_DNS_SERVER, the way getaddrinfo would ask the system's nameserver.
import dns from 'node:dns';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { serve } from './protocol.mjs';

// stdout is the protocol channel. The SDK logs with pino, whose default destination is
// `process.stdout.fd`, and libraries may console.log: send all of that to stderr (the suite shows
// its last lines when a fetch fails). LOG_LEVEL=debug makes the SDK log each discovery step.
const protocolWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
Object.defineProperty(process.stdout, 'fd', { value: 2, configurable: true });
process.env.LOG_LEVEL ??= 'debug';

// ---- The system resolver, pointed at the fake world ------------------------------------------
// glibc's defaults (resolv.conf timeout 5 s, 2 attempts): the SDK sets no timeout of its own.
const system = new dns.promises.Resolver({ timeout: 5000, tries: 2 });
system.setServers([process.env.MRC_DNS_SERVER]);

function lookupError(hostname, codes) {
  // getaddrinfo reports EAI_AGAIN for a server failure or timeout, ENOTFOUND otherwise.
  const transient = codes.some((c) => ['ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED'].includes(c));
  const code = transient ? 'EAI_AGAIN' : 'ENOTFOUND';
  return Object.assign(new Error(`getaddrinfo ${code} ${hostname}`),
    { code, errno: code, syscall: 'getaddrinfo', hostname });
}

async function lookupAll(hostname, options) {
  const family = typeof options === 'number' ? options : Number(options?.family ?? 0);
  if (!hostname) return []; // node's own lookup answers an empty name without asking DNS
  if (isIP(hostname)) return [{ address: hostname, family: isIP(hostname) }];
  const want = (f) => family === 0 || family === f;
  const [a, aaaa] = await Promise.allSettled([
    want(4) ? system.resolve4(hostname) : Promise.resolve([]),
    want(6) ? system.resolve6(hostname) : Promise.resolve([]),
  ]);
  const v4 = a.status === 'fulfilled' ? a.value.map((address) => ({ address, family: 4 })) : [];
  const v6 = aaaa.status === 'fulfilled' ? aaaa.value.map((address) => ({ address, family: 6 })) : [];
  if (!v4.length && !v6.length) {
    throw lookupError(hostname, [a, aaaa].map((r) => r.reason?.code).filter(Boolean));
  }
  // 'verbatim' (node's default) stands for getaddrinfo's RFC 6724 order, which ranks IPv4 above
  // the ULA (fd00::/8) IPv6 addresses of the fake world.
  return options?.order === 'ipv6first' ? [...v6, ...v4] : [...v4, ...v6];
}

dns.promises.lookup = async (hostname, options) => {
  const all = await lookupAll(hostname, options);
  return options?.all ? all : (all[0] ?? { address: null, family: 4 });
};
dns.lookup = (hostname, options, callback) => {
  if (typeof options === 'function') [callback, options] = [options, {}];
  lookupAll(hostname, options).then(
    (all) => (options?.all ? callback(null, all)
      : callback(null, all[0]?.address ?? null, all[0]?.family ?? 4)),
    (err) => callback(err),
  );
};

// ---- The SDK, loaded only now (it reads HOMESERVER_CONFIG_DNS_SERVERS at load) ----------------
const require = createRequire(import.meta.url);
const { federationSDK, generateEd25519RandomSecretKey } = require('@rocket.chat/federation-sdk');

federationSDK.setConfig({
  instanceId: 'matrix-resolver-conformance',
  serverName: 'conformance-suite.invalid', // the requesting server (signs; never a target)
  port: 8448,
  version: '0.0.0-conformance',
  matrixDomain: 'conformance-suite.invalid',
  keyRefreshInterval: 60,
  signingKeyPath: '/nonexistent/signing.key', // unused: the key is given inline
  signingKey: `ed25519 0 ${Buffer.from(generateEd25519RandomSecretKey()).toString('base64')}`,
  media: {
    maxFileSize: 1 << 20, allowedMimeTypes: [], enableThumbnails: false,
    rateLimits: { uploadPerMinute: 1, downloadPerMinute: 1 },
  },
  invite: { allowedEncryptedRooms: false, allowedNonPrivateRooms: false },
  edu: { processTyping: false, processPresence: false },
});

async function fetchOnce(serverName) {
  try {
    const response = await federationSDK.makeSignedRequest({
      method: 'GET', domain: serverName, uri: process.env.MRC_PATH,
    });
    return { status: response.status };
  } catch (e) {
    // A non-2xx answer is still an HTTP response: FederationRequestError carries it.
    if (typeof e?.response?.status === 'number') return { status: e.response.status };
    // The SDK's transport rejects with a bare message string when nothing answered.
    return { error: `${e?.name ?? 'Error'}: ${e?.message ?? String(e)}` };
  }
}

serve(fetchOnce, protocolWrite);  // the protocol loop: ./protocol.mjs
