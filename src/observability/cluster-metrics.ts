import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { CaError } from '../domain/errors';
import type { Scrape } from './metrics';

// With WORKERS > 1 a scrape reaches one worker; it asks the primary, which collects every worker's
// registry through prom-client's AggregatorRegistry (counters and histograms summed, each gauge by
// its aggregator) and sends the sum back.
const REQUEST = 'mtlsca:metrics-request';
const ANSWER = 'mtlsca:metrics-answer';

interface Answer {
  type: typeof ANSWER;
  id: number;
  body?: string;
  error?: string;
}

/** In the primary: answers workers' scrapes with the metrics of all workers. */
export function aggregateWorkerMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: unknown; id?: unknown }) => {
    if (message?.type !== REQUEST || typeof message.id !== 'number') return;
    const reply = (answer: Omit<Answer, 'type' | 'id'>) => worker.isConnected() && worker.send({ type: ANSWER, id: message.id, ...answer });
    aggregator.clusterMetrics().then(
      (body) => reply({ body }),
      (err: Error) => reply({ error: err.message }),
    );
  });
}

/** In a worker: offers `registry` to the primary's aggregation, and scrapes the whole cluster through it. */
export function clusterScrape(registry: Registry, timeoutMs = 6_000): () => Promise<Scrape> {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs prom-client's listener that answers the primary with this registry
  const pending = new Map<number, (answer: Answer) => void>();
  let nextId = 0;
  process.on('message', (message: Partial<Answer>) => {
    if (message?.type === ANSWER && typeof message.id === 'number') pending.get(message.id)?.(message as Answer);
  });
  return () =>
    new Promise<Scrape>((resolve, reject) => {
      const id = nextId++;
      const unavailable = () => new CaError('not-ready', 'the metrics of the other workers could not be collected');
      const timer = setTimeout(() => settle({ type: ANSWER, id, error: 'timeout' }), timeoutMs);
      const settle = (answer: Answer) => {
        pending.delete(id);
        clearTimeout(timer);
        if (answer.body !== undefined) resolve({ contentType: registry.contentType, body: answer.body });
        else reject(unavailable());
      };
      pending.set(id, settle);
      if (!process.send) settle({ type: ANSWER, id, error: 'no primary' });
      else process.send({ type: REQUEST, id }, undefined, {}, (err: Error | null) => err && settle({ type: ANSWER, id, error: err.message }));
    });
}
