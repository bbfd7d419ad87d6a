// The stand-in for the system resolver (getaddrinfo), shared by the npm adapters: node's
// `dns.lookup` and `dns.promises.lookup` answered by A/AAAA queries to the fake world's DNS
// server, so the libraries' own code paths (well-known fetch, connect by name) stay unchanged.
import dns from 'node:dns';
import { isIP } from 'node:net';

// glibc's defaults (resolv.conf timeout 5 s, 2 attempts): the libraries set no timeout of their own.
const system = new dns.promises.Resolver({ timeout: 5000, tries: 2 });

function lookupError(hostname, codes) {
  // getaddrinfo reports EAI_AGAIN for a server failure or timeout, ENOTFOUND otherwise.
  const transient = codes.some((c) => ['ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED'].includes(c));
  const code = transient ? 'EAI_AGAIN' : 'ENOTFOUND';
  return Object.assign(new Error(`getaddrinfo ${code} ${hostname}`),
    { code, errno: code, syscall: 'getaddrinfo', hostname });
}

export async function lookupAll(hostname, options) {
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

// Point node's lookups at `server` ("host:port"). Call before requiring the library.
export function useFakeSystemResolver(server) {
  system.setServers([server]);
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
}
