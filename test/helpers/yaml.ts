import { loadAll } from 'js-yaml';

/** Every non-empty document of a YAML stream (`---`-separated), parsed with js-yaml 4 (safe by default: no custom tags). */
export function parseYamlDocuments(text: string): unknown[] {
  return loadAll(text).filter((doc) => doc !== null && doc !== undefined);
}
