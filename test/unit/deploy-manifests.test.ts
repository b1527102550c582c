import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { configSchema, loadConfig } from '../../src/config';
import { execForm, parseDockerfile, runHealthcheck, splitFlags } from '../helpers/docker-build';
import { kubernetesSchemaProblems, type KubernetesObject } from '../helpers/kubernetes-schema';
import { startTestService, type TestService } from '../helpers/test-service';
import { parseYamlDocuments } from '../helpers/yaml';

const root = path.join(__dirname, '..', '..');
const kubernetesDir = path.join(root, 'deploy', 'kubernetes');

/** Settings the manifests use before src/config.ts knows them: added by issue 11 custody/PKCS#11 work. */
const PENDING_SETTINGS: string[] = [];
const SETTINGS = new Set([...Object.keys(configSchema.shape), ...PENDING_SETTINGS]);
const DEFAULTS = loadConfig({});

// ---- what the files say ----

type Obj = Record<string, any>;

const kubernetesFiles = readdirSync(kubernetesDir).filter((f) => /\.ya?ml$/.test(f));
const documents = kubernetesFiles.flatMap((file) =>
  parseYamlDocuments(readFileSync(path.join(kubernetesDir, file), 'utf8')).map((doc) => ({ file, doc: doc as Obj })),
);
const kustomization = documents.find((d) => d.doc.kind === 'Kustomization')!.doc;
const objects = documents.filter((d) => d.doc.kind !== 'Kustomization').map((d) => d.doc as KubernetesObject & Obj);
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => {
  const found = byKind(kind).find((o) => o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} named ${name} in deploy/kubernetes`);
  return found;
};
const deployment = byKind('Deployment')[0];
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers.find((c: Obj) => c.name === 'mtls-ca');

/** The container's environment: its env entries and every key of the ConfigMaps/Secrets it takes whole. */
function containerEnvironment(): { names: string[]; values: Record<string, string> } {
  const names: string[] = [];
  const values: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const source = from.configMapRef ? named('ConfigMap', from.configMapRef.name) : named('Secret', from.secretRef.name);
    const data = { ...source.data, ...source.stringData };
    for (const [name, value] of Object.entries(data)) {
      names.push(name);
      values[name] = String(value);
    }
  }
  for (const entry of container.env ?? []) {
    names.push(entry.name);
    if (entry.value !== undefined) values[entry.name] = entry.value;
  }
  return { names, values };
}

function setting(values: Record<string, string>, name: 'PORT' | 'SHUTDOWN_TIMEOUT_MS' | 'DATABASE_TIMEOUT_MS'): number {
  return Number(values[name] ?? DEFAULTS[name]);
}

/** A probe's port as a number: numeric, or a container port's name. */
function probePort(probe: Obj): number {
  const port = probe.httpGet.port;
  return typeof port === 'number' ? port : container.ports.find((p: Obj) => p.name === port)?.containerPort;
}

const compose = parseYamlDocuments(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'))[0] as Obj;
const replicas = Object.entries(compose.services as Record<string, Obj>).filter(([, service]) => service.build !== undefined);

function composeEnvironment(service: Obj): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(env.map((entry: string) => [entry.split('=')[0], entry.slice(entry.indexOf('=') + 1)]));
}

/** Compose interpolation as on a machine where only MTLS_CA_MASTER_KEY is set. */
function interpolate(value: string): string {
  return value.replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_m, name: string, op?: string, word?: string) => {
    if (name === 'MTLS_CA_MASTER_KEY') return 'x'.repeat(48);
    if (op === '-') return word ?? '';
    throw new Error(`\${${name}} has no default`);
  });
}

const healthcheckOfImage = (() => {
  const runtime = parseDockerfile(readFileSync(path.join(root, 'Dockerfile'), 'utf8')).at(-1)!;
  const { rest } = splitFlags(runtime.instructions.filter((i) => i.keyword === 'HEALTHCHECK').at(-1)!.args);
  return execForm(rest.replace(/^CMD\s+/, ''))!;
})();

// ---- the checks ----

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  it('are valid against the Kubernetes API schemas, with no unknown field', async () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Namespace', 'PodDisruptionBudget', 'Secret', 'Service']);
    const problems = (await Promise.all(objects.map((o) => kubernetesSchemaProblems(o)))).flat();
    expect(problems).toEqual([]);
  });

  it('schema check catches a wrong type and a misspelt field', async () => {
    const broken = structuredClone(deployment);
    broken.spec.replicas = 'two';
    broken.spec.template.spec.containers[0].readinesProbe = broken.spec.template.spec.containers[0].readinessProbe;
    const problems = await kubernetesSchemaProblems(broken);
    expect(problems.join('\n')).toMatch(/replicas must be integer/);
    delete broken.spec.replicas;
    expect(await kubernetesSchemaProblems(broken)).toEqual([
      'Deployment mtls-ca: /spec/template/spec/containers/0/readinesProbe is not a field of apps/v1 Deployment',
    ]);
  });

  it('apply -k lists every manifest but the Secret example, so a real Secret is never overwritten', () => {
    const resources: string[] = kustomization.resources;
    const files = kubernetesFiles.filter((f) => f !== 'kustomization.yaml');
    expect([...resources].sort()).toEqual(files.filter((f) => !f.endsWith('.example.yaml')).sort());
    expect(named('Secret', 'mtls-ca-secrets')).toBeDefined();
    expect(resources).not.toContain('secret.example.yaml');
    expect(kustomization.images.map((i: Obj) => i.name)).toContain(container.image.split(':')[0]);
  });

  it('runs two or more replicas, rolls without losing capacity, and a PDB keeps one', () => {
    const labels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBeLessThanOrEqual(1);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);

    const pdb = byKind('PodDisruptionBudget')[0];
    expect(pdb.spec.minAvailable).toBe(1);
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);

    const service = byKind('Service')[0];
    expect(selects(service.spec.selector)).toBe(true);
    const target = service.spec.ports[0].targetPort;
    expect(container.ports.some((p: Obj) => p.name === target || p.containerPort === target)).toBe(true);
  });

  it('uses only settings the service knows, with values its config accepts', () => {
    const { names, values } = containerEnvironment();
    expect(names.filter((name) => !SETTINGS.has(name))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['MTLS_CA_MASTER_KEY', 'DATABASE_URL']));
    const settings = Object.fromEntries(Object.entries(values).filter(([name]) => !PENDING_SETTINGS.includes(name)));
    expect(() => loadConfig(settings)).not.toThrow();
  });

  it('takes MTLS_CA_MASTER_KEY and DATABASE_URL from a Secret whose placeholders the service refuses', () => {
    const secret = named('Secret', 'mtls-ca-secrets');
    for (const name of ['MTLS_CA_MASTER_KEY', 'DATABASE_URL']) {
      const ref = container.env.find((e: Obj) => e.name === name).valueFrom.secretKeyRef;
      expect(ref.name).toBe('mtls-ca-secrets');
      expect(Object.keys(secret.stringData)).toContain(ref.key);
    }
    expect(secret.stringData.MTLS_CA_MASTER_KEY.length).toBeLessThan(32); // the minimum of MTLS_CA_MASTER_KEY
    expect(() => loadConfig({ DATABASE_URL: secret.stringData.DATABASE_URL })).toThrow(/DATABASE_URL/);
  });

  it('probes /healthz (startup, liveness) and /readyz (readiness) on PORT', () => {
    const port = setting(containerEnvironment().values, 'PORT');
    expect(container.ports.map((p: Obj) => p.containerPort)).toContain(port);
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) expect(probePort(probe)).toBe(port);
    // The first start applies migrations: the startup probe allows minutes before liveness counts.
    expect(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold).toBeGreaterThanOrEqual(120);
  });

  it('gives a stopping pod time to finish its requests and close the ledger', () => {
    const { values } = containerEnvironment();
    const preStopSeconds = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    const neededMs = preStopSeconds * 1000 + setting(values, 'SHUTDOWN_TIMEOUT_MS') + setting(values, 'DATABASE_TIMEOUT_MS') + 1000;
    expect(podSpec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(neededMs);
  });

  it('runs restricted: non-root 10001, read-only root, no privileges, writable /data and /tmp only, bounded resources', () => {
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const dataDir = containerEnvironment().values.MTLS_CA_DATA_DIR ?? DEFAULTS.MTLS_CA_DATA_DIR;
    const mounts = container.volumeMounts.map((m: Obj) => m.mountPath);
    expect(mounts).toEqual(expect.arrayContaining([dataDir, '/tmp']));
    for (const volume of podSpec.volumes) expect(Object.keys(volume)).toEqual(['name', 'emptyDir']);
    expect(container.resources.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(container.resources.limits).toMatchObject({ memory: expect.anything() });
  });
});

describe('docker-compose.yml', () => {
  it('runs two replicas of the image built here, on PostgreSQL, sharing MTLS_CA_MASTER_KEY and no volume', () => {
    expect(replicas.length).toBeGreaterThanOrEqual(2);
    const envs = replicas.map(([, service]) => composeEnvironment(service));
    for (const [, service] of replicas) {
      expect(service.build).toBe('.');
      expect(service.command).toBeUndefined(); // the image's `serve`: no npm install at start
      expect(service.depends_on.postgres.condition).toBe('service_healthy');
    }
    expect(compose.services.postgres.healthcheck).toBeDefined();
    expect(envs[0].MTLS_CA_MASTER_KEY).toMatch(/^\$\{MTLS_CA_MASTER_KEY:\?.+\}$/); // required, never a default
    for (const env of envs) {
      expect(env.MTLS_CA_MASTER_KEY).toBe(envs[0].MTLS_CA_MASTER_KEY);
      expect(env.DATABASE_URL).toBe(envs[0].DATABASE_URL);
    }
    const volumeSources = replicas.flatMap(([, service]) => (service.volumes ?? []).map((v: string | Obj) => (typeof v === 'string' ? v.split(':')[0] : v.source)));
    expect(new Set(volumeSources).size).toBe(volumeSources.length);
    expect(volumeSources.filter((source) => source.startsWith('.'))).toEqual([]); // no bind mount of the source tree
  });

  it('uses only settings the service knows, with values its config accepts', () => {
    for (const [, service] of replicas) {
      const env = composeEnvironment(service);
      expect(Object.keys(env).filter((name) => !SETTINGS.has(name))).toEqual([]);
      const settings = Object.fromEntries(Object.entries(env).filter(([name]) => !PENDING_SETTINGS.includes(name)).map(([name, value]) => [name, interpolate(value)]));
      expect(() => loadConfig(settings)).not.toThrow();
    }
  });
});

describe('probes and health checks against the service', () => {
  let t: TestService;
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    t = await startTestService('pglite');
    server = http.createServer(t.service.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }, 120_000); // a first start (migrations, a new CA) on a busy 2-core machine
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  }, 60_000);

  it('every Kubernetes probe path answers 200 on a ready service', async () => {
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      const res = await t.http.get(probe.httpGet.path);
      expect([probe.httpGet.path, res.status]).toEqual([probe.httpGet.path, 200]);
    }
  });

  it("the image's and compose's health checks pass on a ready service", async () => {
    const composeChecks = replicas.map(([, service]) => {
      const [kind, ...command] = service.healthcheck.test as string[];
      expect(kind).toBe('CMD');
      return command;
    });
    for (const command of [healthcheckOfImage, ...composeChecks]) {
      expect(command.join(' ')).toContain('/readyz');
      expect(await runHealthcheck(command, { PORT: String(port) })).toBe(0);
    }
  });
});
