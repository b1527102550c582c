import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * A path of the mtls-ca package (e.g. `prisma/migrations`, `dist/console`), found upwards from this
 * file, so it resolves the same from src/ (tests), dist/ (the built service) or another build dir;
 * null when no such path exists.
 */
export function packagePath(relative: string): string | null {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, relative);
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return null;
}
