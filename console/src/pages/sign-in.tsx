import { useState } from 'preact/hooks';
import { signIn, type Api, type Me } from '../api';
import { ErrorBox, Field, useAction } from '../ui';

export function SignIn({ onSignedIn }: { onSignedIn: (api: Api, me: Me) => void }) {
  const [appKey, setAppKey] = useState('');
  const [appToken, setAppToken] = useState('');
  const { busy, error, setError, run } = useAction(async () => {
    const { api, me } = await signIn({ appKey: appKey.trim(), appToken: appToken.trim() });
    onSignedIn(api, me);
  });
  return (
    <main class="sign-in">
      <h1>mtls-ca console</h1>
      <form
        aria-label="Sign in"
        onSubmit={(e) => {
          e.preventDefault();
          if (!appKey.trim() || !appToken.trim()) {
            setError(new Error('Enter both the app key and the app token.'));
            return;
          }
          void run();
        }}
      >
        <Field label="App key" id="app-key">
          <input id="app-key" name="appKey" autocomplete="username" value={appKey} onInput={(e) => setAppKey(e.currentTarget.value)} required />
        </Field>
        <Field label="App token" id="app-token" hint="Kept in this tab only; closing it or signing out forgets it.">
          <input
            id="app-token"
            name="appToken"
            type="password"
            autocomplete="current-password"
            value={appToken}
            onInput={(e) => setAppToken(e.currentTarget.value)}
            aria-describedby="app-token-hint"
            required
          />
        </Field>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
