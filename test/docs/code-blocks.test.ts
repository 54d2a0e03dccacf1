/**
 * The documentation holds up (issue 22):
 *
 *   - every ```ts / ```typescript block of README.md and docs/*.md typechecks against the
 *     real sources, with the repository's compiler options: each block is written to a
 *     folder of its own inside the repository (test/docs/.blocks-<pid>/, removed
 *     afterwards), `ringshard` and `ringshard/metrics` are mapped (compiler `paths`) to
 *     the source files behind package.json's "exports", and the TypeScript compiler API
 *     checks them all in one program. A block that is a fragment on purpose says so in an
 *     HTML comment that ends on the line just before its fence:
 *
 *         <!-- fragment
 *         import { type Cluster } from 'ringshard';
 *         declare const cluster: Cluster;
 *         -->
 *
 *     What follows `fragment` (imports, `declare` stubs) goes at the top of the file and
 *     the block becomes the body of an async function. A failure names the markdown file,
 *     the line and the compiler's message.
 *   - every relative link in README.md and docs/*.md points at a file that exists, and an
 *     anchor into a markdown file at one of its headings (GitHub's slugs);
 *   - README.md stays a front door: at most 300 lines;
 *   - docs/api.md names every ErrorCode the sources define.
 *
 * Blocks are compiled without noUnusedLocals / noUnusedParameters: an example may define
 * what it does not use (a ref it only shows how to make).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { API, DiagnosticCategory, type Diagnostic } from 'typescript/unstable/sync';

const REPO = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const README_MAX_LINES = 300;

/** README.md and docs/*.md, as paths relative to the repository. */
function markdownFiles(): string[] {
  const docs = existsSync(join(REPO, 'docs'))
    ? readdirSync(join(REPO, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...docs];
}

interface Block {
  /** The markdown file, relative to the repository. */
  readonly file: string;
  /** The markdown line (1-based) of the block's first line of code. */
  readonly line: number;
  readonly code: string;
  /** For a block marked <!-- fragment ... -->: what goes before it (imports, declare stubs). */
  readonly fragment: string | undefined;
}

const FENCE_OPEN = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;

/** Lines of `text` with fenced code blocks marked, so links and headings skip them. */
function scan(text: string): { lines: string[]; inFence: boolean[]; fences: { open: number; close: number; info: string; indent: number }[] } {
  const lines = text.split('\n');
  const inFence = lines.map(() => false);
  const fences: { open: number; close: number; info: string; indent: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE_OPEN.exec(lines[i]!);
    if (!m) continue;
    const marker = m[2]!;
    let close = i + 1;
    while (close < lines.length && !new RegExp(`^\\s*${marker[0] === '`' ? '`' : '~'}{${marker.length},}\\s*$`).test(lines[close]!)) close++;
    for (let j = i; j <= close && j < lines.length; j++) inFence[j] = true;
    fences.push({ open: i, close, info: m[3]!.toLowerCase(), indent: m[1]!.length });
    i = close;
  }
  return { lines, inFence, fences };
}

/** The text of an HTML comment `<!-- fragment ... -->` ending on line `end`, or undefined. */
function fragmentBefore(lines: readonly string[], end: number): string | undefined {
  if (end < 0 || !lines[end]!.trimEnd().endsWith('-->')) return undefined;
  let start = end;
  while (start > 0 && !lines[start]!.includes('<!--')) start--;
  const comment = lines.slice(start, end + 1).join('\n');
  const m = /^\s*<!--\s*fragment\b:?([\s\S]*?)-->\s*$/.exec(comment);
  return m ? m[1]!.trim() : undefined;
}

function blocksOf(file: string): Block[] {
  const { lines, fences } = scan(readFileSync(join(REPO, file), 'utf8'));
  return fences
    .filter((f) => f.info === 'ts' || f.info === 'typescript')
    .map((f) => ({
      file,
      line: f.open + 2,
      code: lines
        .slice(f.open + 1, f.close)
        .map((l) => l.slice(Math.min(f.indent, l.length - l.trimStart().length)))
        .join('\n'),
      fragment: fragmentBefore(lines, f.open - 1),
    }));
}

/**
 * The source file behind each of package.json's exports ('ringshard', 'ringshard/metrics'):
 * `./dist/src/index.d.ts` is built from `src/index.ts`. Where that file has moved, the
 * known places of the entry are tried in turn.
 */
function exportPaths(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string | { types?: string; default?: string }> };
  const fallbacks: Record<string, string[]> = { '.': ['src/index.ts'], './metrics': ['src/metrics/exporter.ts', 'metrics/exporter.ts'] };
  const paths: Record<string, string> = {};
  for (const [key, target] of Object.entries(pkg.exports)) {
    const built = typeof target === 'string' ? [target] : [target.types, target.default].filter((t): t is string => t !== undefined);
    const candidates = [
      ...built.map((t) => t.replace(/^\.\//, '').replace(/^dist\//, '').replace(/\.d\.ts$|\.js$/, '.ts')),
      ...(fallbacks[key] ?? []),
    ];
    const found = candidates.find((c) => existsSync(join(REPO, c)));
    assert.ok(found, `package.json exports '${key}': none of ${candidates.join(', ')} exists`);
    paths[key === '.' ? pkg.name : `${pkg.name}/${key.replace(/^\.\//, '')}`] = join(REPO, found);
  }
  return paths;
}

/** The folders the repository's tsconfig.json includes (its .d.ts files declare modules the sources need). */
function includedFolders(): string[] {
  try {
    const config = JSON.parse(readFileSync(join(REPO, 'tsconfig.json'), 'utf8')) as { include?: string[] };
    return (config.include ?? ['src']).filter((d) => existsSync(join(REPO, d)));
  } catch {
    return ['src'];
  }
}

function flatten(d: Diagnostic, indent = ''): string {
  return [`${indent}${d.text}`, ...(d.messageChain ?? []).map((c) => flatten(c, `${indent}  `))].join('\n');
}

const blocks = markdownFiles().flatMap(blocksOf);
const dir = join(REPO, 'test', 'docs', `.blocks-${process.pid}`);
const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
/** Per block: its compiler errors, as `file:line:column: message`. */
const errors = new Map<Block, string[]>();
/** Errors no block owns (the configuration, global ones). */
const general: string[] = [];

before(() => {
  removeDir();
  mkdirSync(dir, { recursive: true });
  process.once('exit', removeDir);
  const files: { name: string; block: Block; text: string; offset: number }[] = [];
  blocks.forEach((block, i) => {
    const name = join(dir, `${block.file.replace(/[^A-Za-z0-9]+/g, '_')}_L${block.line}_${i}.ts`);
    const head = block.fragment !== undefined ? `${block.fragment}\nexport async function fragment(): Promise<void> {\n` : '';
    const tail = block.fragment !== undefined ? '\n}\n' : '\nexport {};\n';
    const text = head + block.code + tail;
    writeFileSync(name, text);
    files.push({ name, block, text, offset: head.split('\n').length - 1 });
    errors.set(block, []);
  });
  const config = join(dir, 'tsconfig.json');
  const base = relative(dir, join(REPO, 'tsconfig.json')).split(sep).join('/');
  writeFileSync(
    config,
    JSON.stringify(
      {
        extends: base,
        compilerOptions: {
          noEmit: true,
          noUnusedLocals: false,
          noUnusedParameters: false,
          paths: Object.fromEntries(Object.entries(exportPaths()).map(([k, v]) => [k, [v]])),
        },
        files: files.map((f) => f.name),
        include: includedFolders().map((d) => `${relative(dir, join(REPO, d)).split(sep).join('/')}/**/*.d.ts`),
      },
      null,
      2,
    ),
  );
  const api = new API({ cwd: REPO });
  try {
    const snapshot = api.updateSnapshot({ openProjects: [config] });
    const project = snapshot.getProject(config) ?? snapshot.getProjects()[0];
    assert.ok(project, `the compiler opened no project for ${config}`);
    const program = project.program;
    const isError = (d: Diagnostic): boolean => d.category === DiagnosticCategory.Error;
    for (const d of [...program.getConfigFileParsingDiagnostics(), ...program.getProgramDiagnostics(), ...program.getGlobalDiagnostics()].filter(isError)) {
      general.push(`${d.fileName ?? 'tsconfig'}: TS${d.code}: ${flatten(d)}`);
    }
    for (const f of files) {
      for (const d of [...program.getSyntacticDiagnostics(f.name), ...program.getSemanticDiagnostics(f.name)].filter(isError)) {
        const before = f.text.slice(0, d.pos).split('\n');
        const lineInFile = before.length - 1;
        const column = before[before.length - 1]!.length + 1;
        const where =
          lineInFile >= f.offset && lineInFile < f.offset + f.block.code.split('\n').length
            ? `${f.block.file}:${f.block.line + lineInFile - f.offset}:${column}`
            : `${f.block.file}:${f.block.line} (in the fragment's wrapper, line ${lineInFile + 1})`;
        errors.get(f.block)!.push(`${where}: error TS${d.code}: ${flatten(d)}`);
      }
    }
  } finally {
    api.close();
  }
});

after(removeDir);

test('README.md and docs/*.md have ts blocks, and the compiler took the configuration', (t) => {
  t.diagnostic(`${blocks.length} blocks: ${[...new Set(blocks.map((b) => b.file))].map((f) => `${f} ${blocks.filter((b) => b.file === f).length}`).join(', ')}`);
  assert.ok(blocks.length > 0, 'no ```ts block found');
  assert.deepEqual(general, []);
});

for (const block of blocks) {
  test(`${block.file}:${block.line}${block.fragment !== undefined ? ' (fragment)' : ''} typechecks`, () => {
    const found = errors.get(block) ?? [];
    if (found.length > 0) assert.fail(`the ts block at ${block.file}:${block.line} does not typecheck:\n${found.join('\n')}`);
  });
}

/** GitHub's anchor for a heading: its text, lower case, without punctuation, spaces as '-'. */
function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const { lines, inFence } = scan(readFileSync(file, 'utf8'));
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  lines.forEach((line, i) => {
    const m = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m || inFence[i]) return;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  });
  return anchors;
}

test('every relative link in README.md and docs/*.md points at a file that exists (and a heading it has)', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    const { lines, inFence } = scan(readFileSync(join(REPO, file), 'utf8'));
    lines.forEach((raw, i) => {
      if (inFence[i]) return;
      const line = raw.replace(/(`+)[\s\S]*?\1/g, '');
      const targets = [...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g), ...line.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)].map((m) => m[1]!);
      for (const target of targets) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        checked++;
        const [path = '', anchor] = target.split('#', 2);
        const resolved = path === '' ? join(REPO, file) : resolve(dirname(join(REPO, file)), decodeURIComponent(path));
        const where = `${file}:${i + 1}: ${target}`;
        if (!existsSync(resolved)) {
          broken.push(`${where}: no such file ${relative(REPO, resolved)}`);
        } else if (anchor !== undefined && anchor !== '' && resolved.endsWith('.md') && !anchorsOf(resolved).has(decodeURIComponent(anchor).toLowerCase())) {
          broken.push(`${where}: ${relative(REPO, resolved)} has no heading '#${anchor}'`);
        }
      }
    });
  }
  assert.ok(checked > 0, 'no relative link found');
  assert.deepEqual(broken, []);
});

test(`README.md is a front door: at most ${README_MAX_LINES} lines`, () => {
  const text = readFileSync(join(REPO, 'README.md'), 'utf8');
  const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; move the detail into docs/`);
});

test('docs/api.md names every ErrorCode the sources define', async () => {
  const entry = exportPaths()['ringshard'];
  assert.ok(entry);
  const { ErrorCode } = (await import(pathToFileURL(entry).href)) as { ErrorCode: Record<string, string> };
  const api = readFileSync(join(REPO, 'docs', 'api.md'), 'utf8');
  const missing = Object.values(ErrorCode).filter((code) => !api.includes(`\`${code}\``));
  assert.ok(Object.keys(ErrorCode).length > 0);
  assert.deepEqual(missing, [], 'error codes docs/api.md does not name');
});
