import { ArcElement, BarController, BarElement, CategoryScale, Chart, DoughnutController, Legend, LinearScale, Tooltip, type ChartConfiguration } from 'chart.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { isAdmin, type Api, type Me } from '../api';
import { ErrorBox, formatTime, useAction } from '../ui';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, DoughnutController, ArcElement, Tooltip, Legend);

interface Stats {
  readonly account: string | null;
  readonly issuedPerDay: ReadonlyArray<{ day: string; count: number }>;
  readonly revokedByReason: ReadonlyArray<{ reason: string; count: number }>;
  readonly expiring: { within30Days: number; within60Days: number; within90Days: number };
  readonly crl: { crlNumber: string; thisUpdate: string; nextUpdate: string; entries: number; ageSeconds: number } | null;
  readonly ocspAnswers: Record<string, number> | null;
}

const PALETTE = ['#2563eb', '#dc2626', '#d97706', '#059669', '#7c3aed', '#db2777', '#0891b2', '#4b5563'];

/** A chart on a canvas, with the same numbers as a table for screen readers. */
function ChartBox({ title, config, rows }: { title: string; config: ChartConfiguration; rows: Array<[string, number]> }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
  }, [JSON.stringify(config.data)]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      {rows.length === 0 && <p class="hint">None in this period.</p>}
      <canvas ref={canvas} hidden={rows.length === 0} role="img" aria-label={`${title}: ${rows.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`} />
      <table class="sr-only" aria-label={title}>
        <tbody>
          {rows.map(([k, v]) => (
            <tr>
              <th scope="row">{k}</th>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

export function Dashboard({ api, me }: { api: Api; me: Me }) {
  const [stats, setStats] = useState<Stats | null>(null);
  const load = useAction(async () => setStats(await api.json<Stats>('/stats', { query: { days: 30 } })));
  useEffect(() => void load.run(), []);
  if (!stats) return <section aria-label="Dashboard">{load.busy ? <progress aria-label="Loading" /> : <ErrorBox error={load.error} />}</section>;

  const issued: Array<[string, number]> = stats.issuedPerDay.map((d) => [d.day.slice(5), d.count]);
  const revoked: Array<[string, number]> = stats.revokedByReason.map((r) => [r.reason, r.count]);
  const expiring: Array<[string, number]> = [
    ['30 days', stats.expiring.within30Days],
    ['60 days', stats.expiring.within60Days],
    ['90 days', stats.expiring.within90Days],
  ];
  const bar = (rows: Array<[string, number]>, color: string): ChartConfiguration => ({
    type: 'bar',
    data: { labels: rows.map(([k]) => k), datasets: [{ data: rows.map(([, v]) => v), backgroundColor: color }] },
    options: { animation: false, responsive: true, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  return (
    <section aria-labelledby="dash-title">
      <h2 id="dash-title">Dashboard {isAdmin(me) ? '(all accounts)' : `(${me.account})`}</h2>
      <div class="cards">
        <div class="card">
          <h3>Expiring within 30 days</h3>
          <p class="big" data-testid="expiring-30">
            {stats.expiring.within30Days}
          </p>
        </div>
        <div class="card">
          <h3>CRL</h3>
          {stats.crl ? (
            <p>
              Number <strong data-testid="crl-number">{stats.crl.crlNumber}</strong>, {stats.crl.entries} entries, {stats.crl.ageSeconds} s old (next update{' '}
              {formatTime(stats.crl.nextUpdate)})
            </p>
          ) : (
            <p>{isAdmin(me) ? 'No CRL yet.' : 'Shown to operators (it covers every account).'}</p>
          )}
        </div>
        <div class="card">
          <h3>OCSP answers (this process)</h3>
          {stats.ocspAnswers ? (
            <p>
              {Object.entries(stats.ocspAnswers)
                .map(([k, v]) => `${k}: ${v}`)
                .join(', ') || 'none yet'}
            </p>
          ) : (
            <p>{isAdmin(me) ? 'Metrics are off.' : 'Shown to operators (every account’s traffic).'}</p>
          )}
        </div>
      </div>
      <div class="charts">
        <ChartBox title="Certificates issued per day (30 days)" config={bar(issued, PALETTE[0])} rows={issued} />
        <ChartBox
          title="Revocations by reason (90 days)"
          rows={revoked}
          config={{
            type: 'doughnut',
            data: { labels: revoked.map(([k]) => k), datasets: [{ data: revoked.map(([, v]) => v), backgroundColor: PALETTE }] },
            options: { animation: false, responsive: true },
          }}
        />
        <ChartBox title="Certificates expiring" config={bar(expiring, PALETTE[2])} rows={expiring} />
      </div>
    </section>
  );
}
