/** One host of a PostgreSQL URL. */
export interface DatabaseHost {
  readonly host: string;
  readonly port: number;
}

/** `target_session_attrs` values Indicia honours: any server that answers, or only the primary. */
export type TargetSessionAttrs = 'any' | 'read-write';

/** A libpq-style PostgreSQL URL, with one host or several (`postgres://u@h1:5432,h2:5432/db`). */
export interface PostgresUrl {
  readonly hosts: readonly DatabaseHost[];
  /** From the URL's query; libpq's default is `any`. */
  readonly targetSessionAttrs: TargetSessionAttrs;
  /** The same URL naming only `hosts[index]`, without `target_session_attrs`, for node-postgres. */
  readonly singleHostUrl: (index: number) => string;
  /** The URL with any password replaced by `***`, for messages. */
  readonly redacted: string;
}

const DEFAULT_PORT = 5432;
const URL_SHAPE = /^(postgres(?:ql)?):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/;
const EXAMPLE = 'postgres://user:password@host1:5432,host2:5432/indicia?target_session_attrs=read-write';

function parseHost(text: string): DatabaseHost | string {
  // An IPv6 address is written in brackets: [::1]:5432.
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d*))?$/.exec(text);
  if (match === null) return `"${text}" is not a host or host:port`;
  const [, host = '', port] = match;
  if (port === undefined || port === '') return { host, port: DEFAULT_PORT };
  const number = Number(port);
  if (!Number.isInteger(number) || number < 1 || number > 65535) return `port "${port}" is not a port number`;
  return { host, port: number };
}

/** Whether the URL names several hosts (a comma in its host part). */
export function isMultiHostUrl(url: string): boolean {
  const match = URL_SHAPE.exec(url.trim());
  return match !== null && (match[2] ?? '').slice((match[2] ?? '').lastIndexOf('@') + 1).includes(',');
}

/**
 * Parses a PostgreSQL URL the way libpq reads it, including a comma-separated host list, so a
 * server can be pointed at a primary and its standby. Returns a phrase saying what is wrong
 * instead when the URL is not one (never echoing the password).
 *
 * @example parsePostgresUrl('postgres://indicia@10.0.0.1:5432,10.0.0.2:5432/indicia?target_session_attrs=read-write')
 */
export function parsePostgresUrl(url: string): PostgresUrl | { problem: string } {
  const match = URL_SHAPE.exec(url.trim());
  if (match === null) return { problem: `must be a URL like ${EXAMPLE}` };
  const [, scheme = 'postgres', authority = '', path = '', query = ''] = match;
  const at = authority.lastIndexOf('@');
  const userInfo = at >= 0 ? authority.slice(0, at) : null;
  const hostList = at >= 0 ? authority.slice(at + 1) : authority;
  const hosts: DatabaseHost[] = [];
  for (const entry of hostList.split(',')) {
    const parsed = parseHost(entry);
    if (typeof parsed === 'string') return { problem: `must be a URL like ${EXAMPLE} (${parsed})` };
    hosts.push(parsed);
  }
  const parameters = new URLSearchParams(query.slice(1));
  const attrs = parameters.get('target_session_attrs') ?? 'any';
  if (attrs !== 'any' && attrs !== 'read-write') {
    return { problem: `target_session_attrs must be read-write or any, not "${attrs}"` };
  }
  parameters.delete('target_session_attrs');
  const rest = parameters.toString();
  const build = (info: string | null, host: DatabaseHost): string =>
    `${scheme}://${info === null ? '' : `${info}@`}${host.host}:${host.port}${path}${rest === '' ? '' : `?${rest}`}`;
  const redactedInfo =
    userInfo === null || !userInfo.includes(':') ? userInfo : `${userInfo.split(':')[0]}:***`;
  for (const host of hosts) {
    try {
      new URL(build(userInfo, host));
    } catch {
      return { problem: `must be a URL like ${EXAMPLE}` };
    }
  }
  const redactedHosts = hosts.map((host) => `${host.host}:${host.port}`).join(',');
  const shown = new URLSearchParams(query.slice(1));
  if (shown.has('password')) shown.set('password', '***');
  const shownQuery = shown.size === 0 ? '' : `?${shown.toString()}`;
  return {
    hosts,
    targetSessionAttrs: attrs,
    singleHostUrl: (index) => {
      const host = hosts[index];
      if (host === undefined) throw new RangeError(`no host ${index} in the database URL`);
      return build(userInfo, host);
    },
    redacted: `${scheme}://${redactedInfo === null ? '' : `${redactedInfo}@`}${redactedHosts}${path}${shownQuery}`,
  };
}
