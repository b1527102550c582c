import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const runtimeDeps = new Set(Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }));
const devDeps = new Set(Object.keys(pkg.devDependencies ?? {}));

/** Declared before any code imports them. */
const NOT_YET_IMPORTED: string[] = [
  // installed for the trust-over-time and outgoing-half work (issues 12 and 13); each leaves this list when imported
  "@peculiar/asn1-ecc", "@peculiar/asn1-ocsp", "@peculiar/asn1-pkcs9", "busboy",
];
/** Imported by tests without being declared (none today). */
const UNDECLARED_IN_TESTS: string[] = [];

/** Package names a directory's .ts/.js files import or require (relative paths and Node built-ins left out). */
function importedPackages(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const files = (readdirSync(path.join(root, dir), { recursive: true }) as string[]).filter((f) => /\.(ts|js|mjs|cjs)$/.test(f));
  for (const file of files) {
    const text = readFileSync(path.join(root, dir, file), 'utf8');
    // static imports (not `import type`), side-effect imports, dynamic imports, require and require.resolve
    const statements = /^\s*import\s+(?!type\s)(?:[^;'"]*?\sfrom\s+)?['"]([^'"\s]+)['"]|\bimport\(\s*['"]([^'"\s]+)['"]|\brequire(?:\.resolve)?\(\s*['"]([^'"\s]+)['"]/gm;
    for (const m of text.matchAll(statements)) {
      const specifier = m[1] ?? m[2] ?? m[3];
      if (specifier.startsWith('.')) continue;
      if (specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0])) continue;
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
      if (!found.has(name)) found.set(name, `${dir}/${file}`);
    }
  }
  return found;
}

describe('package.json dependencies', () => {
  it('declares every package the service imports as a runtime dependency (the image has no devDependencies)', () => {
    const service = new Map([...importedPackages('src'), ...importedPackages('bin')]);
    const missing = [...service].filter(([name]) => !runtimeDeps.has(name)).map(([name, file]) => `${name} (${file})`);
    expect(missing).toEqual([]);
  });

  it('has no runtime dependency the service does not import', () => {
    const service = importedPackages('src');
    expect([...runtimeDeps].filter((name) => !service.has(name) && !NOT_YET_IMPORTED.includes(name))).toEqual([]);
  });

  it('declares every package the tests, benchmarks and scripts import', () => {
    const declared = new Set([...runtimeDeps, ...devDeps, ...UNDECLARED_IN_TESTS]);
    const used = new Map([...importedPackages('test'), ...importedPackages('bench'), ...importedPackages('scripts')]);
    expect([...used].filter(([name]) => !declared.has(name)).map(([name, file]) => `${name} (${file})`)).toEqual([]);
  });
});
