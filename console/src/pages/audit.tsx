import { useEffect, useState } from 'preact/hooks';
import type { Api } from '../api';
import { ErrorBox, Field, formatTime, useAction } from '../ui';

interface AuditItem {
  readonly seq: number;
  readonly time: string;
  readonly action: string;
  readonly outcome: string;
  readonly problem: string | null;
  readonly actor: string | null;
  readonly account: string | null;
  readonly serialNumber: string | null;
}

type Verification = { intact: true; count: number } | { intact: false; count: number; break: { seq: number; field: string } };

/** The audit trail (admins) with its filters, and whether its hash chain verifies. */
export function Audit({ api }: { api: Api }) {
  const [filters, setFilters] = useState({ action: '', outcome: '', account: '', actor: '', serialNumber: '' });
  const [items, setItems] = useState<AuditItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [verification, setVerification] = useState<Verification | null>(null);
  const load = useAction(async (after: string | null) => {
    const page = await api.json<{ items: AuditItem[]; nextCursor: string | null }>('/audit', {
      query: { ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v)), limit: 50, cursor: after ?? undefined },
    });
    setItems((before) => (after ? [...before, ...page.items] : page.items));
    setCursor(page.nextCursor);
  });
  const verify = useAction(async () => setVerification(await api.json<Verification>('/audit/verification')));
  useEffect(() => {
    void load.run(null);
    void verify.run();
  }, []);
  const set = (name: keyof typeof filters) => (e: Event) => setFilters({ ...filters, [name]: (e.currentTarget as HTMLInputElement).value });

  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit trail</h2>
      <p role="status" data-testid="chain-status">
        {verification === null
          ? 'Verifying the hash chain…'
          : verification.intact
            ? `Hash chain verified: ${verification.count} records intact.`
            : `Hash chain BROKEN at record ${verification.break.seq} (${verification.break.field}).`}
      </p>
      <ErrorBox error={verify.error} />
      <form
        class="filters"
        aria-label="Filter the audit trail"
        onSubmit={(e) => {
          e.preventDefault();
          void load.run(null);
        }}
      >
        <Field label="Action" id="a-action">
          <input id="a-action" value={filters.action} onInput={set('action')} placeholder="certificate.sign" />
        </Field>
        <Field label="Outcome" id="a-outcome">
          <select id="a-outcome" value={filters.outcome} onChange={set('outcome')}>
            <option value="">any</option>
            <option value="success">success</option>
            <option value="failure">failure</option>
          </select>
        </Field>
        <Field label="Account" id="a-account">
          <input id="a-account" value={filters.account} onInput={set('account')} />
        </Field>
        <Field label="Actor" id="a-actor">
          <input id="a-actor" value={filters.actor} onInput={set('actor')} />
        </Field>
        <Field label="Serial" id="a-serial">
          <input id="a-serial" value={filters.serialNumber} onInput={set('serialNumber')} />
        </Field>
        <button type="submit" disabled={load.busy}>
          Filter
        </button>
      </form>
      <ErrorBox error={load.error} />
      <div class="table-wrap">
        <table aria-label="Audit records">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Time</th>
              <th scope="col">Action</th>
              <th scope="col">Outcome</th>
              <th scope="col">Actor</th>
              <th scope="col">Account</th>
              <th scope="col">Serial</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.seq}>
                <td>{r.seq}</td>
                <td>{formatTime(r.time)}</td>
                <td>{r.action}</td>
                <td>{r.outcome === 'failure' ? `failure (${r.problem ?? ''})` : r.outcome}</td>
                <td>{r.actor ?? '—'}</td>
                <td>{r.account ?? '—'}</td>
                <td>{r.serialNumber ? <code>{r.serialNumber}</code> : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {cursor && (
        <button type="button" class="secondary" onClick={() => void load.run(cursor)}>
          Load more
        </button>
      )}
    </section>
  );
}
