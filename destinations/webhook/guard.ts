/**
 * Refuses webhook hosts that resolve to private, loopback, link-local, metadata or otherwise non-public
 * addresses (IPv4 and IPv6), so a sync config cannot be turned against the network it runs in. Every address
 * the name resolves to must be public. Known gap: DNS can change between this check and the connection
 * (rebinding); redirects are not followed by the HTTP client, which closes the other easy path.
 */
import dns from 'node:dns';
import ipaddr from 'ipaddr.js';

export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) =>
  (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Names that reach the cloud metadata server whatever they resolve to. */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata']);

/** Returns why the URL's host is not allowed, or undefined when every address it resolves to is public. */
export async function privateAddressProblem(
  url: string,
  resolve: Resolver = systemResolver,
): Promise<string | undefined> {
  const host = new URL(url).hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
  if (METADATA_HOSTS.has(host)) return `${host} is the metadata server`;
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is loopback`;
  let addresses: string[];
  if (ipaddr.isValid(host)) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch (error) {
      return `cannot resolve ${host}: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  if (addresses.length === 0) return `${host} resolves to no address`;
  for (const address of addresses) {
    const range = addressRange(address);
    if (range !== 'unicast') return `${host} resolves to ${address} (${range}), which is not a public address`;
  }
  return undefined;
}

/** ipaddr.js range, looking through IPv4-mapped, NAT64 and 6to4 IPv6 addresses at the IPv4 inside. */
export function addressRange(address: string): string {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return 'invalid';
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    const range = v6.range();
    if (range === 'ipv4Mapped') return addressRange(v6.toIPv4Address().toString());
    if (range === 'rfc6052' || range === '6to4') {
      const bytes = v6.toByteArray();
      // NAT64 (64:ff9b::/96) keeps the IPv4 in the last 4 bytes; 6to4 (2002::/16) in bytes 2–5.
      const v4 = range === '6to4' ? bytes.slice(2, 6) : bytes.slice(12, 16);
      return addressRange(v4.join('.'));
    }
    return range;
  }
  return parsed.range();
}
