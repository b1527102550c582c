import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { readMultipart } from '../../src/http/multipart';
import { problemHandler } from '../../src/http/problem';

/** readMultipart behind a bare route, no global body limit: its own limits are what answer. */
function app() {
  const a = express();
  a.post('/', async (req, res) => {
    const form = await readMultipart(req, { fileField: 'file', maxFileBytes: 256 * 1024, textFields: ['password', 'target'], maxFieldBytes: 1024 });
    res.json({ fileBytes: form.file?.length ?? null, sha: form.file ? form.file.toString('base64').slice(0, 8) : null, fields: form.fields });
  });
  a.use(problemHandler(pino({ level: 'silent' })));
  return a;
}

describe('readMultipart (busboy) limits', () => {
  it('reads one file and the named fields', async () => {
    const file = Buffer.from('0123456789');
    const res = await request(app()).post('/').attach('file', file, 'a.p12').field('password', 'pw').field('target', 'https://x.test/');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ fileBytes: 10, sha: file.toString('base64').slice(0, 8), fields: { password: 'pw', target: 'https://x.test/' } });
  });

  it('answers 413 for a file over the limit, even sent chunked without Content-Length', async () => {
    const big = Buffer.alloc(300 * 1024, 0x41);
    const res = await request(app()).post('/').attach('file', big, 'a.p12').field('password', 'pw');
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.p12"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      big,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    // Written in pieces with no Content-Length: Node sends it chunked.
    const server = app().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, method: 'POST', path: '/', headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        for (let at = 0; at < body.length; at += 16 * 1024) req.write(body.subarray(at, at + 16 * 1024));
        req.end();
      });
      expect(status).toBe(413);
    } finally {
      server.close();
    }
  });

  it('answers 400 for an unknown or repeated field, a field over its limit (413), a second file; 415 when not multipart', async () => {
    expect((await request(app()).post('/').field('password', 'a').field('password', 'b')).status).toBe(400);
    expect((await request(app()).post('/').field('other', 'x')).status).toBe(400);
    expect((await request(app()).post('/').field('password', 'x'.repeat(2000))).status).toBe(413);
    expect((await request(app()).post('/').attach('file', Buffer.from('a'), 'a').attach('file', Buffer.from('b'), 'b')).status).toBe(400);
    expect((await request(app()).post('/').send({ password: 'x' })).status).toBe(415);
    expect((await request(app()).post('/').set('Content-Type', 'multipart/form-data; boundary=zz').send('--zz\r\ngarbage')).status).toBe(400);
  });
});
