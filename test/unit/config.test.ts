import { ConfigError, loadConfig } from '../../src/config';

describe('configuration', () => {
  it('has defaults for everything', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      MTLS_CA_DATA_DIR: './data',
      PUBLIC_BASE_URL: 'http://localhost:8080',
      CA_KEY_ALGORITHM: 'ECDSA-P256',
      CERT_VALIDITY_DAYS: 365,
      CERT_BACKDATE_SECONDS: 300,
      LOG_LEVEL: 'info',
      TRUST_PROXY: false,
      METRICS_ENABLED: true,
      DATABASE_TIMEOUT_MS: 5000,
      SHUTDOWN_TIMEOUT_MS: 10_000,
    });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.METRICS_TOKEN).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads METRICS_ENABLED and METRICS_TOKEN', () => {
    expect(loadConfig({ METRICS_ENABLED: 'false', METRICS_TOKEN: 'm'.repeat(16) })).toMatchObject({ METRICS_ENABLED: false, METRICS_TOKEN: 'm'.repeat(16) });
  });

  it('reads the PKCS#11 key settings; CA_CERT_FILE may name the certificate of the token key without CA_KEY_FILE', () => {
    const uri = 'pkcs11:token=mtls-ca;object=ca-key?module-path=/usr/lib/softhsm/libsofthsm2.so';
    expect(loadConfig({ CA_KEY_PKCS11_URI: uri, CA_KEY_PKCS11_PIN: '1234', CA_KEY_PKCS11_SESSIONS: '8', CA_CERT_FILE: '/ca.crt' })).toMatchObject({
      CA_KEY_PKCS11_URI: uri,
      CA_KEY_PKCS11_PIN: '1234',
      CA_KEY_PKCS11_SESSIONS: 8,
    });
    expect(loadConfig({}).CA_KEY_PKCS11_SESSIONS).toBe(4);
  });

  it('strips a trailing slash from PUBLIC_BASE_URL', () => {
    expect(loadConfig({ PUBLIC_BASE_URL: 'https://ca.example.com/' }).PUBLIC_BASE_URL).toBe('https://ca.example.com');
  });

  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['PUBLIC_BASE_URL', { PUBLIC_BASE_URL: 'ftp://x' }],
    ['CA_KEY_ALGORITHM', { CA_KEY_ALGORITHM: 'DSA' }],
    ['CERT_VALIDITY_DAYS', { CERT_VALIDITY_DAYS: '-1' }],
    ['CERT_VALIDITY_DAYS', { CERT_VALIDITY_DAYS: '900', CERT_MAX_VALIDITY_DAYS: '400' }],
    ['MTLS_CA_BOOTSTRAP_APP_TOKEN', { MTLS_CA_BOOTSTRAP_APP_KEY: 'admin-key' }],
    ['MTLS_CA_BOOTSTRAP_APP_TOKEN', { MTLS_CA_BOOTSTRAP_APP_KEY: 'admin-key', MTLS_CA_BOOTSTRAP_APP_TOKEN: 'short' }],
    ['CA_KEY_FILE', { CA_CERT_FILE: '/tmp/ca.crt' }],
    ['MTLS_CA_MASTER_KEY', { MTLS_CA_MASTER_KEY: 'shorter-than-32-characters' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['METRICS_ENABLED', { METRICS_ENABLED: 'maybe' }],
    ['METRICS_TOKEN', { METRICS_TOKEN: 'too-short' }],
    ['METRICS_TOKEN', { METRICS_TOKEN: 'has a space in it 0123456789' }],
    ['DATABASE_TIMEOUT_MS', { DATABASE_TIMEOUT_MS: '5' }],
    ['SHUTDOWN_TIMEOUT_MS', { SHUTDOWN_TIMEOUT_MS: '-1' }],
    ['CA_KEY_PKCS11_URI', { CA_KEY_PKCS11_URI: 'pkcs11:token=t;object=k' }],
    ['CA_KEY_PKCS11_URI', { CA_KEY_PKCS11_URI: 'pkcs11:token=t;object=k;object=j?module-path=/m.so' }],
    ['CA_KEY_PKCS11_URI', { CA_KEY_PKCS11_URI: 'pkcs11:token=t;object=k?module-path=/m.so', CA_KEY_FILE: '/k.pem', CA_CERT_FILE: '/c.pem' }],
    ['CA_KEY_PKCS11_PIN', { CA_KEY_PKCS11_PIN: '1234' }],
    ['CA_KEY_PKCS11_SESSIONS', { CA_KEY_PKCS11_SESSIONS: '0' }],
  ])('stops with a message naming %s', (variable, env) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(variable);
  });
});

describe('configuration of HTTPS and renewal', () => {
  it('is off by default, and reads HTTPS_PORT, TLS_SERVER_NAMES, CLIENT_CERT_HEADER and the RENEW_* settings', () => {
    const d = loadConfig({});
    expect(d.HTTPS_PORT).toBeUndefined();
    expect(d.RENEW_AFTER_EXPIRY).toBeUndefined();
    expect(d).toMatchObject({ TLS_SERVER_NAMES: [], TLS_SERVER_CERT_VALIDITY: 30 * 86_400_000, RENEW_MIN_INTERVAL_SECONDS: 60 });
    const c = loadConfig({ HTTPS_PORT: '8443', TLS_SERVER_NAMES: 'ca.internal, 10.0.0.5', CLIENT_CERT_HEADER: 'X-Client-Cert', TRUST_PROXY: '10.0.0.7', RENEW_AFTER_EXPIRY: '7d', RENEW_MIN_INTERVAL_SECONDS: '0' });
    expect(c).toMatchObject({ HTTPS_PORT: 8443, TLS_SERVER_NAMES: ['ca.internal', '10.0.0.5'], CLIENT_CERT_HEADER: 'X-Client-Cert', RENEW_AFTER_EXPIRY: 7 * 86_400_000, RENEW_MIN_INTERVAL_SECONDS: 0 });
  });

  it.each([
    ['TLS_KEY_FILE', { HTTPS_PORT: '8443', TLS_CERT_FILE: '/c.pem' }],
    ['TLS_CERT_FILE', { HTTPS_PORT: '8443', TLS_KEY_FILE: '/k.pem' }],
    ['TLS_CERT_FILE', { TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem' }],
    ['TLS_SERVER_NAMES', { TLS_SERVER_NAMES: 'ca.internal' }],
    ['TLS_SERVER_NAMES', { HTTPS_PORT: '8443', TLS_SERVER_NAMES: 'bad name!' }],
    ['CLIENT_CERT_HEADER', { CLIENT_CERT_HEADER: 'X Client: Cert' }],
    // trusted from whoever connects directly: anyone could name any certificate
    ['CLIENT_CERT_HEADER', { CLIENT_CERT_HEADER: 'X-Client-Cert', TRUST_PROXY: 'true' }],
    ['CLIENT_CERT_HEADER', { CLIENT_CERT_HEADER: 'X-Client-Cert', TRUST_PROXY: '1' }],
    ['CLIENT_CERT_HEADER', { CLIENT_CERT_HEADER: 'X-Client-Cert' }],
    ['RENEW_AFTER_EXPIRY', { RENEW_AFTER_EXPIRY: 'soon' }],
  ])('stops with a message naming %s', (variable, env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(variable);
  });
});
