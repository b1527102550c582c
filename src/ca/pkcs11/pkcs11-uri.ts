/**
 * PKCS#11 URIs (RFC 7512), reduced to what naming a CA key needs:
 *   pkcs11:token=mtls-ca;object=ca-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/pin
 * Path attributes: token, serial, manufacturer, model, slot-id (which token); object (CKA_LABEL),
 * id (CKA_ID, percent-encoded bytes), type (only `private`). Query attributes: module-path,
 * pin-value, pin-source (`file:` only). Anything else, and any attribute given twice, is refused.
 */
export interface Pkcs11Uri {
  readonly token?: string;
  readonly serial?: string;
  readonly manufacturer?: string;
  readonly model?: string;
  readonly slotId?: number;
  /** CKA_LABEL of the key pair. */
  readonly object?: string;
  /** CKA_ID of the key pair. */
  readonly id?: Buffer;
  readonly modulePath: string;
  readonly pinValue?: string;
  /** The file the PIN is read from (pin-source=file:…). */
  readonly pinFile?: string;
}

export class Pkcs11UriError extends Error {
  override readonly name = 'Pkcs11UriError';
}

const PATH_ATTRIBUTES = new Set(['token', 'serial', 'manufacturer', 'model', 'slot-id', 'object', 'id', 'type']);
const QUERY_ATTRIBUTES = new Set(['module-path', 'pin-value', 'pin-source']);
/** Defined by RFC 7512 but not supported here: named so the error says so. */
const UNSUPPORTED = new Set(['library-manufacturer', 'library-description', 'library-version', 'slot-description', 'slot-manufacturer', 'module-name']);

function fail(message: string): never {
  throw new Pkcs11UriError(`CA_KEY_PKCS11_URI: ${message}`);
}

/** Percent-decodes to bytes; a `%` must be followed by two hex digits. */
function percentDecode(value: string, name: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '%') {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail(`${name} has a "%" not followed by two hex digits`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

function text(bytes: Buffer, name: string): string {
  const s = bytes.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(bytes)) fail(`${name} is not UTF-8`);
  return s;
}

/**
 * `secret`: the URI holds a pin-value, so a name we do not know may be a piece of the PIN (one with an
 * unencoded `&` or `;`: `pin-value=ab&cd=ef`) and is not echoed.
 */
function attributes(part: string, separator: string, allowed: Set<string>, where: string, secret: boolean): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (part === '') return out;
  for (const item of part.split(separator)) {
    const eq = item.indexOf('=');
    if (eq <= 0) fail(`an attribute of the ${where} is not name=value`); // the text may be a PIN: not echoed
    const name = item.slice(0, eq).toLowerCase();
    if (UNSUPPORTED.has(name)) fail(`the attribute "${name}" is not supported`);
    if (!allowed.has(name)) {
      const other = allowed === PATH_ATTRIBUTES ? QUERY_ATTRIBUTES : PATH_ATTRIBUTES;
      if (other.has(name)) fail(`"${name}" belongs in the ${where === 'path' ? 'query (after "?")' : 'path (before "?")'}`);
      fail(secret ? 'an unknown attribute (is a "&" or ";" in pin-value not percent-encoded as %26 or %3B?)' : `unknown attribute "${name}"`);
    }
    if (out.has(name)) fail(`the attribute "${name}" is given twice`);
    out.set(name, percentDecode(item.slice(eq + 1), name));
  }
  return out;
}

export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!/^pkcs11:/i.test(uri)) fail('must start with "pkcs11:"');
  const rest = uri.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const secret = /pin-value/i.test(uri);
  const path = attributes(q < 0 ? rest : rest.slice(0, q), ';', PATH_ATTRIBUTES, 'path', secret);
  const query = attributes(q < 0 ? '' : rest.slice(q + 1), '&', QUERY_ATTRIBUTES, 'query', secret);
  const get = (m: Map<string, Buffer>, name: string) => {
    const v = m.get(name);
    return v === undefined ? undefined : text(v, name);
  };

  const type = get(path, 'type');
  if (type !== undefined && type !== 'private') fail(`type=${type}: the CA key is a private key (type=private, or leave it out)`);
  const slot = get(path, 'slot-id');
  if (slot !== undefined && !/^\d{1,10}$/.test(slot)) fail('slot-id must be a decimal number');
  const modulePath = get(query, 'module-path');
  if (!modulePath) fail('module-path is required (e.g. ?module-path=/usr/lib/softhsm/libsofthsm2.so)');
  const pinSource = get(query, 'pin-source');
  let pinFile: string | undefined;
  if (pinSource !== undefined) {
    const m = /^file:(?:\/\/)?(\/.*)$/.exec(pinSource);
    if (!m) fail('pin-source must be a file: URI with an absolute path (pin-source=file:/run/secrets/pin)');
    pinFile = m[1];
  }
  const pinValue = get(query, 'pin-value');
  if (pinValue !== undefined && pinFile !== undefined) fail('give pin-value or pin-source, not both');

  const parsed: Pkcs11Uri = {
    token: get(path, 'token'),
    serial: get(path, 'serial'),
    manufacturer: get(path, 'manufacturer'),
    model: get(path, 'model'),
    slotId: slot === undefined ? undefined : Number(slot),
    object: get(path, 'object'),
    id: path.get('id'),
    modulePath,
    pinValue,
    pinFile,
  };
  if (parsed.token === undefined && parsed.serial === undefined && parsed.slotId === undefined) fail('name the token (token=…, serial=… or slot-id=…)');
  if (parsed.object === undefined && parsed.id === undefined) fail('name the key (object=… and/or id=…)');
  if (parsed.id !== undefined && parsed.id.length === 0) fail('id is empty');
  return parsed;
}

/** The URI without its PIN, for logs and messages. */
export function describePkcs11Uri(uri: Pkcs11Uri): string {
  const enc = (s: string) => encodeURIComponent(s);
  const path = [
    uri.token !== undefined && `token=${enc(uri.token)}`,
    uri.serial !== undefined && `serial=${enc(uri.serial)}`,
    uri.slotId !== undefined && `slot-id=${uri.slotId}`,
    uri.object !== undefined && `object=${enc(uri.object)}`,
    uri.id !== undefined && `id=${[...uri.id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`,
  ].filter(Boolean);
  return `pkcs11:${path.join(';')}?module-path=${uri.modulePath}`;
}
