// `npm run bench -- api [--seconds 5] [--connections 64]`: POST /v1/indicia over HTTP, every
// request device-signed (the signed client protocol), from `connections` customers at once (one
// request in flight each: a device's requests are serialized by its challenge), against a real
// `indicia serve` in its own process. Beside it, in the same run: GET /healthz from the same
// client code (the HTTP baseline), and the issuance service alone, in this process (no HTTP).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { IndiciaClient } from '../src/client/index.ts';
import { PASSWORD, registration } from '../test/support/api-helpers.ts';
import { serveIndicia } from './indicia-server.ts';
import { measureIssuance } from './issue.ts';

const CARD = { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' };

interface Figure {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

function percentile(sorted: readonly number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? Number.NaN;
}

/** `workers` loops calling `request` until `seconds` pass: completed requests per second and latency. */
async function closedLoop(
  workers: number,
  seconds: number,
  request: (worker: number) => Promise<void>,
): Promise<Figure> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() < deadline) {
        const begun = performance.now();
        try {
          await request(worker);
          latencies.push(performance.now() - begun);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((left, right) => left - right);
  return {
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors,
  };
}

/** The server's group-commit counts, from its Prometheus metrics. */
async function groupCommits(url: string): Promise<{ groups: number; commands: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string): number =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return {
    groups: read('indicia_group_commits_total'),
    commands: read('indicia_group_commit_commands_total'),
  };
}

/** The verification token mailed to `email`, read from the server's outbox folder (no SMTP relay). */
function mailedToken(outbox: string, email: string): string | undefined {
  for (const name of readdirSync(outbox)) {
    // Quoted-printable: soft line breaks and "=" written as =3D.
    const text = readFileSync(join(outbox, name), 'utf8')
      .replace(/=\r?\n/g, '')
      .replace(/=3D/g, '=');
    if (text.includes(`To: ${email}`)) return /token=([A-Za-z0-9_-]{43})/.exec(text)?.[1];
  }
  return undefined;
}

/** A verified customer with an enrolled device and a funded meter, signed in. */
async function customer(
  url: string,
  outbox: string,
  index: number,
  fingerprint: string,
): Promise<IndiciaClient> {
  const email = `bench-${index}@example.com`;
  const client = new IndiciaClient({ baseUrl: url });
  await client.register(registration(email));
  let token: string | undefined;
  for (let tries = 0; token === undefined && tries < 100; tries += 1) {
    token = mailedToken(outbox, email);
    if (token === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (token === undefined) throw new Error(`no verification mail for ${email}`);
  await client.verifyEmail(token);
  await client.signIn(email, PASSWORD);
  await client.enrollDevice(`bench device ${index}`, fingerprint);
  await client.addFunds(5_000_000, CARD);
  return client;
}

const row = (name: string, figure: Figure, baseline?: number): string =>
  `  ${name.padEnd(34)} ${Math.round(figure.perSecond).toLocaleString('en-US').padStart(8)}/s   p50 ${figure.p50.toFixed(1).padStart(6)} ms   p99 ${figure.p99.toFixed(1).padStart(6)} ms${baseline === undefined ? '' : `   ${(figure.perSecond / baseline).toFixed(2)}× of /healthz`}${figure.errors > 0 ? `   errors ${figure.errors}` : ''}`;

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '64' } },
  });
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const server = await serveIndicia({
    INDICIA_LOG_LEVEL: 'warn',
    // The figure is the API's, not the limiter's: every connection is a different customer anyway.
    INDICIA_RATE_LIMIT_PER_MINUTE: '0',
    INDICIA_RATE_LIMIT_SCALE: '10000',
  });
  const { url, dataDir } = server;
  try {
    console.log(
      `setting up ${connections} customers (sign-up, e-mail verification, device, sandbox funds)...`,
    );
    const fingerprint = (await new IndiciaClient({ baseUrl: url }).enrollmentKey()).fingerprint;
    const clients: IndiciaClient[] = [];
    for (let batch = 0; batch < connections; batch += 8) {
      const made = await Promise.all(
        Array.from({ length: Math.min(8, connections - batch) }, (_, offset) =>
          customer(url, join(dataDir, 'outbox'), batch + offset, fingerprint),
        ),
      );
      clients.push(...made);
    }
    console.log(`warming up (2 s)...`);
    await closedLoop(connections, 2, async (worker) => {
      await clients[worker]?.issueIndicia([{ postageMills: 730, rateCategory: 'FC' }]);
    });
    console.log(`measuring GET /healthz (${seconds} s, ${connections} connections)...`);
    const health = await closedLoop(connections, seconds, async () => {
      const response = await fetch(`${url}/healthz`);
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    });
    console.log(`measuring signed POST /v1/indicia (${seconds} s, ${connections} connections)...`);
    const groupsBefore = await groupCommits(url);
    const indicia = await closedLoop(connections, seconds, async (worker) => {
      await clients[worker]?.issueIndicia([{ postageMills: 730, rateCategory: 'FC' }]);
    });
    const groupsAfter = await groupCommits(url);
    const groupSize =
      (groupsAfter.commands - groupsBefore.commands) / Math.max(1, groupsAfter.groups - groupsBefore.groups);
    await server.stop();
    console.log(`measuring the issuance service alone, in process (${seconds} s, ${connections} issuers)...`);
    const serviceFolder = mkdtempSync(join(tmpdir(), 'indicia-bench-api-service-'));
    let service: Figure;
    try {
      const [figure] = await measureIssuance(serviceFolder, seconds, [connections]);
      service = {
        perSecond: figure?.perSecond ?? 0,
        p50: figure?.p50 ?? 0,
        p99: figure?.p99 ?? 0,
        errors: 0,
      };
    } finally {
      rmSync(serviceFolder, { recursive: true, force: true });
    }
    console.log('');
    console.log(
      `api: ${connections} connections (one customer, meter and device each), ${seconds} s per row, loopback`,
    );
    console.log(
      `  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}; client and server share it`,
    );
    console.log(row('GET /healthz (baseline)', health));
    console.log(row('POST /v1/indicia, signed, 1 piece', indicia, health.perSecond));
    console.log(
      `  ${''.padEnd(34)} mean group size ${groupSize.toFixed(1)} commands per commit (server's /metrics)`,
    );
    console.log(row('issuance service, no HTTP', service));
    console.log(
      `  signed API / service alone: ${(indicia.perSecond / service.perSecond).toFixed(2)}×  (each API request also signs, checks and writes a receipt)`,
    );
    return health.errors + indicia.errors === 0 ? 0 : 1;
  } finally {
    await server.stop();
  }
}
