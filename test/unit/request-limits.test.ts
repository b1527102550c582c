import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { problemHandler } from '../../src/http/problem';
import { jsonDepthExceeds, requestLimits } from '../../src/http/request-limits';

describe('jsonDepthExceeds', () => {
  it('counts array and object nesting, not brackets inside strings', () => {
    expect(jsonDepthExceeds('{"a":[1,{"b":2}]}', 3)).toBe(false);
    expect(jsonDepthExceeds('{"a":[1,{"b":2}]}', 2)).toBe(true);
    expect(jsonDepthExceeds('{"a":"[[[[[[[[[[[[\\"[[["}', 1)).toBe(false);
    expect(jsonDepthExceeds('['.repeat(100_000), 64)).toBe(true);
  });
});

describe('the request deadline', () => {
  it('answers 503 deadline-exceeded with Retry-After when a handler does not answer in time', async () => {
    const app = express();
    app.use(requestLimits({ maxBodyBytes: 1024, maxUrlLength: 100, maxJsonDepth: 4, requestTimeoutMs: 150 }));
    // The handler answers only when the test lets it, so an answer at all proves the deadline fired.
    let release = () => undefined as void;
    const released = new Promise<void>((r) => (release = r));
    app.get('/slow', async (_req, res) => {
      await released;
      if (!res.headersSent) res.json({ late: true });
    });
    app.use(problemHandler(pino({ level: 'silent' })));
    try {
      const res = await request(app).get('/slow');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body.type).toBe('urn:mtls-ca:problem:deadline-exceeded');
    } finally {
      release();
    }
  });
});
