import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DatabaseTarget, DialectName } from '../../src/store/index.ts';
import { type PostgresCluster, TEST_POSTGRES_URL_ENV, startPostgresCluster } from './postgres-cluster.ts';

/** Hands out a new, empty database of one dialect per call. */
export interface DialectFixture {
  readonly name: DialectName;
  freshDatabase(): Promise<FreshDatabase>;
}

export interface FreshDatabase {
  readonly target: DatabaseTarget;
  /** Drops the database; call after the store using it is closed. */
  readonly dispose: () => Promise<void>;
}

const sqliteFixture: DialectFixture = {
  name: 'sqlite',
  freshDatabase() {
    const folder = mkdtempSync(join(tmpdir(), 'indicia-sqlite-'));
    return Promise.resolve({
      target: { dialect: 'sqlite', file: join(folder, 'indicia.sqlite') },
      dispose: () => {
        rmSync(folder, { recursive: true, force: true });
        return Promise.resolve();
      },
    });
  },
};

let ownCluster: PostgresCluster | undefined;

/** The shared cluster from the test runner, or one this process starts (and stops at exit). */
async function postgresAdminUrl(): Promise<string> {
  const shared = process.env[TEST_POSTGRES_URL_ENV];
  if (shared !== undefined && shared !== '') return shared;
  ownCluster ??= await startPostgresCluster();
  return ownCluster.url;
}

const postgresFixture: DialectFixture = {
  name: 'postgres',
  async freshDatabase() {
    const adminUrl = await postgresAdminUrl();
    const name = `indicia_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return {
      target: { dialect: 'postgres', url: url.toString() },
      async dispose() {
        // pg's pool.end() resolves before its sockets close; a forced drop would kill those
        // backends and make the closing clients throw. Wait for them instead.
        const client = new pg.Client({ connectionString: adminUrl });
        await client.connect();
        try {
          for (let attempt = 0; ; attempt += 1) {
            try {
              await client.query(`drop database if exists ${name}`);
              return;
            } catch (error) {
              const isInUse = error instanceof Error && /being accessed by other users/.test(error.message);
              if (!isInUse || attempt >= 100) throw error;
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          }
        } finally {
          await client.end();
        }
      },
    };
  },
};

/**
 * Every dialect the store supports. Contract suites loop over this list, so each storage test
 * runs against real SQLite and real PostgreSQL; neither is ever skipped.
 */
export const dialectFixtures: readonly DialectFixture[] = [sqliteFixture, postgresFixture];
