import { IndiciaError } from '../errors/index.ts';

export type JobErrorCode = 'job.busy';

export class JobError extends IndiciaError<JobErrorCode> {}
