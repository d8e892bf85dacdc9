import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMultiHostUrl, parsePostgresUrl, type PostgresUrl } from './database-url.ts';
import { loadConfig } from './load-config.ts';

function parsed(url: string): PostgresUrl {
  const result = parsePostgresUrl(url);
  if ('problem' in result) assert.fail(result.problem);
  return result;
}

function problem(url: string): string {
  const result = parsePostgresUrl(url);
  if (!('problem' in result)) assert.fail(`${url} was accepted`);
  return result.problem;
}

describe('parsePostgresUrl', () => {
  it('reads a host list in order, with ports, the default port and target_session_attrs', () => {
    const url = parsed(
      'postgres://indicia:s3cret@127.0.0.1:5433,db-b,[::1]:5435/indicia?target_session_attrs=read-write&application_name=web',
    );
    assert.deepEqual(url.hosts, [
      { host: '127.0.0.1', port: 5433 },
      { host: 'db-b', port: 5432 },
      { host: '[::1]', port: 5435 },
    ]);
    assert.equal(url.targetSessionAttrs, 'read-write');
    assert.equal(
      url.singleHostUrl(0),
      'postgres://indicia:s3cret@127.0.0.1:5433/indicia?application_name=web',
    );
    assert.equal(url.singleHostUrl(2), 'postgres://indicia:s3cret@[::1]:5435/indicia?application_name=web');
    assert.throws(() => url.singleHostUrl(3), RangeError);
  });

  it('defaults to any, accepts any, and a URL without user or database', () => {
    assert.equal(parsed('postgresql://a:1,b:2').targetSessionAttrs, 'any');
    assert.equal(parsed('postgres://a,b/db?target_session_attrs=any').targetSessionAttrs, 'any');
    assert.equal(parsed('postgresql://a:1,b:2').singleHostUrl(1), 'postgresql://b:2');
  });

  it('never shows the password, in the user part or the query', () => {
    const url = parsed('postgres://u:hunter2@a:1,b:2/db?password=hunter2&target_session_attrs=read-write');
    assert.doesNotMatch(url.redacted, /hunter2/);
    assert.equal(url.redacted, 'postgres://u:***@a:1,b:2/db?password=***&target_session_attrs=read-write');
    assert.equal(parsed('postgres://u@a,b/db').redacted, 'postgres://u@a:5432,b:5432/db');
  });

  it('says what is wrong: scheme, ports, empty hosts, unsupported session attributes', () => {
    assert.match(problem('mysql://a,b/db'), /must be a URL like postgres:\/\//);
    assert.match(problem('postgres://a:99999,b/db'), /port "99999" is not a port number/);
    assert.match(problem('postgres://a,,b/db'), /"" is not a host/);
    assert.match(problem('postgres://a:x,b/db'), /is not a host or host:port/);
    assert.match(
      problem('postgres://a,b/db?target_session_attrs=prefer-standby'),
      /target_session_attrs must be read-write or any, not "prefer-standby"/,
    );
    assert.doesNotMatch(problem('postgres://u:hunter2@a:0,b/db'), /hunter2/);
  });

  it('tells multi-host URLs from single-host ones', () => {
    assert.equal(
      isMultiHostUrl('postgres://u:p,w@a/db'),
      false,
      'a comma in the password is not a host list',
    );
    assert.equal(isMultiHostUrl('postgres://u@a:1,b:2/db'), true);
    assert.equal(isMultiHostUrl('postgres://a/db?options=x,y'), false);
  });
});

describe('INDICIA_DATABASE_URL', () => {
  const cwd = process.cwd();
  it('accepts a primary and standby list and refuses a broken one without echoing it', () => {
    const url = 'postgres://indicia:pw@127.0.0.1:5433,127.0.0.1:5434/indicia?target_session_attrs=read-write';
    assert.equal(loadConfig({ env: { INDICIA_DATABASE_URL: url }, cwd }).databaseUrl, url);
    assert.throws(
      () => loadConfig({ env: { INDICIA_DATABASE_URL: 'postgres://u:hunter2@a:70000,b/db' }, cwd }),
      (error: Error) =>
        /INDICIA_DATABASE_URL: \(hidden\) must be a URL like .*port "70000"/.test(error.message) &&
        !error.message.includes('hunter2'),
    );
  });
});
