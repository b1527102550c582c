import type { OutboundRoute } from '../domain/outbound-route';
import type { SqlRunner } from './sql';

interface RouteRow {
  id: string;
  account: string;
  host: string;
  port: number;
  path_prefix: string;
  identity_id: string;
  server_ca_pem: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS = 'id, account, host, port, path_prefix, identity_id, server_ca_pem, created_at, updated_at';

const toRoute = (r: RouteRow): OutboundRoute => ({
  id: r.id,
  account: r.account,
  host: r.host,
  port: Number(r.port),
  pathPrefix: r.path_prefix,
  identityId: r.identity_id,
  serverCaPem: r.server_ca_pem,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

export type RouteFields = Pick<OutboundRoute, 'account' | 'host' | 'port' | 'pathPrefix' | 'identityId' | 'serverCaPem'>;

/** Outbound routes (migration 0013). No cache: every forwarded request reads its account's routes for the host. */
export class OutboundRouteRepository {
  constructor(private readonly sql: SqlRunner) {}

  /** Inserts; null when the account already has a route for that host, port and prefix. */
  async insert(id: string, f: RouteFields): Promise<OutboundRoute | null> {
    const rows = await this.sql.query<RouteRow>(
      `INSERT INTO outbound_routes (id, account, host, port, path_prefix, identity_id, server_ca_pem) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (account, host, port, path_prefix) DO NOTHING RETURNING ${COLUMNS}`,
      [id, f.account, f.host, f.port, f.pathPrefix, f.identityId, f.serverCaPem],
    );
    return rows[0] ? toRoute(rows[0]) : null;
  }

  async get(id: string): Promise<OutboundRoute | null> {
    const rows = await this.sql.query<RouteRow>(`SELECT ${COLUMNS} FROM outbound_routes WHERE id = $1`, [id]);
    return rows[0] ? toRoute(rows[0]) : null;
  }

  async list(account: string | undefined): Promise<OutboundRoute[]> {
    const rows =
      account === undefined
        ? await this.sql.query<RouteRow>(`SELECT ${COLUMNS} FROM outbound_routes ORDER BY account, host, port, path_prefix`)
        : await this.sql.query<RouteRow>(`SELECT ${COLUMNS} FROM outbound_routes WHERE account = $1 ORDER BY host, port, path_prefix`, [account]);
    return rows.map(toRoute);
  }

  /** The account's routes for one host and port (what matching needs), read fresh. */
  async forTarget(account: string, host: string, port: number): Promise<OutboundRoute[]> {
    const rows = await this.sql.query<RouteRow>(
      `SELECT ${COLUMNS} FROM outbound_routes WHERE account = $1 AND host = $2 AND port = $3`,
      [account, host, port],
      { name: 'outbound_routes_for_target' },
    );
    return rows.map(toRoute);
  }

  /** Replaces the fields of a route; null when it is gone; 'conflict' when another route holds the new match. */
  async update(id: string, f: RouteFields): Promise<OutboundRoute | null | 'conflict'> {
    try {
      const rows = await this.sql.query<RouteRow>(
        `UPDATE outbound_routes SET host = $2, port = $3, path_prefix = $4, identity_id = $5, server_ca_pem = $6, updated_at = now()
         WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, f.host, f.port, f.pathPrefix, f.identityId, f.serverCaPem],
      );
      return rows[0] ? toRoute(rows[0]) : null;
    } catch (e) {
      if ((e as { code?: string }).code === '23505') return 'conflict';
      throw e;
    }
  }

  async delete(id: string): Promise<boolean> {
    const rows = await this.sql.query(`DELETE FROM outbound_routes WHERE id = $1 RETURNING id`, [id]);
    return rows.length === 1;
  }
}
