// `npm run bench -- http [--duration 10] [--connections 64]`: requests per second for GET /healthz
// on loopback, against a real `indicia serve` in its own process (default config, SQLite, logging
// on), measured with autocannon from this process. The baseline for later API figures.
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { serveIndicia } from './indicia-server.ts';

function load(url: string, connections: number, duration: number): Promise<autocannon.Result> {
  return autocannon({ url: `${url}/healthz`, connections, duration, pipelining: 1 });
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '64' } },
  });
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const server = await serveIndicia();
  const { url } = server;
  try {
    console.log(`warming up (2 s, ${connections} connections)...`);
    await load(url, connections, 2);
    console.log(`measuring GET /healthz for ${duration} s with ${connections} connections...`);
    const result = await load(url, connections, duration);
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    console.log('');
    console.log(`http: GET /healthz, ${connections} connections, ${duration} s, loopback`);
    console.log(`  machine          ${cpus().length} × ${cpu}, Node.js ${process.version}`);
    console.log(
      `  requests/s       ${Math.round(result.requests.average)} (mean), ${result.requests.p50} (median)`,
    );
    console.log(
      `  latency          p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
    );
    console.log(
      `  total requests   ${result.requests.total}; errors ${result.errors}; non-2xx ${result.non2xx}; timeouts ${result.timeouts}`,
    );
    return result.errors === 0 && result.non2xx === 0 ? 0 : 1;
  } finally {
    await server.stop();
  }
}
