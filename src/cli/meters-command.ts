import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { type OperatorServices, withOperatorServices } from '../installation/index.ts';
import { reconcileMeters } from '../meters/index.ts';
import { type Mills, formatUsd, parseDollars } from '../money/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';

export const METERS_USAGE = [
  'indicia meters create --customer N --zip 12345 --max-dr 500.00 [--algorithm ed25519]',
  '                                    MeterGen: key pair in a module, certificate from the authority',
  'indicia meters fund METER AMOUNT [--source TEXT]      postage value download, e.g. 100.00',
  'indicia meters issue METER --postage 0.73 --rate FC [--count N] [--date YYYY-MM-DD] [--zip Z]',
  '                    [--out DIR]     issue indicia (one commit for --count pieces); print or save them',
  'indicia meters show METER           status, registers and certificate of a meter',
  "indicia meters verify FILE|HEX [--verifier NAME]      a verifier's scan, recorded (2nd time: duplicate)",
  'indicia meters verify FILE|HEX --check               the public check: genuine or not; records nothing',
  'indicia meters disable METER --reason TEXT           stop a meter for good, revoke its certificates',
  "indicia meters certificate METER|--ca                print a meter's (or the CA's) certificate, PEM",
  'indicia meters refund INDICIUM      refund a spoiled indicium at once (operator; within 1% of AR)',
  "indicia meters refund-requests [--status pending|approved|denied]   customers' refund requests",
  'indicia meters refund-decide REQUEST approve|deny [--note TEXT]     decide a pending refund request',
  'indicia meters plan CUSTOMER [PLAN|--default]        show or set the pricing plan (refund policy)',
  'indicia meters correct INDICIUM [--postage 0.73] [--date YYYY-MM-DD]   correction indicium',
  'indicia meters suspend|resume METER                  stop or restart printing',
  'indicia meters withdraw METER       full refund of the DR; closes the meter for good',
  'indicia meters rekey METER          new key pair and certificate (old one still verifies)',
  'indicia reconcile                   prove AR + DR = funded and the pool equations from stored data',
].join('\n');

function required(values: Record<string, string | boolean | undefined>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '')
    throw new UsageError(`--${name} is required (see indicia --help)`);
  return value;
}

function wholeNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${what} must be a whole number; got "${text}"`);
  return Number(text);
}

async function run<T>(config: Config, work: (services: OperatorServices) => Promise<T>): Promise<T> {
  return withOperatorServices(config, work);
}

/** `indicia meters <create|fund|issue|show|verify|disable|certificate>` */
export async function metersCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const { values, config } = parseSubcommand(
        rest,
        {
          customer: { type: 'string' },
          zip: { type: 'string' },
          'max-dr': { type: 'string' },
          algorithm: { type: 'string' },
        },
        io,
      );
      const algorithm = values['algorithm'] ?? 'ecdsa-p256';
      if (algorithm !== 'ecdsa-p256' && algorithm !== 'ed25519')
        throw new UsageError('--algorithm is ecdsa-p256 or ed25519');
      const meter = await run(config, ({ meters }) =>
        meters.create({
          customerNumber: wholeNumber(required(values, 'customer'), '--customer'),
          licensingZip: required(values, 'zip'),
          maxDescendingRegister: parseDollars(required(values, 'max-dr')),
          algorithm,
        }),
      );
      io.write(
        `Meter ${meter.meterId} created; certificate ${meter.certificate.serial} (valid to ${meter.certificate.notAfter.slice(0, 10)}).\n`,
      );
      return 0;
    }
    case 'fund': {
      const { positionals, values, config } = parseSubcommand(rest, { source: { type: 'string' } }, io);
      const [meterId, amountText] = positionals;
      if (meterId === undefined || amountText === undefined)
        throw new UsageError('usage: indicia meters fund METER AMOUNT');
      const funded = await run(config, ({ meters }) =>
        meters.fund(
          meterId,
          parseDollars(amountText),
          typeof values['source'] === 'string' ? values['source'] : 'operator',
        ),
      );
      io.write(
        `Funded ${meterId} with ${formatUsd(funded.amount)}; it can now print ${formatUsd(funded.view.descendingRegister)} (AR ${formatUsd(funded.view.ascendingRegister)}).\n`,
      );
      return 0;
    }
    case 'issue': {
      const { positionals, values, config } = parseSubcommand(
        rest,
        {
          postage: { type: 'string' },
          rate: { type: 'string' },
          count: { type: 'string' },
          date: { type: 'string' },
          zip: { type: 'string' },
          out: { type: 'string' },
        },
        io,
      );
      const [meterId] = positionals;
      if (meterId === undefined)
        throw new UsageError('usage: indicia meters issue METER --postage 0.73 --rate FC');
      const count = typeof values['count'] === 'string' ? wholeNumber(values['count'], '--count') : 1;
      const piece = {
        postage: parseDollars(required(values, 'postage')),
        rateCategory: required(values, 'rate'),
        ...(typeof values['date'] === 'string' ? { mailingDate: values['date'] } : {}),
        ...(typeof values['zip'] === 'string' ? { originZip: values['zip'] } : {}),
      };
      const issued = await run(config, ({ meters }) =>
        meters.issue(
          meterId,
          Array.from({ length: count }, () => piece),
        ),
      );
      const out = values['out'];
      for (const indicium of issued) {
        if (typeof out === 'string') writeFileSync(join(out, `${indicium.id}.bin`), indicium.data);
        io.write(
          `${indicium.id} ${formatUsd(indicium.postage)} AR ${formatUsd(indicium.ascendingRegister)} DR ${formatUsd(indicium.descendingRegister)} ${typeof out === 'string' ? join(out, `${indicium.id}.bin`) : indicium.data.toString('hex')}\n`,
        );
      }
      return 0;
    }
    case 'show': {
      const { positionals, config } = parseSubcommand(rest, {}, io);
      const [meterId] = positionals;
      if (meterId === undefined) throw new UsageError('usage: indicia meters show METER');
      const { meter, psd } = await run(config, ({ meters }) => meters.show(meterId));
      io.write(
        [
          `${meter.meter_id} (${meter.mode}, customer ${meter.customer_number}, licensed at ${meter.licensing_zip})`,
          `  status       ${meter.status} (PSD ${psd.state})`,
          `  registers    AR ${formatUsd(psd.ascendingRegister)}  DR ${formatUsd(psd.descendingRegister)}  max DR ${formatUsd(psd.maxDescendingRegister)}  refunded ${formatUsd(psd.refundRegister)}`,
          `  key          ${psd.signingKey.algorithm}, expires ${psd.signingKey.expiresAt.slice(0, 10)}; certificate ${meter.certificate_serial}`,
          '',
        ].join('\n'),
      );
      return 0;
    }
    case 'verify': {
      const { positionals, values, config } = parseSubcommand(
        rest,
        { verifier: { type: 'string' }, check: { type: 'boolean' } },
        io,
      );
      const [input] = positionals;
      if (input === undefined) throw new UsageError('usage: indicia meters verify FILE|HEX');
      const bytes = /^[0-9a-fA-F]+$/.test(input) ? Buffer.from(input, 'hex') : readFileSync(input);
      if (values['check'] === true) {
        if (values['verifier'] !== undefined)
          throw new UsageError('--check records nothing, so it takes no --verifier');
        const check = await run(config, ({ meters }) => meters.check(bytes));
        io.write(
          `${check.isGenuine ? 'genuine' : `not genuine (${check.outcome})`}${check.meterId === null ? '' : ` (meter ${check.meterId})`}${check.reason === null ? '' : `: ${check.reason}`}; ${check.isSeenBefore ? 'seen by a verifier before' : 'not seen by a verifier before'}\n`,
        );
        return check.isGenuine ? 0 : 1;
      }
      const report = await run(config, ({ meters }) =>
        meters.verify(bytes, typeof values['verifier'] === 'string' ? values['verifier'] : 'operator'),
      );
      const filed = report.revenueProtection ?? null;
      io.write(
        `${report.outcome}${report.meterId === null ? '' : ` (meter ${report.meterId})`}${report.reason === null ? '' : `: ${report.reason}`}${filed === null ? '' : `; report ${filed.reportId} filed for the authority, ${filed.action}`}\n`,
      );
      return report.outcome === 'valid' ? 0 : 1;
    }
    case 'disable': {
      const { positionals, values, config } = parseSubcommand(rest, { reason: { type: 'string' } }, io);
      const [meterId] = positionals;
      if (meterId === undefined) throw new UsageError('usage: indicia meters disable METER --reason TEXT');
      const reason = required(values, 'reason');
      const revoked = await run(config, ({ meters }) => meters.disable(meterId, reason));
      io.write(
        `Meter ${meterId} is disabled: it prints nothing any more${revoked.length === 0 ? '' : `; certificate(s) ${revoked.join(', ')} revoked (what it printed before stays good)`}.\n`,
      );
      return 0;
    }
    case 'certificate': {
      const { positionals, values, config } = parseSubcommand(rest, { ca: { type: 'boolean' } }, io);
      const [meterId] = positionals;
      const pem = await run(config, async ({ authority }) => {
        if (values['ca'] === true) return (await authority.caCertificate()).pem;
        if (meterId === undefined) throw new UsageError('usage: indicia meters certificate METER (or --ca)');
        const [newest] = await authority.certificatesOf(meterId);
        if (newest === undefined) throw new UsageError(`meter ${meterId} has no certificate`);
        return newest.pem;
      });
      io.write(pem.endsWith('\n') ? pem : `${pem}\n`);
      return 0;
    }
    case 'refund': {
      const { positionals, config } = parseSubcommand(rest, {}, io);
      const [indiciumId] = positionals;
      if (indiciumId === undefined) throw new UsageError('usage: indicia meters refund INDICIUM');
      const refund = await run(config, ({ meters }) => meters.refundSpoiled(indiciumId));
      io.write(
        `Refunded ${formatUsd(refund.amount)} for spoiled ${indiciumId} (meter ${refund.meterId}, refund register ${formatUsd(refund.view.refundRegister)}).\n`,
      );
      return 0;
    }
    case 'refund-requests': {
      const { values, config } = parseSubcommand(rest, { status: { type: 'string' } }, io);
      const status = values['status'];
      if (status !== undefined && status !== 'pending' && status !== 'approved' && status !== 'denied')
        throw new UsageError(`--status is pending, approved or denied; got "${status}"`);
      const { requests } = await run(config, ({ meters }) =>
        meters.refundRequests({ customerNumber: null, status, limit: 200 }),
      );
      if (requests.length === 0) io.write('No refund requests.\n');
      for (const request of requests)
        io.write(
          `${request.id}  ${request.status.padEnd(8)}  customer ${request.customerNumber}  ${formatUsd(request.amount)}  ${request.indiciumId}  asked ${request.requestedAt}${request.decidedBy === null ? '' : `  by ${request.decidedBy}`}\n`,
        );
      return 0;
    }
    case 'refund-decide': {
      const { positionals, values, config } = parseSubcommand(rest, { note: { type: 'string' } }, io);
      const [requestId, decision] = positionals;
      if (requestId === undefined || (decision !== 'approve' && decision !== 'deny'))
        throw new UsageError('usage: indicia meters refund-decide REQUEST approve|deny [--note TEXT]');
      const decided = await run(config, ({ meters }) =>
        meters.decideRefund(requestId, {
          approve: decision === 'approve',
          by: 'operator (indicia CLI)',
          note: typeof values['note'] === 'string' ? values['note'] : null,
        }),
      );
      io.write(
        decided.refund === null
          ? `Refund request ${requestId} denied; nothing moved.\n`
          : `Refund request ${requestId} approved: ${formatUsd(decided.refund.amount)} credited (refund ${decided.refund.id}, meter ${decided.refund.meterId}).\n`,
      );
      return 0;
    }
    case 'plan': {
      const { positionals, values, config } = parseSubcommand(rest, { default: { type: 'boolean' } }, io);
      const [customer, plan] = positionals;
      if (customer === undefined)
        throw new UsageError('usage: indicia meters plan CUSTOMER [PLAN|--default]');
      const customerNumber = wholeNumber(customer, 'CUSTOMER');
      const inForce = await run(config, ({ meters }) =>
        plan !== undefined || values['default'] === true
          ? meters.setPricingPlan(customerNumber, plan ?? null)
          : meters.refundPolicy(customerNumber),
      );
      const policy =
        inForce.policy.kind === 'spoilage-cap'
          ? `spoilage cap, ${inForce.policy.percent}% of printing, credited at once`
          : `review window, ${inForce.policy.days} days, reviewed before credit`;
      io.write(
        `Customer ${customerNumber}: plan ${inForce.plan}${inForce.isDefaultPlan ? ' (the default)' : ''}; refunds: ${policy}.\n`,
      );
      return 0;
    }
    case 'correct': {
      const { positionals, values, config } = parseSubcommand(
        rest,
        { postage: { type: 'string' }, date: { type: 'string' } },
        io,
      );
      const [indiciumId] = positionals;
      if (indiciumId === undefined)
        throw new UsageError('usage: indicia meters correct INDICIUM [--postage 0.73] [--date YYYY-MM-DD]');
      const correction = {
        ...(typeof values['postage'] === 'string' ? { postage: parseDollars(values['postage']) } : {}),
        ...(typeof values['date'] === 'string' ? { mailingDate: values['date'] } : {}),
      };
      const issued = await run(config, ({ meters }) => meters.correct(indiciumId, correction));
      io.write(
        `${issued.id} corrects ${indiciumId}: pays ${formatUsd(issued.postage)} more, dated ${issued.mailingDate} ${issued.data.toString('hex')}\n`,
      );
      return 0;
    }
    case 'rekey': {
      const { positionals, config } = parseSubcommand(rest, {}, io);
      const [meterId] = positionals;
      if (meterId === undefined) throw new UsageError('usage: indicia meters rekey METER');
      const replaced = await run(config, ({ meters }) => meters.replaceKey(meterId));
      io.write(
        `Meter ${meterId} has a new key; certificate ${replaced.certificate.serial} (valid to ${replaced.certificate.notAfter.slice(0, 10)}).\n`,
      );
      return 0;
    }
    case 'suspend':
    case 'resume':
    case 'withdraw': {
      const { positionals, config } = parseSubcommand(rest, {}, io);
      const [meterId] = positionals;
      if (meterId === undefined) throw new UsageError(`usage: indicia meters ${sub} METER`);
      if (sub === 'withdraw') {
        const refund = await run(config, ({ meters }) => meters.withdraw(meterId));
        io.write(`Meter ${meterId} withdrawn; ${formatUsd(refund.amount)} refunded to the customer.\n`);
      } else {
        await run(config, ({ meters }) =>
          sub === 'suspend' ? meters.suspend(meterId) : meters.resume(meterId),
        );
        io.write(`Meter ${meterId} ${sub === 'suspend' ? 'suspended' : 'resumed'}.\n`);
      }
      return 0;
    }
    case undefined:
    default:
      throw new UsageError(`unknown meters command "${sub ?? ''}"; the commands are:\n${METERS_USAGE}`);
  }
}

/** `indicia reconcile`: exit 0 when every meter balances, 1 with the differences otherwise. */
export async function reconcileCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { config } = parseSubcommand(args, {}, io);
  const report = await run(config, ({ store, custody }) => reconcileMeters({ db: store.db, custody }));
  for (const meter of report.meters) {
    const money = (value: Mills): string => formatUsd(value);
    io.write(
      `${meter.meterId}  funded ${money(meter.fundedMills)}  AR ${money(meter.ascendingRegisterMills)}  DR ${money(meter.descendingRegisterMills)}  refunded ${money(meter.refundRegisterMills)} (withdrawn ${money(meter.withdrawnMills)})  ${meter.differences.length === 0 ? 'balanced' : `DIFFERENCE: ${meter.differences.join('; ')}`}\n`,
    );
  }
  for (const pool of report.pools) {
    io.write(
      `pool of master ${pool.masterMeterId}: purchased ${formatUsd(pool.purchasedMills)}  GPSD.AR ${formatUsd(pool.masterAscendingRegisterMills)}  Σ(MPSD.AR + MPSD.DR) ${formatUsd(pool.miniPsdTotalMills)}  ${pool.differences.length === 0 ? 'balanced' : `DIFFERENCE: ${pool.differences.join('; ')}`}\n`,
    );
  }
  for (const difference of report.balanceDifferences)
    io.write(`customer balance DIFFERENCE: ${difference}\n`);
  const { moduleLog } = report;
  io.write(
    `module log: ${moduleLog.records} record(s) verified; modules printed ${formatUsd(moduleLog.modulesPrintedMills)}, packages' AR ${formatUsd(moduleLog.packagesPrintedMills)}; modules refunded ${formatUsd(moduleLog.modulesRefundedMills)}, packages' refund registers ${formatUsd(moduleLog.packagesRefundRegisterMills)}  ${moduleLog.differences.length === 0 ? 'balanced' : `DIFFERENCE: ${moduleLog.differences.join('; ')}`}\n`,
  );
  io.write(
    `${report.meters.length} meter(s), ${report.pools.length} pool(s) and ${report.customerBalances} customer balance(s) checked at ${report.at}: ${report.isBalanced ? 'all balanced' : 'DIFFERENCES FOUND'}.\n`,
  );
  return report.isBalanced ? 0 : 1;
}
