import { binaryBody } from './binary';
import { X509Crl } from '@peculiar/x509';
import type { TestService } from './test-service';

export async function fetchCrl(t: TestService): Promise<{ der: Buffer; crl: X509Crl; number: bigint; headers: Record<string, string> }> {
  const res = await t.http
    .get('/crl')
    .buffer(true)
    .parse(binaryBody);
  if (res.status !== 200) throw new Error(`GET /crl: ${res.status}`);
  const der = res.body as Buffer;
  const crl = new X509Crl(new Uint8Array(der));
  const ext = crl.getExtension('2.5.29.20');
  const hex = Buffer.from(ext!.value).subarray(2).toString('hex');
  return { der, crl, number: BigInt(`0x${hex}`), headers: res.headers as Record<string, string> };
}

export function crlSerials(crl: X509Crl): string[] {
  return crl.entries.map((e) => e.serialNumber.toUpperCase());
}
