import type { Migration } from 'kysely/migration';
import { migration0001 } from './0001-installation-and-accounts.ts';
import { migration0002 } from './0002-vault-and-audit.ts';
import { migration0003 } from './0003-certificates.ts';
import { migration0004 } from './0004-meters-and-indicia.ts';
import { migration0005 } from './0005-refunds-and-corrections.ts';
import { migration0006 } from './0006-pooled-mode.ts';
import { migration0007 } from './0007-accounts-sessions-keys.ts';
import { migration0008 } from './0008-devices-receipts-payments.ts';
import { migration0009 } from './0009-idempotency-webhooks.ts';
import { migration0010 } from './0010-labels-and-mailing-lists.ts';
import { migration0011 } from './0011-module-log.ts';
import { migration0012 } from './0012-number-allocators.ts';
import { migration0013 } from './0013-module-inhibitions.ts';
import { migration0014 } from './0014-revenue-protection.ts';
import { migration0015 } from './0015-refund-requests.ts';
import { migration0016 } from './0016-idempotency-leases.ts';
import { migration0017 } from './0017-protected-log.ts';
import { migration0018 } from './0018-audit-chains.ts';
import { migration0019 } from './0019-server-claims.ts';
import { migration0020 } from './0020-job-leases.ts';

/**
 * Every migration, in order, for both dialects. Names are permanent: a database that holds a
 * name missing here was written by a newer Indicia, and the server refuses to start on it.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001-installation-and-accounts': migration0001,
  '0002-vault-and-audit': migration0002,
  '0003-certificates': migration0003,
  '0004-meters-and-indicia': migration0004,
  '0005-refunds-and-corrections': migration0005,
  '0006-pooled-mode': migration0006,
  '0007-accounts-sessions-keys': migration0007,
  '0008-devices-receipts-payments': migration0008,
  '0009-idempotency-webhooks': migration0009,
  '0010-labels-and-mailing-lists': migration0010,
  '0011-module-log': migration0011,
  '0012-number-allocators': migration0012,
  '0013-module-inhibitions': migration0013,
  '0014-revenue-protection': migration0014,
  '0015-refund-requests': migration0015,
  '0016-idempotency-leases': migration0016,
  '0017-protected-log': migration0017,
  '0018-audit-chains': migration0018,
  '0019-server-claims': migration0019,
  '0020-job-leases': migration0020,
};
