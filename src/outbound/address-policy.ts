import ipaddr from 'ipaddr.js';

/**
 * Which resolved addresses the outgoing side may connect to (the "No SSRF" rule of issue 13).
 *
 * Only globally routable unicast is allowed by default: ipaddr.js's `range()` must be exactly 'unicast'.
 * Everything else — loopback, RFC 1918 private, link-local 169.254.0.0/16 (cloud metadata), CGNAT
 * 100.64.0.0/10, 0.0.0.0/8, broadcast, multicast, reserved, unique-local fc00::/7, fe80::/10, ::, ::1,
 * IPv4-mapped ::ffff:0:0/96, IPv4-translated, NAT64 64:ff9b::/96, 6to4 and Teredo — is refused unless one
 * of `allowedNetworks` (CIDRs, EGRESS_ALLOWED_NETWORKS) contains the address. An IPv6 address embedding an
 * IPv4 one (mapped or compatible ::a.b.c.d) is also checked as that IPv4 address, so a CIDR such as
 * 127.0.0.1/32 allows ::ffff:127.0.0.1 too, and ::ffff:10.0.0.1 is never mistaken for a public address.
 */
export class AddressPolicy {
  private readonly allowed: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;

  constructor(allowedNetworks: readonly string[] = []) {
    this.allowed = allowedNetworks.map((cidr) => parseCidr(cidr));
  }

  /** Why `address` (a literal IP) is refused, or null when it may be connected to. */
  refusal(address: string): string | null {
    if (!ipaddr.isValid(address)) return `"${address}" is not an IP address`;
    const parsed = ipaddr.parse(address);
    const forms = [parsed];
    if (parsed.kind() === 'ipv6') {
      const v6 = parsed as ipaddr.IPv6;
      if (v6.isIPv4MappedAddress()) forms.push(v6.toIPv4Address());
      else if (v6.parts.slice(0, 6).every((p) => p === 0) && (v6.parts[6] !== 0 || v6.parts[7] > 1)) {
        // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
        forms.push(ipaddr.fromByteArray(v6.toByteArray().slice(12)) as ipaddr.IPv4);
      }
    }
    if (forms.some((f) => this.allowed.some(([net, bits]) => f.kind() === net.kind() && f.match(net, bits)))) return null;
    const ranges = forms.map((f) => f.range());
    const special = ranges.find((r) => r !== 'unicast');
    if (special === undefined && forms.length === 1) return null;
    return `${address} is a ${special ?? 'IPv4-embedding'} address (not allowed by EGRESS_ALLOWED_NETWORKS)`;
  }
}

/** Parses one CIDR (or a bare address, taken as /32 or /128); throws Error on anything else. */
export function parseCidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const trimmed = text.trim();
  if (!trimmed.includes('/')) {
    if (!ipaddr.isValid(trimmed)) throw new Error(`"${text}" is not a CIDR or an IP address`);
    const ip = ipaddr.parse(trimmed);
    return [ip, ip.kind() === 'ipv4' ? 32 : 128];
  }
  try {
    return ipaddr.parseCIDR(trimmed);
  } catch {
    throw new Error(`"${text}" is not a CIDR (e.g. 10.0.0.0/8, 127.0.0.1/32, fd00::/8)`);
  }
}
