import { loadConfig } from '../../src/config';
import { loadEgressConfig } from '../../src/egress/egress-config';

describe('EGRESS_* and FORWARD_* settings', () => {
  const base = { MTLS_CA_DATA_DIR: '/tmp/x' };
  it('reads EGRESS_ALLOWED_NETWORKS as a list of CIDRs (bare addresses too) and refuses anything else, naming the variable', () => {
    expect(loadConfig({ ...base }).EGRESS_ALLOWED_NETWORKS).toEqual([]);
    expect(loadConfig({ ...base, EGRESS_ALLOWED_NETWORKS: ' 10.0.0.0/8, fd00::/8,127.0.0.1 ' }).EGRESS_ALLOWED_NETWORKS).toEqual(['10.0.0.0/8', 'fd00::/8', '127.0.0.1']);
    expect(() => loadConfig({ ...base, EGRESS_ALLOWED_NETWORKS: '10.0.0.0/33' })).toThrow(/EGRESS_ALLOWED_NETWORKS/);
    expect(() => loadConfig({ ...base, EGRESS_ALLOWED_NETWORKS: 'internal.example' })).toThrow(/EGRESS_ALLOWED_NETWORKS/);
  });
  it('has limits by default', () => {
    const c = loadConfig({ ...base });
    expect(c.FORWARD_MAX_BODY_BYTES).toBe(10 * 1024 * 1024);
    expect(c.FORWARD_TIMEOUT_MS).toBe(30_000);
    expect(c.FORWARD_MAX_CONCURRENT_PER_ACCOUNT).toBe(64);
    expect(c.FORWARD_RATE_PER_KEY).toBe(50);
  });
  it('listens on loopback by default and names a bad variable', () => {
    expect(loadEgressConfig({})).toMatchObject({ EGRESS_PORT: 3128, EGRESS_HOST: '127.0.0.1' });
    expect(() => loadEgressConfig({ EGRESS_PORT: '99999' })).toThrow(/EGRESS_PORT/);
  });
});
