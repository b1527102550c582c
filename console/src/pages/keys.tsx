import { useEffect, useState } from 'preact/hooks';
import type { Api } from '../api';
import { CopyButton, ErrorBox, Field, formatTime, useAction } from '../ui';

interface ApiKey {
  readonly appKey: string;
  readonly account: string;
  readonly permissions: readonly string[];
  readonly createdAt: string;
  readonly disabledAt: string | null;
}

const ROLES = ['role:tenant', 'role:signer', 'role:auditor', 'role:admin', 'role:gateway'];

/** API keys (admins): create (the token shown once), list, disable. */
export function Keys({ api }: { api: Api }) {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [account, setAccount] = useState('');
  const [role, setRole] = useState('role:tenant');
  const [created, setCreated] = useState<{ appKey: string; appToken: string } | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const list = useAction(async () => setKeys((await api.json<{ items: ApiKey[] }>('/keys')).items));
  const create = useAction(async () => {
    const key = await api.sendJson<{ appKey: string; appToken: string }>('/keys', 'POST', { account, permissions: [role] });
    setCreated({ appKey: key.appKey, appToken: key.appToken });
    setAccount('');
    await list.run();
  });
  const disable = useAction(async (appKey: string) => {
    await api.raw(`/keys/${encodeURIComponent(appKey)}`, { method: 'DELETE' });
    await list.run();
  });
  useEffect(() => void list.run(), []);

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <form
        aria-label="Create an API key"
        onSubmit={(e) => {
          e.preventDefault();
          const problem = /^[A-Za-z0-9._-]{1,64}$/.test(account) ? null : 'Account: 1–64 of A–Z a–z 0–9 . _ -';
          setInvalid(problem);
          if (!problem) {
            setCreated(null);
            void create.run();
          }
        }}
      >
        <Field label="Account" id="key-account">
          <input id="key-account" value={account} onInput={(e) => setAccount(e.currentTarget.value)} required maxLength={64} />
        </Field>
        <Field label="Role" id="key-role">
          <select id="key-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            {ROLES.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </Field>
        {invalid && (
          <div class="error" role="alert">
            {invalid}
          </div>
        )}
        <ErrorBox error={create.error} />
        <button type="submit" disabled={create.busy}>
          Create key
        </button>
      </form>
      {created && (
        <div class="result" role="status">
          <p>
            <strong>Copy the token now: it is shown only once.</strong>
          </p>
          <dl class="facts">
            <dt>App key</dt>
            <dd>
              <code data-testid="new-app-key">{created.appKey}</code>
            </dd>
            <dt>App token</dt>
            <dd>
              <code data-testid="new-app-token" class="wrap">
                {created.appToken}
              </code>{' '}
              <CopyButton text={created.appToken} label="Copy token" />
            </dd>
          </dl>
          <button type="button" class="secondary" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      <ErrorBox error={list.error ?? disable.error} />
      <div class="table-wrap">
        <table aria-label="API keys">
          <thead>
            <tr>
              <th scope="col">App key</th>
              <th scope="col">Account</th>
              <th scope="col">Permissions</th>
              <th scope="col">Created</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.appKey}>
                <td>
                  <code>{k.appKey}</code>
                </td>
                <td>{k.account}</td>
                <td>{k.permissions.join(', ')}</td>
                <td>{formatTime(k.createdAt)}</td>
                <td>
                  {k.disabledAt ? (
                    `disabled ${formatTime(k.disabledAt)}`
                  ) : (
                    <button type="button" class="secondary" aria-label={`Disable ${k.appKey}`} onClick={() => void disable.run(k.appKey)}>
                      Disable
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
