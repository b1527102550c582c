import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api';
import { ErrorBox, useAction } from '../ui';

/** Long or secret-looking fields left out of the overview tables (open the API for the whole object). */
const HIDDEN = /certificate|chain|pem|csr|secret|key$|serverCa/i;

function cell(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * A read-only table of one API collection (CA issuers, identities, routes, webhooks), for operators.
 * A server without that API says so instead of failing.
 */
export function ResourceTable({ api, title, path, children }: { api: Api; title: string; path: string; children?: (item: Record<string, unknown>) => preact.ComponentChildren }) {
  const [items, setItems] = useState<Array<Record<string, unknown>> | null>(null);
  const [missing, setMissing] = useState(false);
  const load = useAction(async () => {
    try {
      const answer = await api.json<{ items?: Array<Record<string, unknown>> } | Array<Record<string, unknown>>>(path);
      setItems(Array.isArray(answer) ? answer : (answer.items ?? []));
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) setMissing(true);
      else throw e;
    }
  });
  useEffect(() => void load.run(), [path]);
  const columns = items && items.length > 0 ? Object.keys(items[0]).filter((k) => !HIDDEN.test(k)).slice(0, 8) : [];
  return (
    <section aria-label={title}>
      <h3>{title}</h3>
      <ErrorBox error={load.error} />
      {missing && <p>Not available on this server.</p>}
      {items && items.length === 0 && <p>None yet.</p>}
      {items && items.length > 0 && (
        <div class="table-wrap">
          <table aria-label={title}>
            <thead>
              <tr>
                {columns.map((c) => (
                  <th scope="col">{c}</th>
                ))}
                {children && <th scope="col">More</th>}
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <tr>
                  {columns.map((c) => (
                    <td>{cell(item[c])}</td>
                  ))}
                  {children && <td>{children(item)}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function Issuers({ api }: { api: Api }) {
  return (
    <section aria-labelledby="issuers-title">
      <h2 id="issuers-title">CA issuers</h2>
      <p>
        The trust bundle relying parties need is at <a href="/ca.pem">/ca.pem</a>. Rotate with <code>POST /ca/issuers</code> then{' '}
        <code>POST /ca/issuers/&#123;id&#125;/activate</code>, or <code>mtls-ca ca rotate</code>.
      </p>
      <ResourceTable api={api} title="Issuers" path="/ca/issuers" />
    </section>
  );
}

export function Outgoing({ api }: { api: Api }) {
  const [deliveriesOf, setDeliveriesOf] = useState<string | null>(null);
  return (
    <section aria-labelledby="outgoing-title">
      <h2 id="outgoing-title">Outgoing mTLS</h2>
      <ResourceTable api={api} title="Client identities" path="/identities" />
      <ResourceTable api={api} title="Outbound routes" path="/outbound-routes" />
      <ResourceTable api={api} title="Webhooks" path="/webhooks">
        {(item) => (
          <button type="button" class="secondary" onClick={() => setDeliveriesOf(String(item.id))}>
            Deliveries
          </button>
        )}
      </ResourceTable>
      {deliveriesOf && <ResourceTable api={api} title={`Deliveries of webhook ${deliveriesOf}`} path={`/webhooks/${encodeURIComponent(deliveriesOf)}/deliveries`} />}
    </section>
  );
}
