import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export const projectRoot = join(import.meta.dirname, '..', '..');
const cliEntry = join(projectRoot, 'bin', 'indicia.js');

/** The environment without INDICIA_* variables of the caller, plus the given ones. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('INDICIA_')),
  );
  return { ...base, ...env };
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `indicia <args>` to completion (bounded by a timeout). */
export function runIndicia(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntry, ...args], { env: cleanEnv(env), cwd: projectRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`indicia ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export interface ServingProcess {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  /** Sends SIGTERM and resolves with the exit status. */
  stop(): Promise<number | null>;
}

/** Starts `indicia serve <args>` and resolves once it printed its URL. */
export function serveIndicia(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<ServingProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntry, 'serve', ...args], {
      env: cleanEnv(env),
      cwd: projectRoot,
    });
    let output = '';
    const exited = new Promise<number | null>((done) => child.on('exit', (status) => done(status)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`indicia serve did not print a URL in time:\n${output}`));
    }, 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Indicia is running at (\S+)/.exec(output);
      if (match?.[1] !== undefined && output.includes('Press Ctrl+C to stop.')) {
        clearTimeout(timer);
        const url = match[1];
        resolve({
          child,
          url,
          output: () => output,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((status) => {
      clearTimeout(timer);
      reject(new Error(`indicia serve exited with ${status} before it was ready:\n${output}`));
    });
  });
}

/** Every file under a folder with its SHA-256, to prove a failed start changed nothing. */
export function snapshotFolder(folder: string): Record<string, string> {
  if (!existsSync(folder)) return {};
  const result: Record<string, string> = {};
  const walk = (current: string): void => {
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) walk(path);
      else result[relative(folder, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(folder);
  return result;
}
