import net from 'node:net';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

/** Opens a connection through the proxy, sends `line`, and says what came back within `ms`. */
function exchange(proxy: TcpProxy, line: string, ms = 300): Promise<{ answer: string; error: string | null; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(proxy.port, proxy.host);
    let answer = '';
    let error: string | null = null;
    let closed = false;
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => (closed = true));
    socket.write(line);
    setTimeout(() => {
      socket.destroy();
      resolve({ answer, error, closed });
    }, ms);
  });
}

describe('the fault-injection TCP proxy', () => {
  let echo: net.Server;
  let proxy: TcpProxy;

  beforeAll(async () => {
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    proxy = await startTcpProxy({ host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port });
  });
  afterAll(async () => {
    await proxy.close();
    await new Promise((r) => echo.close(r));
  });

  it('forwards both ways while open', async () => {
    expect(await exchange(proxy, 'hello')).toMatchObject({ answer: 'hello', error: null, closed: false });
  });

  it('resets live connections on cut, resets new ones while cut, and forwards again after restore', async () => {
    const live = net.connect(proxy.port, proxy.host);
    const liveError = new Promise<string>((r) => live.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? e.message)));
    await new Promise((r) => live.once('connect', r));
    live.write('x');
    await new Promise((r) => live.once('data', r));

    proxy.cut();
    expect(await liveError).toBe('ECONNRESET');
    const during = await exchange(proxy, 'anyone?');
    expect(during.answer).toBe('');
    expect(during.closed).toBe(true);

    proxy.restore();
    expect(await exchange(proxy, 'back')).toMatchObject({ answer: 'back', error: null });
  });

  it('answers nothing while paused, on live and new connections, and resets the hung ones on restore', async () => {
    const live = net.connect(proxy.port, proxy.host);
    let received = '';
    live.on('data', (d) => (received += d.toString()));
    const liveClosed = new Promise<void>((r) => live.on('close', () => r()));
    live.on('error', () => undefined);
    await new Promise((r) => live.once('connect', r));

    proxy.pause();
    live.write('held');
    const fresh = await exchange(proxy, 'hung?');
    expect(fresh).toMatchObject({ answer: '', error: null, closed: false });
    expect(received).toBe('');

    proxy.restore();
    await liveClosed;
    expect(received).toBe('');
    expect(await exchange(proxy, 'again')).toMatchObject({ answer: 'again', error: null });
  });
});
