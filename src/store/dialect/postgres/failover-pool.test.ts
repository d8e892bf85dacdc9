import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConnectionLoss } from './failover-pool.ts';

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('isConnectionLoss', () => {
  it('counts a lost session or a server that is no longer the primary', () => {
    assert.equal(isConnectionLoss(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isConnectionLoss(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')), true);
    assert.equal(
      isConnectionLoss(withCode('terminating connection due to administrator command', '57P01')),
      true,
    );
    assert.equal(
      isConnectionLoss(withCode('terminating connection due to unexpected postmaster exit', '57P02')),
      true,
    );
    assert.equal(isConnectionLoss(withCode('the database system is starting up', '57P03')), true);
    assert.equal(
      isConnectionLoss(withCode('cannot execute INSERT in a read-only transaction', '25006')),
      true,
    );
    assert.equal(isConnectionLoss(withCode('connection failure', '08006')), true);
  });

  it('leaves query errors to the caller', () => {
    assert.equal(
      isConnectionLoss(withCode('duplicate key value violates unique constraint', '23505')),
      false,
    );
    assert.equal(isConnectionLoss(withCode('could not serialize access', '40001')), false);
    assert.equal(isConnectionLoss(withCode('Connection terminated by a trigger, oddly', '42000')), false);
    assert.equal(isConnectionLoss('Connection terminated'), false);
  });
});
