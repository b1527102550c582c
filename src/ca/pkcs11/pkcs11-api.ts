/**
 * The part of pkcs11js (an optional dependency: it may be absent where its native build fails)
 * this code uses, declared here so the project type-checks without it.
 */
export type Handle = Buffer;

export interface Pkcs11Attribute {
  type: number;
  value?: number | boolean | string | Buffer;
}

export interface Pkcs11Module {
  load(path: string): void;
  close(): void;
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string; manufacturerID: string; model: string; serialNumber: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Pkcs11Attribute[]): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Pkcs11Attribute[]): Array<{ type: number; value?: Buffer }>;
  C_GenerateKeyPair(session: Handle, mechanism: { mechanism: number }, publicTemplate: Pkcs11Attribute[], privateTemplate: Pkcs11Attribute[]): { publicKey: Handle; privateKey: Handle };
  C_SignInit(session: Handle, mechanism: { mechanism: number }, key: Handle): void;
  C_SignAsync(session: Handle, data: Buffer, out: Buffer): Promise<Buffer>;
}

/** The constants used, by their PKCS#11 names. */
export interface Pkcs11Binding {
  PKCS11: new () => Pkcs11Module;
  readonly [constant: string]: unknown;
}

/** A Cryptoki error as pkcs11js throws it: `code` is the CKR_ value. */
export function ckr(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
