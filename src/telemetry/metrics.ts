import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServerMetrics {
  readonly registry: Registry;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly errorsByCode: Counter<'code'>;
  /** The last reconciliation: meters checked, and how many did not balance. */
  readonly reconciliation: Gauge<'result'>;
  /** The audit log: its anchors and its verification (see docs/operations.md "Verifying the audit log"). */
  readonly audit: AuditMetrics;
  /** Every timed job's runs on this server, and the periods it left to another (src/jobs/job-runner.ts). */
  readonly jobs: JobMetrics;
  /** Exports group commit's counts (read at each scrape): commits, and the commands they held. */
  observeGroupCommits(read: () => GroupCommitFigures): void;
}

/** Custody's group commit figures since start (custody.groupCommits()). */
export interface GroupCommitFigures {
  readonly groups: number;
  readonly commands: number;
  /** Milliseconds spent taking meters' locks (PostgreSQL), and takings that waited for another server. */
  readonly lockedMs: number;
  readonly lockWaits: number;
  /** Groups passed again after a conflict rather than refused. */
  readonly conflictRetries: number;
}

export interface AuditMetrics {
  /** Events the last verification walked (hash, link, sequence; anchors; module log cross-check). */
  readonly recordsVerified: Gauge;
  /** Unix time (s) the last verification finished. */
  readonly lastVerification: Gauge;
  /** Verifications that found a bad record. */
  readonly verificationFailures: Counter;
  /** Events after the newest anchor at the last verification: not yet vouched for by a MAC. */
  readonly unanchoredEvents: Gauge;
  /** Anchors this server wrote into the root chain. */
  readonly anchorsWritten: Counter;
  /** 1 once the anchor writer found a segment that does not verify and stopped; 0 while it anchors. */
  readonly anchoringStopped: Gauge;
}

export interface JobMetrics {
  /** Runs this server made, by job and outcome (succeeded, failed). */
  readonly runs: Counter<'job' | 'outcome'>;
  /** Periods this server did not run: overlap (its own run still going), elsewhere (another server ran it or runs the job). */
  readonly skipped: Counter<'job' | 'reason'>;
  /** Unix time (s) this server last finished a run of the job successfully. */
  readonly lastSuccess: Gauge<'job'>;
  /** How long this server's last run of the job took, in seconds. */
  readonly lastDuration: Gauge<'job'>;
  /** 1 while this server holds the job's lease (runs it), else 0. */
  readonly holding: Gauge<'job'>;
  /** Runs that outlived their lease (renewal failed): another server may have taken the job over meanwhile. */
  readonly leasesLost: Counter<'job'>;
}

function jobMetrics(registry: Registry): JobMetrics {
  const registers = [registry];
  return {
    runs: new Counter({
      name: 'indicia_job_runs_total',
      help: 'Runs of each timed job on this server, by outcome (succeeded, failed).',
      labelNames: ['job', 'outcome'],
      registers,
    }),
    skipped: new Counter({
      name: 'indicia_job_periods_skipped_total',
      help: 'Periods of a timed job this server did not run: reason="overlap" (its last run was still going), "elsewhere" (another server of the farm ran it).',
      labelNames: ['job', 'reason'],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'indicia_job_last_success_timestamp_seconds',
      help: 'When this server last finished a run of the job successfully (Unix time); in a farm, take the max over servers.',
      labelNames: ['job'],
      registers,
    }),
    lastDuration: new Gauge({
      name: 'indicia_job_last_duration_seconds',
      help: "How long this server's last run of the job took.",
      labelNames: ['job'],
      registers,
    }),
    holding: new Gauge({
      name: 'indicia_job_holding',
      help: '1 while this server holds the job lease (is running the job), else 0.',
      labelNames: ['job'],
      registers,
    }),
    leasesLost: new Counter({
      name: 'indicia_job_leases_lost_total',
      help: 'Runs whose lease could not be renewed in time (database unreachable, process stalled): another server may have run the job at the same time.',
      labelNames: ['job'],
      registers,
    }),
  };
}

function auditMetrics(registry: Registry): AuditMetrics {
  const registers = [registry];
  return {
    recordsVerified: new Gauge({
      name: 'indicia_audit_records_verified',
      help: 'Audit events the last audit log verification checked.',
      registers,
    }),
    lastVerification: new Gauge({
      name: 'indicia_audit_last_verification_timestamp_seconds',
      help: 'When the last audit log verification finished (Unix time).',
      registers,
    }),
    verificationFailures: new Counter({
      name: 'indicia_audit_verification_failures_total',
      help: 'Audit log verifications that found a bad record or anchor.',
      registers,
    }),
    unanchoredEvents: new Gauge({
      name: 'indicia_audit_unanchored_events',
      help: 'Audit events after the newest anchor at the last verification (not yet MACed).',
      registers,
    }),
    anchorsWritten: new Counter({
      name: 'indicia_audit_anchors_written_total',
      help: 'Anchors this server MACed into the audit root chain.',
      registers,
    }),
    anchoringStopped: new Gauge({
      name: 'indicia_audit_anchoring_stopped',
      help: '1 when the anchor writer found a chain segment that does not verify and stopped anchoring.',
      registers,
    }),
  };
}

/**
 * A Prometheus registry of its own per server (so tests can run several servers in one process),
 * with Node's process metrics and the HTTP metrics every later module adds to.
 */
export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'indicia' });
  collectDefaultMetrics({ register: registry, prefix: 'indicia_' });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'indicia_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    errorsByCode: new Counter({
      name: 'indicia_errors_total',
      help: 'Errors returned to clients, by stable error code.',
      labelNames: ['code'],
      registers: [registry],
    }),
    reconciliation: new Gauge({
      name: 'indicia_reconciliation_meters',
      help: 'The last reconciliation run: meters checked (result="meters") and unbalanced (result="unbalanced").',
      labelNames: ['result'],
      registers: [registry],
    }),
    audit: auditMetrics(registry),
    jobs: jobMetrics(registry),
    observeGroupCommits(read) {
      // Counters in meaning; gauges because the counts live in custody and are read when scraped.
      new Gauge({
        name: 'indicia_group_commits_total',
        help: 'Database commits of module command groups since start (group commit).',
        registers: [registry],
        collect() {
          this.set(read().groups);
        },
      });
      new Gauge({
        name: 'indicia_group_commit_commands_total',
        help: 'Module commands those commits held; divided by indicia_group_commits_total, the mean group size.',
        registers: [registry],
        collect() {
          this.set(read().commands);
        },
      });
      new Gauge({
        name: 'indicia_meter_lock_waits_total',
        help: "Group transactions whose meter locks took 2 ms or more: they waited for another server's group on a meter.",
        registers: [registry],
        collect() {
          this.set(read().lockWaits);
        },
      });
      new Gauge({
        name: 'indicia_meter_lock_seconds_total',
        help: 'Time spent taking meter locks (the lock statement, waits included).',
        registers: [registry],
        collect() {
          this.set(read().lockedMs / 1000);
        },
      });
      new Gauge({
        name: 'indicia_group_commit_retries_total',
        help: 'Groups passed again after a compare-and-swap conflict or deadlock, rather than refused.',
        registers: [registry],
        collect() {
          this.set(read().conflictRetries);
        },
      });
    },
  };
}
