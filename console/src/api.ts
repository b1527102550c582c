/** The API as the console calls it: the key pair in sessionStorage only, problem+json turned into errors. */

export interface Credentials {
  readonly appKey: string;
  readonly appToken: string;
}

export interface Me {
  readonly appKey: string;
  readonly account: string;
  readonly permissions: readonly string[];
}

const STORAGE_KEY = 'mtls-ca.console.credentials';

/** The signed-in pair: this tab's sessionStorage (gone when the tab closes), never localStorage or a cookie. */
export const session = {
  load(): Credentials | null {
    try {
      const raw = sessionStorage.getItem(STORAGE_KEY);
      const parsed = raw ? (JSON.parse(raw) as Credentials) : null;
      return parsed && typeof parsed.appKey === 'string' && typeof parsed.appToken === 'string' ? parsed : null;
    } catch {
      return null;
    }
  },
  save(c: Credentials): void {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(c));
  },
  clear(): void {
    sessionStorage.removeItem(STORAGE_KEY);
  },
};

/** An answer outside 2xx, with the problem document's title and detail when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly type?: string,
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }
}

export interface RequestOptions {
  readonly method?: string;
  readonly body?: string | Uint8Array;
  readonly contentType?: string;
  readonly accept?: string;
  readonly query?: Record<string, string | number | undefined>;
}

export class Api {
  constructor(private readonly credentials: Credentials) {}

  async raw(path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = {
      'X-API-AppKey': this.credentials.appKey,
      'X-API-AppToken': this.credentials.appToken,
      Accept: options.accept ?? 'application/json',
    };
    if (options.contentType) headers['Content-Type'] = options.contentType;
    const res = await fetch(url, { method: options.method ?? 'GET', headers, body: options.body as BodyInit | undefined, cache: 'no-store', credentials: 'omit' });
    if (!res.ok) throw await problemOf(res);
    return res;
  }

  async json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return (await (await this.raw(path, options)).json()) as T;
  }

  sendJson<T>(path: string, method: string, body: unknown): Promise<T> {
    return this.json<T>(path, { method, body: JSON.stringify(body), contentType: 'application/json' });
  }

  /** Whether an optional API exists for this key (404/405: not on this server; 403: not for this key). */
  async available(path: string): Promise<boolean> {
    try {
      await this.raw(path, { query: { limit: 1 } });
      return true;
    } catch {
      return false;
    }
  }
}

async function problemOf(res: Response): Promise<ApiError> {
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      const p = (await res.json()) as { title?: string; detail?: string; type?: string };
      return new ApiError(res.status, p.title ?? res.statusText, p.detail ?? '', p.type);
    } catch {
      /* fall through */
    }
  }
  return new ApiError(res.status, res.statusText || `HTTP ${res.status}`, '');
}

export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.detail ? `${e.title}: ${e.detail}` : e.title;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Signs in: the pair is checked with GET /keys/me before it is kept. */
export async function signIn(credentials: Credentials): Promise<{ api: Api; me: Me }> {
  const api = new Api(credentials);
  const me = await api.json<Me>('/keys/me');
  session.save(credentials);
  return { api, me };
}

export function isAdmin(me: Me): boolean {
  return me.permissions.includes('admin');
}

export function may(me: Me, permission: string): boolean {
  return isAdmin(me) || me.permissions.includes(permission);
}
