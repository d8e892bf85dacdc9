import { dirname, join, normalize, relative, sep } from 'node:path';

export interface SourceFile {
  /** Path relative to the project root, with forward slashes. */
  readonly path: string;
  readonly source: string;
}

/** Module name → layer number; a module may import only modules of strictly lower layers. */
export type LayerTable = ReadonlyMap<string, number>;

const SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

/** Relative import specifiers in a file (package imports are not the layering rule's business). */
export function relativeImports(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier?.startsWith('.') === true) found.push(specifier);
  }
  return found;
}

/** The module a src/ path belongs to: its first folder, or `main` for src/main.ts. */
export function moduleOf(path: string): string | undefined {
  const parts = path.split('/');
  if (parts[0] !== 'src') return undefined;
  if (parts.length === 2) return parts[1]?.replace(/\.ts$/, '');
  return parts[1];
}

/** Parses the layer table between the layers markers of docs/architecture.md. */
export function parseLayerTable(markdown: string): LayerTable {
  const start = markdown.indexOf('<!-- layers:start -->');
  const end = markdown.indexOf('<!-- layers:end -->');
  if (start < 0 || end < start)
    throw new Error('docs/architecture.md has no <!-- layers:start/end --> table');
  const table = new Map<string, number>();
  for (const line of markdown.slice(start, end).split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const layer = Number(cells[1]);
    if (!Number.isInteger(layer) || cells[2] === undefined) continue;
    for (const name of cells[2].matchAll(/`([a-z-]+)`/g)) {
      if (name[1] !== undefined) table.set(name[1], layer);
    }
  }
  return table;
}

/**
 * Every breach of the architecture rules in the given files:
 * - each module under src/ is listed in the layer table;
 * - a module imports only modules of strictly lower layers;
 * - across modules, and from test/, scripts/ and bench/ into src/, only `<module>/index.ts`
 *   (or src/main.ts) may be imported: no deep imports.
 */
export function findViolations(files: readonly SourceFile[], layers: LayerTable): string[] {
  const violations: string[] = [];
  for (const file of files) {
    const from = moduleOf(file.path);
    if (from !== undefined && !layers.has(from)) {
      violations.push(`${file.path}: module "${from}" is not in the layer table of docs/architecture.md`);
    }
    for (const specifier of relativeImports(file.source)) {
      const target = normalize(join(dirname(file.path), specifier))
        .split(sep)
        .join('/');
      const to = moduleOf(target);
      if (to === undefined || to === from) continue;
      const isPublicSurface = target === `src/${to}/index.ts` || target === 'src/main.ts';
      if (!isPublicSurface) {
        violations.push(`${file.path}: deep import of ${target}; import from src/${to}/index.ts instead`);
      }
      if (from === undefined) continue;
      const fromLayer = layers.get(from);
      const toLayer = layers.get(to);
      if (toLayer === undefined) {
        violations.push(`${file.path}: imports module "${to}", which is not in the layer table`);
      } else if (fromLayer !== undefined && toLayer >= fromLayer) {
        violations.push(
          `${file.path}: "${from}" (layer ${fromLayer}) imports "${to}" (layer ${toLayer}); ` +
            'a module may import only lower layers',
        );
      }
    }
  }
  return violations;
}

export function toProjectPath(root: string, absolute: string): string {
  return relative(root, absolute).split(sep).join('/');
}
