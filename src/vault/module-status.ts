import type { BackendKind } from './backend/crypto-backend.ts';
import type { ModuleStateMachine } from './module-state-machine.ts';
import type { SelfTestResult } from './known-answer-tests.ts';

/**
 * Seed 004's module states, and `zeroized`: an officer destroyed the keys. It is uninitialized
 * with a memory of why: nothing creates keys in it except an officer (key entry), and the keys
 * made then start new module serials.
 */
export type ModuleState =
  'self-test' | 'uninitialized' | 'zeroized' | 'key-entry' | 'idle' | 'user' | 'crypto-officer' | 'error';
export type ModuleRole = 'crypto-user' | 'crypto-officer';

/** What `GetStatus` reports for one module (seed 003). */
export interface ModuleStatus {
  readonly serial: string;
  readonly backend: BackendKind;
  /** The module's number in its backend (server modules 1..N, the operator's 100), when known. */
  readonly moduleNumber: number | null;
  readonly state: ModuleState;
  /** When an officer zeroized the keys (state `zeroized`), else null. */
  readonly zeroizedAt: string | null;
  /** Why the module is in the error state. */
  readonly errorReason: string | null;
  /**
   * Why the module refuses to work. `database`: the database is not what the module left (restored,
   * rolled back, edited), which stops the whole service; `module`: its own memory is damaged.
   */
  readonly inhibited: {
    readonly reason: string;
    readonly since: string;
    readonly cause: 'database' | 'module';
  } | null;
  readonly keys: {
    readonly currentMasterKeyVersion: number | null;
    readonly minimumMasterKeyVersion: number;
    readonly masterKeyVersions: readonly number[];
  };
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly totalOperations: number;
  /** Commands completed in the last 60 seconds, divided by 60. */
  readonly operationsPerSecond: number;
  /** 1 while a command runs, else 0. */
  readonly load: number;
  readonly checkpointRingLength: number;
  readonly lastSelfTest: { readonly at: string; readonly results: readonly SelfTestResult[] } | null;
}

/** Counts completed commands per second over the last minute, in 60 buckets. */
export class ThroughputMeter {
  readonly #buckets = new Map<number, number>();
  total = 0;

  record(now = Date.now(), count = 1): void {
    const second = Math.floor(now / 1000);
    this.#buckets.set(second, (this.#buckets.get(second) ?? 0) + count);
    this.total += count;
    for (const key of this.#buckets.keys()) if (key <= second - 60) this.#buckets.delete(key);
  }

  perSecond(now = Date.now()): number {
    const second = Math.floor(now / 1000);
    let count = 0;
    for (const [key, value] of this.#buckets) if (key > second - 60) count += value;
    return Math.round((count / 60) * 100) / 100;
  }
}

/** Assembles a module's status report from its parts. */
export function describeModule(parts: {
  serial: string;
  backend: BackendKind;
  moduleNumber: number | null;
  zeroizedAt: string | null;
  machine: Pick<ModuleStateMachine, 'state' | 'errorReason'>;
  inhibited: ModuleStatus['inhibited'];
  inventory: { masterKeyVersions: readonly number[]; minimumMasterKeyVersion: number };
  startedAt: Date;
  now: Date;
  throughput: ThroughputMeter;
  isBusy: boolean;
  ringLength: number;
  lastSelfTest: ModuleStatus['lastSelfTest'];
}): ModuleStatus {
  const versions = parts.inventory.masterKeyVersions;
  return {
    serial: parts.serial,
    backend: parts.backend,
    moduleNumber: parts.moduleNumber,
    state: parts.machine.state,
    zeroizedAt: parts.zeroizedAt,
    errorReason: parts.machine.errorReason,
    inhibited: parts.inhibited,
    keys: {
      currentMasterKeyVersion: versions.length === 0 ? null : Math.max(...versions),
      minimumMasterKeyVersion: parts.inventory.minimumMasterKeyVersion,
      masterKeyVersions: [...versions],
    },
    startedAt: parts.startedAt.toISOString(),
    uptimeSeconds: Math.floor((parts.now.getTime() - parts.startedAt.getTime()) / 1000),
    totalOperations: parts.throughput.total,
    operationsPerSecond: parts.throughput.perSecond(parts.now.getTime()),
    load: parts.isBusy ? 1 : 0,
    checkpointRingLength: parts.ringLength,
    lastSelfTest: parts.lastSelfTest,
  };
}
