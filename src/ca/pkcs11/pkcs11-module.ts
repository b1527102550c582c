import { existsSync } from 'node:fs';
import { ckr, type Pkcs11Binding, type Pkcs11Module } from './pkcs11-api';

/** A PKCS#11 CA key could not be opened or used; the message says what to fix (never a PIN). */
export class Pkcs11KeyError extends Error {
  override readonly name = 'Pkcs11KeyError';
}

/** pkcs11js is an optional, native dependency: loaded only when a PKCS#11 key is configured. */
export function loadBinding(): Pkcs11Binding {
  try {
    return require('pkcs11js') as Pkcs11Binding;
  } catch (cause) {
    throw new Pkcs11KeyError(
      'CA_KEY_PKCS11_URI needs the optional dependency pkcs11js, which is not installed or did not build here ' +
        '(install it with `npm install pkcs11js`; it needs a C++ toolchain and Python)',
      { cause },
    );
  }
}

interface Loaded {
  readonly module: Pkcs11Module;
  refs: number;
}

/**
 * One initialised module per library path in this process: C_Initialize and C_Finalize are
 * process-wide for a library, so every key opened through it shares one instance and the last
 * close finalises it.
 */
const modules = new Map<string, Loaded>();

export function openModule(binding: Pkcs11Binding, path: string): Pkcs11Module {
  const loaded = modules.get(path);
  if (loaded) {
    loaded.refs++;
    return loaded.module;
  }
  if (!existsSync(path)) throw new Pkcs11KeyError(`the PKCS#11 module ${path} (module-path of CA_KEY_PKCS11_URI) does not exist`);
  const module = new binding.PKCS11();
  try {
    module.load(path);
  } catch (cause) {
    throw new Pkcs11KeyError(`cannot load the PKCS#11 module ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    module.C_Initialize({ flags: binding.CKF_OS_LOCKING_OK as number });
  } catch (cause) {
    if (ckr(cause) !== binding.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      module.close();
      throw new Pkcs11KeyError(`the PKCS#11 module ${path} failed to initialise: ${(cause as Error).message}`, { cause });
    }
  }
  modules.set(path, { module, refs: 1 });
  return module;
}

export function releaseModule(path: string): void {
  const loaded = modules.get(path);
  if (!loaded || --loaded.refs > 0) return;
  modules.delete(path);
  try {
    loaded.module.C_Finalize();
  } finally {
    loaded.module.close();
  }
}
