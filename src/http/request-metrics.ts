import type { RequestHandler } from 'express';
import { routePatternOf, trackRoutePattern } from './route-pattern';

export interface RequestRecorder {
  observeRequest(method: string, route: string, status: number, seconds: number): void;
}

/** Counts and times every answered request by method, route pattern and status. */
export function requestMetrics(recorder: RequestRecorder): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    trackRoutePattern(req, res);
    res.on('finish', () => {
      recorder.observeRequest(req.method, routePatternOf(res), res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}
