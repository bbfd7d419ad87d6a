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
import { createRequire } from 'node:module';
import { useFakeSystemResolver } from './lookup.mjs';
import { serve } from './protocol.mjs';

// stdout is the protocol channel. The SDK logs with pino, whose default destination is
// `process.stdout.fd`, and libraries may console.log: send all of that to stderr (the suite shows
// its last lines when a fetch fails). LOG_LEVEL=debug makes the SDK log each discovery step.
const protocolWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
Object.defineProperty(process.stdout, 'fd', { value: 2, configurable: true });
process.env.LOG_LEVEL ??= 'debug';

// ---- The system resolver, pointed at the fake world: ./lookup.mjs ----------------------
useFakeSystemResolver(process.env.MRC_DNS_SERVER);

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
