import { Agent } from 'node:http';
import { checkAnswer, ENDPOINTS, iterateCases, sendRequest, type BadRequest, type Credentials, type Endpoint } from '../../test/fuzz/bad-requests';

/**
 * The bad-input suite (test/fuzz) for the soak run: cases for every endpoint in turn from a seed, sent
 * raw over node:http to the live replicas, each answer judged by the same checkAnswer as `npm test`.
 * During a database outage a 503 problem is accepted in place of the usual 4xx.
 */
export class SoakFuzz {
  private readonly generators: Map<Endpoint, Generator<BadRequest>>;
  private readonly sent = new Map<Endpoint, number>(ENDPOINTS.map((e) => [e, 0]));
  private readonly agents: Agent[];
  private turn = 0;
  violations = 0;
  noAnswer = 0;
  outage503 = 0;
  readonly samples: string[] = [];

  constructor(
    private readonly ports: readonly number[],
    credentials: Credentials,
    private readonly perEndpoint: number,
    private readonly secrets: readonly string[],
    readonly seed: number,
  ) {
    this.generators = new Map(ENDPOINTS.map((e, i) => [e, iterateCases(e, seed + i * 7919, perEndpoint, credentials)]));
    this.agents = ports.map(() => new Agent({ keepAlive: true, maxSockets: 16 }));
  }

  done(): boolean {
    return [...this.sent.values()].every((n) => n >= this.perEndpoint);
  }

  /** The next case, endpoints in turn (those with their quota sent are skipped). */
  next(): BadRequest | null {
    for (let i = 0; i < ENDPOINTS.length; i++) {
      const endpoint = ENDPOINTS[this.turn++ % ENDPOINTS.length];
      if ((this.sent.get(endpoint) ?? 0) >= this.perEndpoint) continue;
      const item = this.generators.get(endpoint)!.next();
      if (item.done) continue;
      this.sent.set(endpoint, (this.sent.get(endpoint) ?? 0) + 1);
      return item.value;
    }
    return null;
  }

  /**
   * Sends one case to `replica`; returns its status (0: no answer). `excused(at)` says whether the
   * moment falls in a database outage (503 allowed) or a replica's death (no answer allowed).
   */
  async send(replica: number, c: BadRequest, excused: { outage(at: number): boolean; dead(replica: number, at: number): boolean }): Promise<number> {
    const at = Date.now();
    try {
      const answer = await sendRequest({ host: '127.0.0.1', port: this.ports[replica], agent: this.agents[replica] }, c, 30_000);
      if (answer.status === 503 && excused.outage(at)) {
        this.outage503++;
        return answer.status;
      }
      const wrong = checkAnswer(c, answer, { secrets: this.secrets });
      if (wrong.length > 0) this.fail(`${c.endpoint}/${c.family}: ${wrong[0]}`);
      return answer.status;
    } catch (err) {
      if (excused.dead(replica, at) || excused.dead(replica, Date.now())) return 0;
      this.noAnswer++;
      this.fail(`${c.endpoint}/${c.family}: ${(err as Error).message}`);
      return 0;
    }
  }

  private fail(what: string): void {
    this.violations++;
    if (this.samples.length < 8) this.samples.push(what.slice(0, 160));
  }

  counts(): string {
    return ENDPOINTS.map((e) => `${e} ${this.sent.get(e)}`).join(', ');
  }

  minPerEndpoint(): number {
    return Math.min(...this.sent.values());
  }

  close(): void {
    for (const a of this.agents) a.destroy();
  }
}
