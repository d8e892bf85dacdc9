import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { SelfTestResult } from './known-answer-tests.ts';
import { writeFileDurably } from './backend/software/durable-file.ts';

/**
 * The crypto module's code: the vault and everything it imports (argon2id hashing of the
 * officer credential, mills, errors, canonical JSON). Seed 004's first power-up test checks these
 * files against the manifest made when the package was built.
 */
export const MODULE_CODE_FOLDERS = ['vault', 'passwords', 'money', 'errors', 'encoding'] as const;
export const CODE_MANIFEST_FILE = 'code-manifest.json';

/** Where a module's code and its manifest are: `src/` with `.ts` files, or the package's `dist/` with `.js`. */
export interface CodeLocation {
  /** The folder holding {@link MODULE_CODE_FOLDERS}. */
  readonly root: string;
  readonly extension: '.ts' | '.js';
  readonly manifestPath: string;
  /**
   * A development checkout (TypeScript run from source): a missing manifest is made at the first
   * power-up instead of failing it. An installed package always ships its manifest.
   */
  readonly isDevelopmentCheckout: boolean;
}

interface CodeManifest {
  readonly format: 1;
  readonly createdAt: string;
  /** SHA-256 (hex) of each code file, by its path relative to the root, with `/` separators. */
  readonly files: Record<string, string>;
}

/** The location of the code this process runs. */
export function runningCodeLocation(): CodeLocation {
  const isDevelopmentCheckout = import.meta.filename.endsWith('.ts');
  return codeLocation(join(import.meta.dirname, '..'), isDevelopmentCheckout ? '.ts' : '.js');
}

/** The location of the module code under `root` (a checkout's `src/`, or `dist/` after a build). */
export function codeLocation(root: string, extension: '.ts' | '.js'): CodeLocation {
  return {
    root,
    extension,
    manifestPath: join(root, 'vault', CODE_MANIFEST_FILE),
    isDevelopmentCheckout: extension === '.ts',
  };
}

/** The module's code files under a location, sorted, relative to its root; tests are not code. */
function codeFiles(location: CodeLocation): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    if (!existsSync(folder)) return;
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(location.extension) && !name.endsWith(`.test${location.extension}`))
        found.push(relative(location.root, path).split(sep).join('/'));
    }
  };
  for (const folder of MODULE_CODE_FOLDERS) walk(join(location.root, folder));
  return found.sort();
}

const digestOf = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * Writes the manifest of SHA-256 digests of the module's code files: the build task does it for
 * the package, `npm start` and `npm test` for a development checkout. Returns how many files it lists.
 *
 * @example writeCodeManifest(codeLocation(join(root, 'dist'), '.js'));
 */
export function writeCodeManifest(location: CodeLocation): number {
  const files = Object.fromEntries(
    codeFiles(location).map((file) => [file, digestOf(join(location.root, file))]),
  );
  const manifest: CodeManifest = { format: 1, createdAt: new Date().toISOString(), files };
  writeFileDurably(location.manifestPath, `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  return Object.keys(files).length;
}

const REMAKE_HINT =
  'in a development checkout `npm start`, `npm test` or `npm run code-manifest` make it again; an installed package must be reinstalled';

/**
 * Seed 004's first power-up test: every file of the module's code matches the manifest, none is
 * missing and none was added. A development checkout without a manifest makes one now.
 */
export function checkCodeIntegrity(location: CodeLocation = runningCodeLocation()): SelfTestResult {
  const test = 'code-integrity';
  if (!existsSync(location.manifestPath)) {
    if (location.isDevelopmentCheckout) {
      const count = writeCodeManifest(location);
      return { test, passed: true, detail: `no manifest yet: made one of ${count} files` };
    }
    return { test, passed: false, detail: `${location.manifestPath} is missing (${REMAKE_HINT})` };
  }
  let manifest: CodeManifest;
  try {
    const parsed = JSON.parse(readFileSync(location.manifestPath, 'utf8')) as Partial<CodeManifest> | null;
    if (parsed?.format !== 1 || typeof parsed.files !== 'object' || typeof parsed.createdAt !== 'string')
      throw new Error('unknown format');
    manifest = { format: 1, createdAt: parsed.createdAt, files: parsed.files };
  } catch (error) {
    return {
      test,
      passed: false,
      detail: `${location.manifestPath} is unreadable (${error instanceof Error ? error.message : 'invalid'})`,
    };
  }
  const problems: string[] = [];
  const present = new Set(codeFiles(location));
  for (const [file, digest] of Object.entries(manifest.files)) {
    if (!present.has(file)) problems.push(`${file} is missing`);
    else if (digestOf(join(location.root, file)) !== digest) problems.push(`${file} was changed`);
  }
  for (const file of present) if (!(file in manifest.files)) problems.push(`${file} is not in the manifest`);
  if (problems.length === 0)
    return {
      test,
      passed: true,
      detail: `${present.size} files match the manifest of ${manifest.createdAt}`,
    };
  const shown = problems.slice(0, 5);
  if (problems.length > shown.length) shown.push(`and ${problems.length - shown.length} more`);
  return {
    test,
    passed: false,
    detail: `the module's code does not match the manifest of ${manifest.createdAt}: ${shown.join('; ')} (${REMAKE_HINT})`,
  };
}
