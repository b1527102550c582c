import net from 'node:net';

export type ProxyMode = 'open' | 'cut' | 'paused';

/**
 * A TCP proxy on 127.0.0.1 in front of a server (PostgreSQL in the fault tests), to play outages:
 * - `cut()`: a dead server. Every live connection is reset, and new ones are accepted and reset at once.
 * - `pause()`: a hung server. Live connections stop forwarding in both directions, and new ones are
 *   accepted but never forwarded: nothing is ever answered.
 * - `restore()`: the server is back. New connections are forwarded again; connections that hung during a
 *   pause are reset (the hung server was restarted), so bytes held during the pause never reach it.
 */
export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  readonly mode: ProxyMode;
  /** Connections accepted and not yet closed. */
  readonly connections: number;
  cut(): void;
  pause(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: net.Socket;
  upstream: net.Socket | null;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'open';
  const links = new Set<Link>();

  const drop = (link: Link) => {
    links.delete(link);
    if (!link.client.destroyed) link.client.resetAndDestroy();
    if (link.upstream && !link.upstream.destroyed) link.upstream.destroy();
  };
  const hang = (link: Link) => {
    link.client.unpipe();
    link.client.pause();
    link.upstream?.unpipe();
    link.upstream?.pause();
  };

  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const link: Link = { client, upstream: null };
    links.add(link);
    client.on('close', () => drop(link));
    if (mode === 'paused') {
      client.pause();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    link.upstream = upstream;
    upstream.on('error', () => drop(link));
    upstream.on('close', () => drop(link));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address() as net.AddressInfo;

  return {
    host: '127.0.0.1',
    port: address.port,
    get mode() {
      return mode;
    },
    get connections() {
      return links.size;
    },
    cut() {
      mode = 'cut';
      for (const link of [...links]) drop(link);
    },
    pause() {
      mode = 'paused';
      for (const link of links) hang(link);
    },
    restore() {
      if (mode === 'paused') for (const link of [...links]) drop(link);
      mode = 'open';
    },
    async close() {
      for (const link of [...links]) drop(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The same connection URL, through the proxy. */
export function viaProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = proxy.host;
  u.port = String(proxy.port);
  return u.toString();
}
