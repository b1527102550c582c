/**
 * Kubernetes objects checked against the API schemas, offline, with the kubernetes-models package.
 * Its validators accept fields the schema does not know (a misspelt `readinesProbe` passes), so the object
 * is validated through a proxy that records which fields the validator read: any field it never read is
 * unknown to the schema.
 */

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface ModelClass {
  prototype: { validate(this: unknown): void };
}

// kubernetes-models is ESM only; ts-jest compiles tests to CommonJS, which would turn import() into require().
const nativeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;
// Jest's ESM loader fails ("request for './formats.js' is not in cache") when two imports share a module
// that is still loading: one import at a time.
let importing: Promise<unknown> = Promise.resolve();
function importEsm(specifier: string): Promise<Record<string, unknown>> {
  const next = importing.then(() => nativeImport(specifier));
  importing = next.catch(() => undefined);
  return next;
}

/** Wraps an object graph so that every field read through it is recorded; `unread()` lists the others. */
function readTracker() {
  const reads = new Map<object, { path: string; read: Set<string> }>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const existing = proxies.get(value);
    if (existing) return existing;
    const read = new Set<string>();
    if (!Array.isArray(value)) reads.set(value, { path, read });
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === 'string') read.add(key);
        return wrap(Reflect.get(target, key, receiver), `${path}/${String(key)}`);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  const unread = () =>
    [...reads].flatMap(([target, { path, read }]) => Object.keys(target).filter((key) => !read.has(key)).map((key) => `${path}/${key}`));
  return { wrap, unread };
}

/** The schema problems of one object (empty when valid): validation errors, then unknown fields. */
export async function kubernetesSchemaProblems(object: KubernetesObject): Promise<string[]> {
  const where = `${object.kind} ${object.metadata?.name ?? '(unnamed)'}`;
  let model: ModelClass | undefined;
  try {
    model = (await importEsm(`kubernetes-models/${object.apiVersion}/${object.kind}`))[object.kind] as ModelClass | undefined;
  } catch (err) {
    return [`${where}: no schema for ${object.apiVersion} ${object.kind} (${(err as Error).message})`];
  }
  if (!model) return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  const tracker = readTracker();
  try {
    model.prototype.validate.call(tracker.wrap(object, ''));
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  return tracker.unread().map((field) => `${where}: ${field} is not a field of ${object.apiVersion} ${object.kind}`);
}
