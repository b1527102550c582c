/**
 * YAML documents for tests. js-yaml is what the install has (through jest's coverage tooling); its v3 API
 * names the safe loader safeLoadAll, v4 makes loadAll safe, so both are accepted.
 */
interface JsYaml {
  safeLoadAll?: (text: string) => unknown[];
  loadAll: (text: string) => unknown[];
}

const jsYaml = require('js-yaml') as JsYaml;

/** Every non-empty document of a YAML stream (`---`-separated), parsed without custom tags. */
export function parseYamlDocuments(text: string): unknown[] {
  const load = jsYaml.safeLoadAll ?? jsYaml.loadAll;
  return load.call(jsYaml, text).filter((doc) => doc !== null && doc !== undefined);
}
