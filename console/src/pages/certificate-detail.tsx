import { useEffect, useState } from 'preact/hooks';
import { may, type Api, type Me } from '../api';
import { derBlocks, download, serialForms, sha256Fingerprint } from '../crypto/keys';
import { ErrorBox, Field, CopyButton, formatTime, StatusBadge, useAction } from '../ui';
import type { CertificateSummary } from './certificates';
import * as x509 from '@peculiar/x509';

const REASONS = ['unspecified', 'keyCompromise', 'caCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'];

interface Detail extends CertificateSummary {
  readonly certificate: string;
}

/** One certificate: its fields, PEM, and "Revoke" with a reason and a confirmation. */
export function CertificateDetail({ api, me, serial }: { api: Api; me: Me; serial: string }) {
  const [cert, setCert] = useState<Detail | null>(null);
  const [facts, setFacts] = useState<{ fingerprint: string; issuer: string } | null>(null);
  const load = useAction(async () => {
    const detail = await api.json<Detail>(`/private-certificates/${encodeURIComponent(serial)}`);
    setCert(detail);
    const der = derBlocks(detail.certificate)[0];
    setFacts({ fingerprint: await sha256Fingerprint(der), issuer: new x509.X509Certificate(der).issuer });
  });
  useEffect(() => void load.run(), [serial]);

  if (!cert) {
    return (
      <section aria-labelledby="detail-title">
        <h2 id="detail-title">Certificate</h2>
        {load.busy && <progress aria-label="Loading" />}
        <ErrorBox error={load.error} />
      </section>
    );
  }
  const serials = serialForms(cert.serialNumber);
  return (
    <section aria-labelledby="detail-title">
      <h2 id="detail-title">{cert.commonName}</h2>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={cert.status} />
          {cert.revokedAt && ` since ${formatTime(cert.revokedAt)} (${cert.reason})`}
        </dd>
        <dt>Subject</dt>
        <dd>{cert.subject}</dd>
        <dt>Account</dt>
        <dd>{cert.account}</dd>
        <dt>Serial (hex)</dt>
        <dd>
          <code data-testid="serial-hex">{serials.hex}</code>
        </dd>
        <dt>Serial (decimal)</dt>
        <dd>
          <code>{serials.decimal}</code>
        </dd>
        <dt>SHA-256 fingerprint</dt>
        <dd>
          <code class="wrap">{facts?.fingerprint ?? '…'}</code>
        </dd>
        <dt>Issuer</dt>
        <dd>{facts?.issuer ?? '…'}</dd>
        <dt>Valid</dt>
        <dd>
          {formatTime(cert.notBefore)} → {formatTime(cert.notAfter)}
        </dd>
        <dt>Issued</dt>
        <dd>{formatTime(cert.issuedAt)}</dd>
      </dl>
      <details>
        <summary>PEM</summary>
        <pre class="pem">{cert.certificate}</pre>
      </details>
      <p>
        <CopyButton text={cert.certificate} label="Copy PEM" />{' '}
        <button type="button" class="secondary" onClick={() => download(`${cert.commonName}-${cert.serialNumber}.pem`, cert.certificate, 'application/x-pem-file')}>
          Download PEM
        </button>
      </p>
      {cert.status !== 'revoked' && may(me, 'certificates:revoke') && <Revoke api={api} cert={cert} onRevoked={() => void load.run()} />}
    </section>
  );
}

function Revoke({ api, cert, onRevoked }: { api: Api; cert: Detail; onRevoked: () => void }) {
  const [reason, setReason] = useState('unspecified');
  const [confirming, setConfirming] = useState(false);
  const action = useAction(async () => {
    await api.raw(`/private-certificates/${encodeURIComponent(cert.serialNumber)}`, {
      method: 'DELETE',
      body: JSON.stringify({ reason }),
      contentType: 'application/json',
    });
    setConfirming(false);
    onRevoked();
  });
  return (
    <form
      class="danger-zone"
      aria-label="Revoke"
      onSubmit={(e) => {
        e.preventDefault();
        if (confirming) void action.run();
        else setConfirming(true);
      }}
    >
      <h3>Revoke</h3>
      <Field label="Reason" id="revoke-reason">
        <select id="revoke-reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
          {REASONS.map((r) => (
            <option value={r}>{r}</option>
          ))}
        </select>
      </Field>
      <ErrorBox error={action.error} />
      {confirming ? (
        <div role="alertdialog" aria-labelledby="confirm-text">
          <p id="confirm-text">
            Revoke <strong>{cert.commonName}</strong> ({cert.serialNumber})? Relying parties refuse it within a second. This cannot be undone.
          </p>
          <button type="submit" class="danger" disabled={action.busy}>
            Confirm revocation
          </button>{' '}
          <button type="button" class="secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      ) : (
        <button type="submit" class="danger">
          Revoke
        </button>
      )}
    </form>
  );
}
