import 'reflect-metadata';
import './styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Api, isAdmin, may, session, type Me } from './api';
import { Audit } from './pages/audit';
import { CertificateDetail } from './pages/certificate-detail';
import { Certificates } from './pages/certificates';
import { Dashboard } from './pages/dashboard';
import { Keys } from './pages/keys';
import { RequestCertificate } from './pages/request';
import { Issuers, Outgoing } from './pages/resources';
import { SignIn } from './pages/sign-in';
import { navigate, onLinkClick, useRoute } from './router';

interface Page {
  readonly path: string;
  readonly label: string;
  readonly allowed: (me: Me) => boolean;
}

const PAGES: Page[] = [
  { path: '/', label: 'Dashboard', allowed: (me) => may(me, 'certificates:read') },
  { path: '/request', label: 'Request a certificate', allowed: (me) => may(me, 'certificates:sign') },
  { path: '/certificates', label: 'Certificates', allowed: (me) => may(me, 'certificates:read') },
  { path: '/keys', label: 'API keys', allowed: isAdmin },
  { path: '/audit', label: 'Audit trail', allowed: isAdmin },
  { path: '/issuers', label: 'CA issuers', allowed: isAdmin },
  { path: '/outgoing', label: 'Outgoing mTLS', allowed: isAdmin },
];

function Content({ api, me, route }: { api: Api; me: Me; route: string }) {
  const detail = /^\/certificates\/([^/]+)$/.exec(route);
  if (detail && may(me, 'certificates:read')) return <CertificateDetail api={api} me={me} serial={decodeURIComponent(detail[1])} />;
  const page = PAGES.find((p) => p.path === route);
  if (!page) return <NotFound />;
  if (!page.allowed(me)) return <Forbidden />;
  switch (page.path) {
    case '/':
      return <Dashboard api={api} me={me} />;
    case '/request':
      return <RequestCertificate api={api} me={me} />;
    case '/certificates':
      return <Certificates api={api} me={me} />;
    case '/keys':
      return <Keys api={api} />;
    case '/audit':
      return <Audit api={api} />;
    case '/issuers':
      return <Issuers api={api} />;
    default:
      return <Outgoing api={api} />;
  }
}

function NotFound() {
  return (
    <section>
      <h2>Not found</h2>
      <p>There is no such page.</p>
    </section>
  );
}

function Forbidden() {
  return (
    <section>
      <h2>Not for this key</h2>
      <p role="alert">This API key may not use this page.</p>
    </section>
  );
}

function App() {
  const route = useRoute();
  const [state, setState] = useState<{ api: Api; me: Me } | null>(null);
  const [restoring, setRestoring] = useState(session.load() !== null);

  useEffect(() => {
    const saved = session.load();
    if (!saved) return;
    const api = new Api(saved);
    api
      .json<Me>('/keys/me')
      .then((me) => setState({ api, me }))
      .catch(() => session.clear())
      .finally(() => setRestoring(false));
  }, []);

  if (restoring) return <progress aria-label="Loading" />;
  if (!state) return <SignIn onSignedIn={(api, me) => setState({ api, me })} />;
  const { api, me } = state;
  const signOut = () => {
    session.clear();
    setState(null);
    navigate('/');
  };
  return (
    <div class="layout">
      <header>
        <a class="brand" href="/console/" onClick={onLinkClick('/')}>
          mtls-ca
        </a>
        <nav aria-label="Main">
          <ul>
            {PAGES.filter((p) => p.allowed(me)).map((p) => (
              <li>
                <a href={`/console${p.path}`} onClick={onLinkClick(p.path)} aria-current={route === p.path ? 'page' : undefined}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span data-testid="signed-in-as">
            {me.appKey} · {me.account}
            {isAdmin(me) ? ' · admin' : ''}
          </span>{' '}
          <button type="button" class="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>
        <Content api={api} me={me} route={route} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
