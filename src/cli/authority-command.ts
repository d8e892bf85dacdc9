import { isRevocationReason, REVOCATION_REASONS } from '../authority/index.ts';
import { withOperatorServices } from '../installation/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';

export const AUTHORITY_USAGE = [
  'indicia authority status           CA generations: current, trusted, next-key hash, cross-certificate',
  'indicia authority roll-over        the committed next CA key becomes the CA (cross-signed by the old)',
  'indicia authority reports [--limit N]   reports fraud-looking scans filed for the authority',
  'indicia authority crl              print the CRLs (PEM, one per CA generation)',
  'indicia certificates show SERIAL   a certificate: what it certifies, which CA signed it, revocation',
  `indicia certificates revoke SERIAL --reason REASON [--note TEXT]   reasons: ${REVOCATION_REASONS.join(', ')}`,
].join('\n');

function serialOf(text: string | undefined, usage: string): string {
  if (text === undefined) throw new UsageError(usage);
  if (!/^[0-9a-fA-F]{16}$/.test(text))
    throw new UsageError(`a certificate serial is 16 hex digits (as an indicium's bytes 2–9); got "${text}"`);
  return text.toLowerCase();
}

/** `indicia authority <status|roll-over|reports|crl>` */
export async function authorityCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'status':
    case 'roll-over': {
      const { config } = parseSubcommand(rest, {}, io, { allowPositionals: false });
      const generations = await withOperatorServices(config, async ({ authority }) => {
        if (sub === 'roll-over') {
          const { previous, current } = await authority.rollOver();
          io.write(
            `CA generation ${current.generation} (certificate ${current.certificate.serial}) now certifies new meters; generation ${previous.generation} keeps vouching for the meters it certified until ${previous.certificate.notAfter.slice(0, 10)}.\n` +
              `Cross-certificate ${current.crossCertificate?.serial ?? '?'}: the new key signed by the old. Give verifiers /v1/authority/ca-certificates and /v1/authority/cross-certificates (docs/indicium-format.md).\n`,
          );
        }
        return authority.caGenerations();
      });
      for (const generation of generations) {
        io.write(
          [
            `generation ${generation.generation}${generation.isCurrent ? ' (current)' : ''}: certificate ${generation.certificate.serial}, valid ${generation.certificate.notBefore.slice(0, 10)} to ${generation.certificate.notAfter.slice(0, 10)}, ${generation.isTrusted ? 'trusted' : `NOT TRUSTED: ${generation.problem ?? ''}`}`,
            `  next key SHA-256 ${generation.nextKeyHash ?? 'none (a certificate from before roll-overs)'}`,
            ...(generation.crossCertificate === null
              ? []
              : [
                  `  cross-certificate ${generation.crossCertificate.serial} (signed by generation ${generation.generation - 1})`,
                ]),
            '',
          ].join('\n'),
        );
      }
      return generations.every((generation) => generation.isTrusted) ? 0 : 1;
    }
    case 'reports': {
      const { values, config } = parseSubcommand(rest, { limit: { type: 'string' } }, io, {
        allowPositionals: false,
      });
      const limitText = typeof values['limit'] === 'string' ? values['limit'] : '50';
      if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 200)
        throw new UsageError('--limit is a whole number from 1 to 200');
      const { reports } = await withOperatorServices(config, ({ meters }) =>
        meters.revenueProtectionReports({ limit: Number(limitText) }),
      );
      if (reports.length === 0) io.write('No reports: no verifier scan looked like fraud.\n');
      for (const report of reports) {
        io.write(
          `${report.createdAt} ${report.id} ${report.outcome} meter ${report.meterId ?? '-'} customer ${report.customerNumber ?? '-'} indicium ${report.indiciumId ?? '-'} by ${report.verifier}: ${report.reason}; ${report.action}${report.actionDetail === null ? '' : ` (${report.actionDetail})`}\n`,
        );
      }
      return 0;
    }
    case 'crl': {
      const { config } = parseSubcommand(rest, {}, io, { allowPositionals: false });
      io.write(await withOperatorServices(config, ({ authority }) => authority.revocationLists()));
      return 0;
    }
    case undefined:
    default:
      throw new UsageError(`unknown authority command "${sub ?? ''}"; the commands are:\n${AUTHORITY_USAGE}`);
  }
}

/** `indicia certificates <show|revoke>` */
export async function certificatesCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'show': {
      const { positionals, config } = parseSubcommand(rest, {}, io);
      const serial = serialOf(positionals[0], 'usage: indicia certificates show SERIAL');
      const record = await withOperatorServices(config, ({ authority }) => authority.certificate(serial));
      io.write(
        [
          `${record.serial} (${record.kind}) ${record.subject}${record.meterId === null ? '' : ` — meter ${record.meterId}`}`,
          `  valid        ${record.notBefore.slice(0, 10)} to ${record.notAfter.slice(0, 10)}`,
          `  signed by    ${record.issuerSerial === null ? 'itself' : `CA certificate ${record.issuerSerial}`}`,
          `  revoked      ${record.revokedAt === null ? 'no' : `${record.revokedAt} (${record.revocationReason ?? 'unspecified'})${record.revocationNote === null ? '' : `: ${record.revocationNote}`}`}`,
          '',
        ].join('\n'),
      );
      return 0;
    }
    case 'revoke': {
      const { positionals, values, config } = parseSubcommand(
        rest,
        { reason: { type: 'string' }, note: { type: 'string' } },
        io,
      );
      const serial = serialOf(positionals[0], 'usage: indicia certificates revoke SERIAL --reason REASON');
      const reason = values['reason'];
      if (typeof reason !== 'string' || !isRevocationReason(reason))
        throw new UsageError(`--reason is one of ${REVOCATION_REASONS.join(', ')}`);
      const note = typeof values['note'] === 'string' ? values['note'] : null;
      const revoked = await withOperatorServices(config, ({ meters }) =>
        meters.revokeCertificate(serial, reason, note),
      );
      io.write(
        `Certificate ${revoked.serial} is revoked (${reason})${revoked.meterId === null ? '' : ` for meter ${revoked.meterId}`}.${revoked.isMeterSuspended ? ` It was the meter's current certificate, so the meter is suspended: give it a new key (indicia meters rekey ${revoked.meterId ?? ''}), then resume it.` : ''}\n`,
      );
      return 0;
    }
    case undefined:
    default:
      throw new UsageError(
        `unknown certificates command "${sub ?? ''}"; the commands are:\n${AUTHORITY_USAGE}`,
      );
  }
}
