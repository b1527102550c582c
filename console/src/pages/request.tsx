import { useState } from 'preact/hooks';
import { isAdmin, type Api, type Me } from '../api';
import { derBlocks, download, generateRequest, KEY_TYPES, NAME_PATTERN, pemOf, type KeyType } from '../crypto/keys';
import { encodePkcs12 } from '../../../src/pkcs12/pkcs12-encoder';
import { navigate } from '../router';
import { ErrorBox, Field, formatTime, useAction } from '../ui';

interface Signed {
  readonly serialNumber: string;
  readonly certificate: string;
  readonly chain: string;
  readonly commonName: string;
  readonly account: string;
  readonly notAfter: string;
}

/** Request a certificate: a key made here and a CSR signed by the CA, or a CSR made elsewhere. */
export function RequestCertificate({ api, me }: { api: Api; me: Me }) {
  const [commonName, setCommonName] = useState('');
  const [account, setAccount] = useState(me.account);
  const [keyType, setKeyType] = useState<KeyType>('ec-p256');
  const [signed, setSigned] = useState<Signed | null>(null);
  const [keys, setKeys] = useState<CryptoKeyPair | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);

  const sign = (csrPem: string) => api.json<Signed>('/private-certificates/sign', { method: 'POST', body: csrPem, contentType: 'text/plain' });

  const generate = useAction(async () => {
    setSigned(null);
    setKeys(null);
    const request = await generateRequest(keyType, commonName, isAdmin(me) ? account : me.account);
    setSigned(await sign(request.csrPem));
    setKeys(request.keys);
  });

  return (
    <section aria-labelledby="request-title">
      <h2 id="request-title">Request a certificate</h2>
      <form
        aria-label="Generate and sign"
        onSubmit={(e) => {
          e.preventDefault();
          const problem = !NAME_PATTERN.test(commonName)
            ? 'Common name: 1–64 of A–Z a–z 0–9 . _ -'
            : isAdmin(me) && !NAME_PATTERN.test(account)
              ? 'Account: 1–64 of A–Z a–z 0–9 . _ -'
              : null;
          setInvalid(problem);
          if (!problem) void generate.run();
        }}
      >
        <Field label="Common name" id="cn" hint="The client's name, e.g. erp-connector.">
          <input id="cn" value={commonName} onInput={(e) => setCommonName(e.currentTarget.value)} aria-describedby="cn-hint" required maxLength={64} />
        </Field>
        {isAdmin(me) ? (
          <Field label="Account" id="account">
            <input id="account" value={account} onInput={(e) => setAccount(e.currentTarget.value)} required maxLength={64} />
          </Field>
        ) : (
          <p>
            Account: <strong>{me.account}</strong>
          </p>
        )}
        <Field label="Key type" id="key-type">
          <select id="key-type" value={keyType} onChange={(e) => setKeyType(e.currentTarget.value as KeyType)}>
            {Object.entries(KEY_TYPES).map(([value, t]) => (
              <option value={value}>{t.label}</option>
            ))}
          </select>
        </Field>
        {invalid && (
          <div class="error" role="alert">
            {invalid}
          </div>
        )}
        <ErrorBox error={generate.error} />
        <button type="submit" disabled={generate.busy} aria-busy={generate.busy}>
          {generate.busy ? 'Generating the key and signing…' : 'Generate and sign'}
        </button>
        {generate.busy && <progress aria-label="Generating the key" />}
        <p class="hint">The private key is made in this browser and never leaves it.</p>
      </form>
      {signed && keys && <Downloads signed={signed} keys={keys} />}
      <SignCsr sign={sign} onSigned={(s) => navigate(`/certificates/${s.serialNumber}`)} />
    </section>
  );
}

function Downloads({ signed, keys }: { signed: Signed; keys: CryptoKeyPair }) {
  const [password, setPassword] = useState('');
  const [invalid, setInvalid] = useState<string | null>(null);
  const pkcs12 = useAction(async () => {
    const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
    const certificates = [...derBlocks(signed.certificate), ...derBlocks(signed.chain)];
    const der = await encodePkcs12({ privateKeyPkcs8: pkcs8, certificates, password, friendlyName: signed.commonName });
    download(`${signed.commonName}.p12`, der.slice().buffer as ArrayBuffer, 'application/x-pkcs12');
  });
  const pem = async () => {
    const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
    download(`${signed.commonName}.pem`, pemOf('PRIVATE KEY', pkcs8) + signed.certificate + signed.chain, 'application/x-pem-file');
  };
  return (
    <div class="result" aria-live="polite">
      <h3>Certificate issued</h3>
      <p>
        Serial <code data-testid="issued-serial">{signed.serialNumber}</code>, valid until {formatTime(signed.notAfter)}.{' '}
        <a href={`/console/certificates/${signed.serialNumber}`} onClick={(e) => (e.preventDefault(), navigate(`/certificates/${signed.serialNumber}`))}>
          Details
        </a>
      </p>
      <form
        aria-label="Download PKCS#12"
        onSubmit={(e) => {
          e.preventDefault();
          const problem = password.length < 8 ? 'Password: at least 8 characters' : null;
          setInvalid(problem);
          if (!problem) void pkcs12.run();
        }}
      >
        <Field label="Password" id="p12-password" hint="Protects the PKCS#12 file (AES-256, HMAC-SHA256: Java 8u301+, OpenSSL 3).">
          <input id="p12-password" type="password" autocomplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} aria-describedby="p12-password-hint" />
        </Field>
        {invalid && (
          <div class="error" role="alert">
            {invalid}
          </div>
        )}
        <ErrorBox error={pkcs12.error} />
        <button type="submit" disabled={pkcs12.busy}>
          Download PKCS#12
        </button>{' '}
        <button type="button" class="secondary" onClick={() => void pem()}>
          Download PEM
        </button>
      </form>
    </div>
  );
}

function SignCsr({ sign, onSigned }: { sign: (csr: string) => Promise<Signed>; onSigned: (s: Signed) => void }) {
  const [csr, setCsr] = useState('');
  const [invalid, setInvalid] = useState<string | null>(null);
  const action = useAction(async () => onSigned(await sign(csr)));
  return (
    <form
      aria-label="Sign CSR"
      class="csr"
      onSubmit={(e) => {
        e.preventDefault();
        const problem = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(csr) ? null : 'Paste a PEM CSR (-----BEGIN CERTIFICATE REQUEST-----).';
        setInvalid(problem);
        if (!problem) void action.run();
      }}
    >
      <h3>Or sign a CSR made with openssl</h3>
      <Field label="CSR (PEM)" id="csr">
        <textarea id="csr" rows={8} value={csr} onInput={(e) => setCsr(e.currentTarget.value)} spellcheck={false} />
      </Field>
      <Field label="Or upload a CSR file" id="csr-file">
        <input id="csr-file" type="file" accept=".csr,.pem,.req" onChange={async (e) => setCsr(await (e.currentTarget.files?.[0]?.text() ?? ''))} />
      </Field>
      {invalid && (
        <div class="error" role="alert">
          {invalid}
        </div>
      )}
      <ErrorBox error={action.error} />
      <button type="submit" disabled={action.busy}>
        Sign CSR
      </button>
    </form>
  );
}
