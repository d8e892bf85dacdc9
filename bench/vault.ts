// `npm run bench -- vault [--seconds 3]`: per crypto backend, ECDSA P-256 signatures per second
// with a wrapped meter key (unwrap + sign, as a lone indicium needs; and with the key opened once,
// as a group pass signs), PSD package seal+unseal pairs
// per second, and full module commands per second (debit + sign + durable checkpoint ring), next
// to `openssl speed ecdsap256` measured in the same run on the same machine. One thread each.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Mills } from '../src/money/index.ts';
import {
  type CryptoBackend,
  CryptoModule,
  Pkcs11Backend,
  SoftwareBackend,
  SoftwareKeystore,
  initializeToken,
  sealPackage,
  signOnce,
  unsealPackage,
} from '../src/vault/index.ts';
import { prepareSoftHsm, randomPin } from '../test/support/softhsm.ts';

interface BackendFigures {
  readonly backend: string;
  readonly signPerSecond: number;
  readonly openKeySignPerSecond: number;
  readonly sealUnsealPerSecond: number;
  readonly commandsPerSecond: number;
  /** Open-key signatures with 64 in flight, as a group pass asks for them. */
  readonly groupSignPerSecond: number;
}

/** Calls `operation` repeatedly for about `seconds` and returns completions per second. */
async function rate(seconds: number, operation: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let count = 0;
  while (performance.now() < deadline) {
    for (let batch = 0; batch < 20; batch += 1) await operation();
    count += 20;
  }
  return count / ((performance.now() - started) / 1000);
}

function opensslSignsPerSecond(seconds: number): number {
  const result = spawnSync('openssl', ['speed', '-seconds', String(seconds), 'ecdsap256'], {
    encoding: 'utf8',
  });
  const line = result.stdout.split('\n').find((text) => text.includes('nistp256'));
  const columns = line?.trim().split(/\s+/) ?? [];
  // "256 bits ecdsa (nistp256)   0.0000s   0.0001s  39000.0  13000.0": sign/s is the first rate.
  const signs = Number(columns[columns.length - 2]);
  if (!Number.isFinite(signs))
    throw new Error(`could not read openssl speed output:\n${result.stdout}${result.stderr}`);
  return signs;
}

async function measure(name: string, backend: CryptoBackend, seconds: number): Promise<BackendFigures> {
  const module = new CryptoModule(backend);
  await module.start();
  await module.login('crypto-officer', 'bench-officer-credential');
  await module.initializeKeys();
  module.logout();
  await module.login('crypto-user');
  const meterId = '042N59000001';
  const created = await module.createPackage({
    databaseCheckpoint: null,
    meterId,
    maxDescendingRegister: 1_000_000_000 as Mills,
    licensingZip: '10001',
  });
  let checkpoint = created.checkpoint;
  let sealed = created.sealedPackage;
  let sequence = 0;
  const funded = await module.execute({
    databaseCheckpoint: checkpoint,
    sealedPackage: sealed,
    expected: { meterId, sequence },
    steps: [{ operation: { type: 'fund', amount: 900_000_000 as Mills } }],
  });
  ({ checkpoint, sealedPackage: sealed } = funded);
  sequence = funded.transaction.packageSequence;

  const { state } = await unsealPackage(backend, sealed, { meterId, sequence }, 1);
  const wrapped = Buffer.from(state.signingKey.wrapped, 'base64');
  const indicium = randomBytes(89);
  const signPerSecond = await rate(seconds, () =>
    signOnce(backend, 'ecdsa-p256', state.signingKey.wrapVersion, wrapped, indicium),
  );
  // A group pass unwraps each meter's key once and signs all of that meter's pieces with it.
  const openKey = await backend.openSigningKey('ecdsa-p256', state.signingKey.wrapVersion, wrapped);
  const openKeySignPerSecond = await rate(seconds, () => openKey.sign(indicium));
  const groupSignPerSecond =
    64 * (await rate(seconds, () => Promise.all(Array.from({ length: 64 }, () => openKey.sign(indicium)))));
  await openKey.close();
  const sealUnsealPerSecond = await rate(seconds, async () => {
    const again = await sealPackage(backend, state, 1);
    await unsealPackage(backend, again, { meterId, sequence }, 1);
  });
  const commandsPerSecond = await rate(seconds, async () => {
    const result = await module.execute({
      databaseCheckpoint: checkpoint,
      sealedPackage: sealed,
      expected: { meterId, sequence },
      steps: [{ operation: { type: 'debit', amount: 730 as Mills }, sign: () => indicium }],
    });
    checkpoint = result.checkpoint;
    sealed = result.sealedPackage;
    sequence = result.transaction.packageSequence;
  });
  await module.close();
  return {
    backend: name,
    signPerSecond,
    openKeySignPerSecond,
    groupSignPerSecond,
    sealUnsealPerSecond,
    commandsPerSecond,
  };
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { seconds: { type: 'string', default: '3' } } });
  const seconds = Number(values.seconds);
  console.log(`measuring openssl speed ecdsap256 (${seconds} s)...`);
  const openssl = opensslSignsPerSecond(seconds);

  console.log('measuring the software backend...');
  const folder = mkdtempSync(join(tmpdir(), 'indicia-bench-vault-'));
  const software = await measure(
    'software',
    new SoftwareBackend(new SoftwareKeystore(folder, randomBytes(32)), 1),
    seconds,
  );

  console.log('measuring the pkcs11 backend (SoftHSM2)...');
  const library = prepareSoftHsm();
  const tokenLabel = `indicia-bench-${randomBytes(4).toString('hex')}`;
  const pin = randomPin();
  initializeToken(library, tokenLabel, randomPin(), pin);
  const pkcs11 = await measure(
    'pkcs11',
    await Pkcs11Backend.open({ library, tokenLabel, userPin: pin }, 1),
    seconds,
  );
  rmSync(folder, { recursive: true, force: true });

  const format = (value: number): string => Math.round(value).toLocaleString('en-US');
  console.log('');
  console.log(
    `vault: ECDSA P-256, ${seconds} s per figure, one event loop (software signs on libuv's thread pool), ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`,
  );
  console.log(`  openssl speed ecdsap256 (same run): ${format(openssl)} sign/s`);
  console.log(
    '  backend    sign/s (unwrap+sign)  vs openssl   sign/s (open key)  vs openssl   sign/s (open key, 64 in flight)   seal+unseal/s   debit+sign commands/s (durable ring)',
  );
  for (const figures of [software, pkcs11]) {
    console.log(
      `  ${figures.backend.padEnd(9)}${format(figures.signPerSecond).padStart(10)}           ${(figures.signPerSecond / openssl).toFixed(2).padStart(6)}×   ${format(figures.openKeySignPerSecond).padStart(10)}        ${(figures.openKeySignPerSecond / openssl).toFixed(2).padStart(6)}×   ${format(figures.groupSignPerSecond).padStart(10)} (${(figures.groupSignPerSecond / openssl).toFixed(2)}×)          ${format(figures.sealUnsealPerSecond).padStart(13)}   ${format(figures.commandsPerSecond).padStart(10)}`,
    );
  }
  return 0;
}
