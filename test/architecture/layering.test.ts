import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type SourceFile,
  findViolations,
  parseLayerTable,
  relativeImports,
  toProjectPath,
} from './import-rules.ts';

const root = join(import.meta.dirname, '..', '..');

function typeScriptFiles(folder: string): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (current: string): void => {
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts'))
        files.push({ path: toProjectPath(root, path), source: readFileSync(path, 'utf8') });
    }
  };
  walk(join(root, folder));
  return files;
}

const layers = parseLayerTable(readFileSync(join(root, 'docs', 'architecture.md'), 'utf8'));

describe('architecture', () => {
  it('lists every src/ module in the layer table of docs/architecture.md', () => {
    const modules = readdirSync(join(root, 'src')).map((name) => name.replace(/\.ts$/, ''));
    for (const name of modules) assert.ok(layers.has(name), `module ${name} is missing from the layer table`);
  });

  it('has no upward, sideways or deep imports', () => {
    const files = ['src', 'test', 'scripts', 'bench'].flatMap(typeScriptFiles);
    assert.ok(files.length > 20);
    assert.deepEqual(findViolations(files, layers), []);
  });

  describe('the checker itself', () => {
    const table = new Map([
      ['errors', 0],
      ['money', 1],
      ['store', 2],
      ['api', 3],
    ]);

    it('finds import specifiers in every form', () => {
      const source = [
        "import { a } from '../a/index.ts';",
        "import type { B } from '../b/index.ts';",
        "export { c } from './c.ts';",
        "const d = await import('../d/index.ts');",
        "import '../e/setup.ts';",
        "import fastify from 'fastify';",
      ].join('\n');
      assert.deepEqual(relativeImports(source), [
        '../a/index.ts',
        '../b/index.ts',
        './c.ts',
        '../d/index.ts',
        '../e/setup.ts',
      ]);
    });

    it('flags an import of a higher layer', () => {
      const violations = findViolations(
        [{ path: 'src/money/mills.ts', source: "import { x } from '../api/index.ts';" }],
        table,
      );
      assert.match(violations.join('\n'), /"money" \(layer 1\) imports "api" \(layer 3\)/);
    });

    it('flags a deep import across modules, also from tests', () => {
      const fromApi = findViolations(
        [{ path: 'src/api/x.ts', source: "import { y } from '../store/open-store.ts';" }],
        table,
      );
      assert.match(fromApi.join('\n'), /deep import of src\/store\/open-store\.ts/);
      const fromTest = findViolations(
        [{ path: 'test/x.test.ts', source: "import { y } from '../src/store/schema.ts';" }],
        table,
      );
      assert.match(fromTest.join('\n'), /deep import/);
    });

    it('flags a module missing from the table, and allows downward imports', () => {
      assert.match(
        findViolations([{ path: 'src/rates/r.ts', source: '' }], table).join(),
        /"rates" is not in the layer table/,
      );
      const clean = findViolations(
        [
          {
            path: 'src/api/x.ts',
            source: "import { s } from '../store/index.ts';\nimport { h } from './helper.ts';",
          },
          { path: 'src/store/y.ts', source: "import { e } from '../errors/index.ts';" },
        ],
        table,
      );
      assert.deepEqual(clean, []);
    });
  });
});
