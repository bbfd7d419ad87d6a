#!/usr/bin/env node
// A Matrix federation server-name resolver ("Resolving server names", spec v1.8+, steps 1-6) in
// plain Node.js, speaking matrix-resolver-conformance's subprocess protocol (see
// docs/subprocess-protocol.md). No npm dependencies: DNS from node:dns on MRC_DNS_SERVER, TLS and
// HTTP from node:https trusting only MRC_CA_FILE. It makes every request itself.
//
//   pytest --pyargs conformance --resolver="exec:node docs/examples/node-resolver/resolver.mjs"
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { isIP, isIPv6 } from 'node:net';
import { createInterface } from 'node:readline';
import { checkServerIdentity } from 'node:tls';

const TIMEOUT = Number(process.env.MRC_TIMEOUT || '1') * 1000; // ms allowed for any one step
const CA = readFileSync(process.env.MRC_CA_FILE);
const FED_PATH = process.env.MRC_PATH || '/_matrix/federation/v1/version';
const WELL_KNOWN_PORT = Number(process.env.MRC_WELL_KNOWN_PORT || '443');
const WELL_KNOWN_PATH = '/.well-known/matrix/server';
const DEFAULT_PORT = 8448;
const HOUR = 3600 * 1000;

const dns = new Resolver({ timeout: TIMEOUT, tries: 1 });
dns.setServers([process.env.MRC_DNS_SERVER]); // "127.16.0.2:5353" or "[fd00:5e::2]:5353"

class Invalid extends Error {} // not a server name: refused before any traffic
class ConnectFailed extends Error {} // TCP or TLS failed: the next address or SRV target may do

// ---- Server names (appendix grammar): hostname [":" port] ------------------------------
function parsePort(text, portText) {
  if (portText === undefined) return undefined;
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) throw new Invalid(`${text}: bad port ${JSON.stringify(portText)}`);
  return port;
}

function parseServerName(text) {
  if (typeof text !== 'string' || !text) throw new Invalid('empty server name');
  if (text.startsWith('[')) { // IPv6 literal
    const end = text.indexOf(']');
    const host = text.slice(1, end);
    const rest = end < 0 ? '' : text.slice(end + 1);
    if (end < 0 || !/^[0-9A-Fa-f:.]+$/.test(host) || !isIPv6(host)) {
      throw new Invalid(`${text}: not an IPv6 literal`);
    }
    if (rest && !rest.startsWith(':')) throw new Invalid(`${text}: junk after ']'`);
    const port = parsePort(text, rest ? rest.slice(1) : undefined);
    return { kind: 'ip', host, address: host, port };
  }
  const [host, portText, extra] = text.split(':');
  if (extra !== undefined) throw new Invalid(`${text}: IPv6 literals need brackets`);
  const port = parsePort(text, portText);
  if (/^[0-9]+(\.[0-9]+){3}$/.test(host)) { // IPv4 literal (a host name is never #.#.#.#)
    const parts = host.split('.').map(Number);
    if (host.split('.').some((p) => p.length > 3) || parts.some((p) => p > 255)) {
      throw new Invalid(`${text}: bad IPv4 address`);
    }
    return { kind: 'ip', host, address: parts.join('.'), port };
  }
  const labels = (host.endsWith('.') ? host.slice(0, -1) : host).split('.');
  if (!host || host.length > 255 || !/^[A-Za-z0-9.-]+$/.test(host) ||
      labels.some((l) => l.length === 0 || l.length > 63)) {
    throw new Invalid(`${text}: not a valid DNS name`);
  }
  return { kind: 'dns', host, tlsName: host.replace(/\.$/, ''), port };
}

// ---- DNS ---------------------------------------------------------------------------------
async function addresses(name) { // CNAME, AAAA and A (c-ares follows the CNAME chain)
  const results = await Promise.allSettled([dns.resolve4(name), dns.resolve6(name)]);
  const found = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  if (found.length) return found;
  const why = results.map((r) => r.reason?.code || 'no records').join('/');
  throw new ConnectFailed(`no address for ${name} (A/AAAA: ${why})`);
}

async function srv(qname) { // records, or null when absent; any other failure stops discovery
  try {
    return await dns.resolveSrv(qname);
  } catch (e) {
    if (e.code === 'ENOTFOUND' || e.code === 'ENODATA') return null;
    throw new Error(`SRV ${qname}: ${e.code || e.message}`);
  }
}

function orderSrv(records) { // RFC 2782: lowest priority first, weighted random within one
  const out = [];
  for (const prio of [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b)) {
    const group = records.filter((r) => r.priority === prio);
    while (group.length) {
      let pick = Math.random() * group.reduce((sum, r) => sum + r.weight, 0);
      let i = 0;
      while (i < group.length - 1 && (pick -= group[i].weight) >= 0) i++;
      out.push(group.splice(i, 1)[0]);
    }
  }
  return out;
}

// ---- HTTPS -------------------------------------------------------------------------------
// One GET to address:port; TLS checked against tlsName (SNI only when it is a name); Host verbatim.
function get(address, port, tlsName, host, path, maxBody = 0) {
  const where = `${isIPv6(address) ? `[${address}]` : address}:${port}`;
  return new Promise((resolve, reject) => {
    let connected = false;
    const fail = (e) => reject(connected ? new Error(`${where}: ${e.message}`)
      : new ConnectFailed(`${where}: ${e.message}`));
    const req = https.request({
      host: address, port, path, method: 'GET', agent: false, ca: CA,
      servername: isIP(tlsName) ? '' : tlsName, // '' = no SNI for IP literals
      checkServerIdentity: (_, cert) => checkServerIdentity(tlsName, cert),
      headers: { Host: host, Accept: 'application/json', Connection: 'close' },
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response in ${TIMEOUT} ms`)), TIMEOUT);
    req.on('socket', (s) => s.on('secureConnect', () => { connected = true; }));
    req.on('error', (e) => { clearTimeout(timer); fail(e); });
    req.on('response', (res) => {
      if (!maxBody) {
        clearTimeout(timer);
        resolve({ status: res.statusCode });
        res.destroy();
        return;
      }
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > maxBody) req.destroy(new Error(`body larger than ${maxBody} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.end();
  });
}

async function request(addrs, port, tlsName, host, path = FED_PATH, maxBody = 0) {
  const failures = [];
  for (const address of addrs) { // the first address that connects answers
    try {
      return await get(address, port, tlsName, host, path, maxBody);
    } catch (e) {
      if (!(e instanceof ConnectFailed)) throw e;
      failures.push(e.message);
    }
  }
  throw new ConnectFailed(failures.join('; ') || `no address for ${tlsName}`);
}

// ---- Step 3: the well-known (30x followed, at most 5, https only, no loops; cached) ---
const wellKnownCache = new Map(); // hostname -> { result, expires }

function cacheFor(headers) {
  const cc = String(headers['cache-control'] || '').toLowerCase();
  if (/(^|[ ,])no-(store|cache)\b/.test(cc)) return 0;
  const maxAge = /(?:^|[ ,])max-age=(\d+)/.exec(cc);
  if (maxAge) return Math.min(Number(maxAge[1]) * 1000, 48 * HOUR);
  if (headers.expires !== undefined) { // only without max-age; invalid (e.g. "0"): expired
    const when = Date.parse(String(headers.expires));
    return Number.isNaN(when) ? 0 : Math.min(Math.max(when - Date.now(), 0), 48 * HOUR);
  }
  return 24 * HOUR;
}

// JSON.parse keeps the last of repeated names; which delegate is meant is then undetermined
// (RFC 8259 section 4), so a document that repeats `m.server` is invalid.
// Only called on text JSON.parse accepted.
function repeatsMServer(text) {
  let depth = 0;
  let seen = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const name = JSON.parse(text.slice(i, j + 1));
      i = j;
      let k = j + 1;
      while (' \t\r\n'.includes(text[k])) k++;
      if (depth === 1 && text[k] === ':' && name === 'm.server') seen++;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return seen > 1;
}

async function fetchWellKnown(hostname) {
  let target = { host: hostname, port: WELL_KNOWN_PORT, hostHeader: hostname,
    path: WELL_KNOWN_PATH };
  const seen = new Set();
  for (let hop = 0; hop <= 5; hop++) {
    const url = `https://${target.hostHeader}${target.path}`;
    if (seen.has(url)) throw new Error(`redirect loop at ${url}`);
    seen.add(url);
    const ip = isIP(target.host) ? target.host : null;
    const addrs = ip ? [ip] : await addresses(target.host);
    const res = await request(addrs, target.port, target.host, target.hostHeader, target.path,
      64 * 1024);
    if ([301, 302, 303, 307, 308].includes(res.status) && res.headers.location) {
      const next = new URL(res.headers.location, url);
      if (next.protocol !== 'https:' || next.username) throw new Error(`refusing ${next}`);
      const host = next.hostname.replace(/^\[(.*)\]$/, '$1');
      target = { host, port: next.port ? Number(next.port) : WELL_KNOWN_PORT,
        hostHeader: next.host, path: next.pathname + next.search };
      continue;
    }
    if (res.status !== 200) throw new Error(`${url}: status ${res.status}`);
    let doc;
    const body = res.body.toString('utf8');
    try {
      doc = JSON.parse(body);
    } catch {
      throw new Error(`${url}: bad JSON`);
    }
    if (repeatsMServer(body)) throw new Error(`${url}: m.server given more than once`);
    if (typeof doc?.['m.server'] !== 'string' || Array.isArray(doc)) {
      throw new Error(`${url}: no m.server string`);
    }
    const text = doc['m.server'];
    return { server: parseServerName(text), text, ttl: cacheFor(res.headers) };
  }
  throw new Error('more than 5 redirects');
}

async function wellKnown(hostname) { // { server, text } or { error }; never throws
  const cached = wellKnownCache.get(hostname);
  if (cached && Date.now() < cached.expires) return cached.result;
  let result;
  let ttl;
  try {
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT} ms`)), TIMEOUT);
    });
    result = await Promise.race([fetchWellKnown(hostname), deadline])
      .finally(() => clearTimeout(timer));
    ttl = result.ttl;
  } catch (e) {
    result = { error: e.message };
    ttl = HOUR; // errors: cached for up to an hour
  }
  if (ttl > 0) wellKnownCache.set(hostname, { result, expires: Date.now() + ttl });
  return result;
}

// ---- Steps 1-6 ---------------------------------------------------------------------------
async function viaSrv(records, name) { // TLS name and Host: the name, never the target
  if (records.length === 1 && (records[0].name === '' || records[0].name === '.')) {
    throw new Error(`SRV for ${name.host}: service decidedly not available ('.')`);
  }
  const failures = [];
  for (const r of orderSrv(records.filter((x) => x.name !== '' && x.name !== '.'))) {
    try {
      return await request(await addresses(r.name), r.port, name.tlsName, name.host);
    } catch (e) {
      if (!(e instanceof ConnectFailed)) throw e;
      failures.push(`${r.name}:${r.port}: ${e.message}`);
    }
  }
  throw new Error(`no SRV target reachable: ${failures.join('; ')}`);
}

async function srvOrDefault(name) { // steps 3.3-3.5 (delegated name) or 4-6 (hostname)
  for (const service of ['_matrix-fed._tcp.', '_matrix._tcp.']) { // the second is deprecated
    const records = await srv(service + name.host);
    if (records && records.length) return viaSrv(records, name);
  }
  return request(await addresses(name.host), DEFAULT_PORT, name.tlsName, name.host);
}

async function resolve(serverName) {
  const name = parseServerName(serverName);
  if (name.kind === 'ip') { // step 1: the literal, its port or 8448; Host = the server name
    return request([name.address], name.port ?? DEFAULT_PORT, name.address, serverName);
  }
  if (name.port) { // step 2: the name's address, its port; Host = the server name
    return request(await addresses(name.host), name.port, name.tlsName, serverName);
  }
  const wk = await wellKnown(name.host); // step 3
  if (!wk.server) return srvOrDefault(name); // steps 4-6
  const d = wk.server; // 3.1: an IP literal; 3.2: a name with a port; 3.3-3.5: a bare name
  if (d.kind === 'ip') return request([d.address], d.port ?? DEFAULT_PORT, d.address, wk.text);
  if (d.port) return request(await addresses(d.host), d.port, d.tlsName, wk.text);
  return srvOrDefault(d);
}

// ---- The protocol: one JSON request per line on stdin, one answer per line on stdout ------
let queue = Promise.resolve();
const answer = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
createInterface({ input: process.stdin, crlfDelay: Infinity })
  .on('line', (line) => {
    queue = queue.then(async () => {
      let id;
      try {
        const request = JSON.parse(line);
        id = request.id;
        answer({ id, status: (await resolve(request.fetch)).status });
      } catch (e) {
        answer({ id, error: `${e.constructor.name}: ${e.message}` });
      }
    });
  })
  .on('close', () => queue.finally(() => process.exit(0)));
