import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { configSchema } from '../../src/config';
import { execForm, isIgnoredByDockerignore, parseDockerfile, runHealthcheck, splitFlags, type DockerStage } from '../helpers/docker-build';

const root = path.join(__dirname, '..', '..');
const stages = parseDockerfile(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const dockerignore = readFileSync(path.join(root, '.dockerignore'), 'utf8');
const runtime = stages[stages.length - 1];
const build = stages[0];

const args = (stage: DockerStage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const last = (stage: DockerStage, keyword: string) => args(stage, keyword).at(-1);

/** ENV name=value pairs of a stage (the `ENV a=1 b=2` form). */
function envOf(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of args(stage, 'ENV')) for (const m of line.matchAll(/(\w+)=(\S+)/g)) env[m[1]] = m[2];
  return env;
}

/** COPY sources with the stage they come from (undefined: the build context) and the destination. */
function copiesOf(stage: DockerStage): { from?: string; sources: string[]; dest: string }[] {
  return args(stage, 'COPY').map((line) => {
    const { flags, rest } = splitFlags(line);
    const parts = execForm(rest) ?? rest.split(/\s+/);
    return { from: flags.from, sources: parts.slice(0, -1), dest: parts[parts.length - 1] };
  });
}

function filesUnder(dir: string): string[] {
  return (readdirSync(path.join(root, dir), { recursive: true }) as string[])
    .map((f) => path.join(dir, f).split(path.sep).join('/'))
    .filter((f) => statSync(path.join(root, f)).isFile());
}

/** A server answering /readyz with `status`, for the health check's exit code. */
async function readyzServer(status: number): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => res.writeHead(req.url === '/readyz' ? status : 404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function healthcheckCommand(): string[] {
  const { rest } = splitFlags(last(runtime, 'HEALTHCHECK') ?? '');
  const command = execForm(rest.replace(/^CMD\s+/, ''));
  if (!command) throw new Error(`HEALTHCHECK is not in exec form: ${rest}`);
  return command;
}

describe('Dockerfile', () => {
  it('builds in one stage and runs in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBe('build');
    expect(args(build, 'RUN').some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(args(build, 'RUN').some((r) => /\bnpm prune\b.*--omit=dev/.test(r))).toBe(true);
    // prisma generate must not try to download an engine (the build reaches only the npm registry).
    expect(envOf(build).PRISMA_SCHEMA_ENGINE_BINARY).toBeDefined();
  });

  it('runs as a numeric non-root user that owns the data directory, which is a volume', () => {
    const user = last(runtime, 'USER');
    expect(user).toMatch(/^\d+(:\d+)?$/);
    const uid = Number(user!.split(':')[0]);
    expect(uid).toBeGreaterThan(0);

    const dataDir = envOf(runtime).MTLS_CA_DATA_DIR;
    expect(dataDir).toMatch(/^\//);
    expect(args(runtime, 'VOLUME').flatMap((v) => execForm(v) ?? v.split(/\s+/))).toContain(dataDir);
    expect(args(runtime, 'RUN').some((r) => new RegExp(`chown ${uid}(:\\d+)? ${dataDir}\\b`).test(r))).toBe(true);
  });

  it('sets only service settings in the runtime environment, and exposes PORT', () => {
    const env = envOf(runtime);
    const settings = Object.keys(configSchema.shape);
    const notSettings = Object.keys(env).filter((name) => !settings.includes(name) && name !== 'NODE_ENV');
    expect(notSettings).toEqual([]);
    expect(args(runtime, 'EXPOSE')).toEqual([env.PORT ?? '8080']);
  });

  it('starts `mtls-ca serve` in exec form, stopped by SIGTERM', () => {
    expect(execForm(last(runtime, 'ENTRYPOINT') ?? '')).toEqual(['node', 'bin/mtls-ca.js']);
    expect(execForm(last(runtime, 'CMD') ?? '')).toEqual(['serve']);
    expect(last(runtime, 'STOPSIGNAL')).toBe('SIGTERM');
  });

  it('health-checks /readyz: exit 0 when ready, 1 when not ready or not answering', async () => {
    const command = healthcheckCommand();
    expect(command.join(' ')).toContain('/readyz');
    const ready = await readyzServer(200);
    const notReady = await readyzServer(503);
    const gone = await readyzServer(200);
    await gone.close();
    try {
      expect(await runHealthcheck(command, { PORT: String(ready.port) })).toBe(0);
      expect(await runHealthcheck(command, { PORT: String(notReady.port) })).toBe(1);
      expect(await runHealthcheck(command, { PORT: String(gone.port) })).toBe(1);
    } finally {
      await ready.close();
      await notReady.close();
    }
  });

  it('copies only paths that exist (the build context, or the build stage after `npm ci` and the build)', () => {
    const builtInBuildStage = new Set(['node_modules', 'dist']);
    const missing: string[] = [];
    for (const stage of stages) {
      for (const copy of copiesOf(stage)) {
        for (const source of copy.sources) {
          if (copy.from === undefined) {
            if (!existsSync(path.join(root, source))) missing.push(source);
          } else {
            expect(copy.from).toBe(build.name);
            const workdir = last(build, 'WORKDIR')!;
            expect(source.startsWith(`${workdir}/`)).toBe(true);
            const relative = source.slice(workdir.length + 1);
            const top = relative.split('/')[0];
            const copiedIn = copiesOf(build).some((c) => c.from === undefined && c.sources.some((s) => s.split('/')[0] === top));
            if (!copiedIn && !builtInBuildStage.has(top)) missing.push(`${source} (neither copied into nor made by the build stage)`);
            if (!existsSync(path.join(root, relative))) missing.push(`${relative} (run \`npm run build\` first)`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
    // `npm run build` compiles into dist/, which bin/mtls-ca.js loads.
    expect(JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')).compilerOptions.outDir).toBe('dist');
    expect(readFileSync(path.join(root, 'bin', 'mtls-ca.js'), 'utf8')).toContain("require('../dist/cli/index.js')");
  });

  it('gets every file it copies through .dockerignore, and no local state', () => {
    const needed = stages.flatMap((s) => copiesOf(s).filter((c) => c.from === undefined).flatMap((c) => c.sources));
    const files = needed.flatMap((source) => (statSync(path.join(root, source)).isDirectory() ? filesUnder(source) : [source]));
    const sources = files.filter((f) => !f.startsWith('src/generated/'));
    expect(sources.length).toBeGreaterThan(50);
    expect(sources.filter((f) => isIgnoredByDockerignore(f, dockerignore))).toEqual([]);

    for (const local of ['node_modules/pg/package.json', 'dist/cli/index.js', 'data/ca/ca.key', '.git/HEAD', '.env', 'coverage/index.html', 'src/generated/prisma/client.ts', 'test/fixtures/x.key']) {
      expect([local, isIgnoredByDockerignore(local, dockerignore)]).toEqual([local, true]);
    }
  });
});

describe('the .dockerignore matcher', () => {
  it('lets the last matching pattern decide, for a path or a parent directory', () => {
    const rules = '*\n!src/\nsrc/generated\n!src/generated/keep.ts\n**/*.key\n';
    expect(isIgnoredByDockerignore('README.md', rules)).toBe(true);
    expect(isIgnoredByDockerignore('src/cli/index.ts', rules)).toBe(false);
    expect(isIgnoredByDockerignore('src/generated/prisma/client.ts', rules)).toBe(true);
    expect(isIgnoredByDockerignore('src/generated/keep.ts', rules)).toBe(false);
    expect(isIgnoredByDockerignore('src/ca/test.key', rules)).toBe(true);
  });
});
