/**
 * The one normalisation of a request target the gateway does: the allow-list is checked on its result
 * and the upstream gets exactly that path (plus the query string as sent), so no later decoding can
 * turn an allowed path into another one.
 *
 * - origin form (`/a/b?q`) is read as is; absolute form (`http://host/a/b?q`) is unwrapped and its
 *   authority ignored (the upstream always sees GATEWAY_UPSTREAM's host); `*`, authority form and
 *   any other scheme are refused, as is a fragment;
 * - `%XX` of an unreserved character (`A-Z a-z 0-9 - . _ ~`) is decoded, every other `%XX` is kept with
 *   upper-case hex; characters a URI may not hold raw (`"<>^\`{|}`) are percent-encoded;
 * - refused (400): an encoded `/` (`%2F`) or `\` (`%5C`), a raw `\`, an encoded control character
 *   (`%00`-`%1F`, `%7F`), an encoded `%` that starts another escape (`%252e`: double encoding),
 *   invalid percent-encoding, encoded bytes that are not UTF-8 (overlong forms such as `%C0%AE`
 *   included), and a dot segment carrying parameters (`..;x`, which servlet containers read as `..`);
 * - runs of `/` are collapsed to one, then dot segments are removed (RFC 3986, 5.2.4).
 */
export type RequestTarget = { readonly ok: true; readonly path: string; readonly query: string } | { readonly ok: false; readonly detail: string };

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** Characters a path may hold raw: unreserved, sub-delims, ':' and '@' (and '/', handled apart). */
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const refused = (detail: string): RequestTarget => ({ ok: false, detail });
const hex = (byte: number) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;

export function normalizeRequestTarget(target: string): RequestTarget {
  let rest = target;
  if (!rest.startsWith('/')) {
    const absolute = ABSOLUTE_FORM.exec(rest);
    if (!absolute) return refused('the request target must be a path such as /a/b (or an http(s) URL)');
    rest = rest.slice(absolute[0].length);
    if (!rest.startsWith('/')) rest = `/${rest}`;
  }
  if (rest.includes('#')) return refused('the request target must not carry a fragment (#)');
  const q = rest.indexOf('?');
  const decoded = decodePath(q < 0 ? rest : rest.slice(0, q));
  if (!decoded.ok) return decoded;
  const path = removeDotSegments(decoded.path);
  if (typeof path !== 'string') return path;
  return { ok: true, path, query: q < 0 ? '' : rest.slice(q) };
}

/** Percent-encoding normalisation (RFC 3986, 6.2.2.2) with the refusals listed above. */
function decodePath(raw: string): RequestTarget {
  let out = '';
  let highBytes: number[] = [];
  const flushHighBytes = (): boolean => {
    if (highBytes.length === 0) return true;
    try {
      strictUtf8.decode(Uint8Array.from(highBytes));
    } catch {
      return false;
    }
    out += highBytes.map(hex).join('');
    highBytes = [];
    return true;
  };
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    let byte: number;
    if (ch === '%') {
      const pair = raw.slice(i + 1, i + 3);
      if (!HEX2.test(pair)) return refused('the path holds an invalid percent-encoding');
      byte = Number.parseInt(pair, 16);
      i += 2;
      if (byte === 0x2f) return refused('the path must not hold an encoded slash (%2F)');
      if (byte === 0x5c) return refused('the path must not hold an encoded backslash (%5C)');
      if (byte < 0x20 || byte === 0x7f) return refused('the path must not hold an encoded control character such as %00');
      if (byte === 0x25 && HEX2.test(raw.slice(i + 1, i + 3))) return refused('the path must not be percent-encoded twice (%25XX)');
    } else {
      byte = ch.charCodeAt(0);
      if (byte > 0xff) return refused('the path holds a character that is not a byte');
      if (ch === '\\') return refused('the path must not hold a backslash');
      if (byte < 0x20 || byte === 0x7f) return refused('the path must not hold a control character');
      if (ch === '/' || PCHAR.test(ch)) {
        if (!flushHighBytes()) return refused('the path holds percent-encoded bytes that are not UTF-8');
        out += ch;
        continue;
      }
    }
    if (byte >= 0x80) {
      highBytes.push(byte);
      continue;
    }
    if (!flushHighBytes()) return refused('the path holds percent-encoded bytes that are not UTF-8');
    const char = String.fromCharCode(byte);
    out += UNRESERVED.test(char) ? char : hex(byte);
  }
  if (!flushHighBytes()) return refused('the path holds percent-encoded bytes that are not UTF-8');
  return { ok: true, path: out, query: '' };
}

/** Collapses runs of '/', then RFC 3986 remove_dot_segments; a path starting with '/' stays absolute. */
function removeDotSegments(path: string): string | RequestTarget {
  const segments = path.slice(1).split('/');
  const kept = segments.filter((s, i) => s !== '' || i === segments.length - 1);
  const out: string[] = [];
  kept.forEach((segment, i) => {
    const last = i === kept.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push('');
    } else out.push(segment);
  });
  if (kept.some((s) => /^\.\.?(;|%3B)/i.test(s))) return refused('the path must not hold a dot segment with parameters (..;)');
  return `/${out.join('/')}`;
}
