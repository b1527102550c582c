import { useEffect, useState } from 'preact/hooks';
import { isAdmin, type Api, type Me } from '../api';
import { onLinkClick } from '../router';
import { ErrorBox, Field, formatTime, StatusBadge, useAction } from '../ui';

export interface CertificateSummary {
  readonly serialNumber: string;
  readonly account: string;
  readonly commonName: string;
  readonly subject: string;
  readonly status: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuedAt: string;
  readonly revokedAt: string | null;
  readonly reason: string | null;
}

interface Filters {
  status: string;
  commonName: string;
  account: string;
  expiresAfter: string;
  expiresBefore: string;
}

const EMPTY: Filters = { status: '', commonName: '', account: '', expiresAfter: '', expiresBefore: '' };

/** A date input's day as the API's ISO 8601 instant (start of that day, UTC). */
function isoDay(day: string): string | undefined {
  return day ? new Date(`${day}T00:00:00Z`).toISOString() : undefined;
}

/** The ledger search, newest first, with the API's filters and keyset paging ("Load more"). */
export function Certificates({ api, me }: { api: Api; me: Me }) {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [items, setItems] = useState<CertificateSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);

  const load = useAction(async (f: Filters, after: string | null) => {
    const page = await api.json<{ items: CertificateSummary[]; nextCursor: string | null }>('/private-certificates', {
      query: {
        status: f.status || undefined,
        commonName: f.commonName || undefined,
        account: isAdmin(me) ? f.account || undefined : undefined,
        expiresAfter: isoDay(f.expiresAfter),
        expiresBefore: isoDay(f.expiresBefore),
        limit: 50,
        cursor: after ?? undefined,
      },
    });
    setItems((before) => (after ? [...before, ...page.items] : page.items));
    setCursor(page.nextCursor);
  });

  useEffect(() => void load.run(EMPTY, null), []);
  const set = (name: keyof Filters) => (e: Event) => setFilters({ ...filters, [name]: (e.currentTarget as HTMLInputElement).value });

  return (
    <section aria-labelledby="certs-title">
      <h2 id="certs-title">Certificates</h2>
      <form
        class="filters"
        aria-label="Search certificates"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(filters);
          void load.run(filters, null);
        }}
      >
        <Field label="Status" id="f-status">
          <select id="f-status" value={filters.status} onChange={set('status')}>
            <option value="">any</option>
            <option value="valid">valid</option>
            <option value="revoked">revoked</option>
            <option value="expired">expired</option>
          </select>
        </Field>
        <Field label="Common name" id="f-cn">
          <input id="f-cn" value={filters.commonName} onInput={set('commonName')} maxLength={64} />
        </Field>
        {isAdmin(me) && (
          <Field label="Account" id="f-account">
            <input id="f-account" value={filters.account} onInput={set('account')} maxLength={64} />
          </Field>
        )}
        <Field label="Expires after" id="f-after">
          <input id="f-after" type="date" value={filters.expiresAfter} onInput={set('expiresAfter')} />
        </Field>
        <Field label="Expires before" id="f-before">
          <input id="f-before" type="date" value={filters.expiresBefore} onInput={set('expiresBefore')} />
        </Field>
        <button type="submit" disabled={load.busy}>
          Search
        </button>
      </form>
      <ErrorBox error={load.error} />
      <div class="table-wrap">
        <table aria-label="Certificates" aria-busy={load.busy}>
          <thead>
            <tr>
              <th scope="col">Common name</th>
              <th scope="col">Account</th>
              <th scope="col">Serial</th>
              <th scope="col">Status</th>
              <th scope="col">Expires</th>
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.serialNumber} data-serial={c.serialNumber}>
                <td>
                  <a href={`/console/certificates/${c.serialNumber}`} onClick={onLinkClick(`/certificates/${c.serialNumber}`)}>
                    {c.commonName}
                  </a>
                </td>
                <td>{c.account}</td>
                <td>
                  <code>{c.serialNumber}</code>
                </td>
                <td>
                  <StatusBadge status={c.status} />
                </td>
                <td>{formatTime(c.notAfter)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {items.length === 0 && !load.busy && <p>No certificates match.</p>}
      {cursor && (
        <button type="button" class="secondary" disabled={load.busy} onClick={() => void load.run(applied, cursor)}>
          Load more
        </button>
      )}
      <p>
        <a href="/console/request" onClick={onLinkClick('/request')}>
          Request a certificate
        </a>
      </p>
    </section>
  );
}

