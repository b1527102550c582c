import express, { Router } from 'express';
import path from 'node:path';
import { CaError } from '../../domain/errors';

/**
 * The console's own Content-Security-Policy: its scripts, styles and API calls come from this origin
 * only, nothing inline, nothing framed. The API keeps helmet's `default-src 'none'`.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * GET /console: the web console, static files Vite built into `dir` at install time. Hashed assets are
 * cached for good; index.html is answered for every other path under /console (the console routes in
 * the browser). Without a build the console answers 404 problem+json saying how to build it.
 */
export function consoleRouter(dir: string | null): Router {
  const router = Router();
  router.use('/console', (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    next();
  });
  if (!dir) {
    router.get(['/console', '/console/*rest'], () => {
      throw new CaError('not-found', 'the console is not built: run `npm run build` (it runs at npm install)');
    });
    return router;
  }
  router.use(
    '/console/assets',
    express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false, dotfiles: 'deny', redirect: false }),
    () => {
      throw new CaError('not-found', 'no such console asset');
    },
  );
  const index = path.join(dir, 'index.html');
  router.get(['/console', '/console/*rest'], (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index, { dotfiles: 'deny' });
  });
  return router;
}
