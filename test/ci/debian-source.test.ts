/**
 * .ci/debian-source.sh builds the apt source CI adds (bookworm-backports, for Mesa) from
 * the machine's own first Debian source, so the repository names no registry host.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../.ci/debian-source.sh', import.meta.url));

function run(files: { deb822?: string; list?: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'ringshard-apt-'));
  try {
    const deb822 = join(dir, 'debian.sources');
    const list = join(dir, 'sources.list');
    if (files.deb822 !== undefined) writeFileSync(deb822, files.deb822);
    if (files.list !== undefined) writeFileSync(list, files.list);
    const r = spawnSync('bash', [SCRIPT, 'bookworm-backports'], { env: { ...process.env, DEBIAN_SOURCES: deb822, DEBIAN_SOURCES_LIST: list }, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a deb822 source: URIs, Components and Signed-By of its first stanza, suite bookworm-backports', () => {
  const r = run({
    deb822: [
      'Types: deb', '# a comment', 'URIs: http://mirror.invalid/debian', 'Suites: bookworm bookworm-updates', 'Components: main contrib',
      'Signed-By: /usr/share/keyrings/one.gpg', '', 'Types: deb', 'URIs: http://other.invalid/debian-security', 'Suites: bookworm-security',
      'Components: main', 'Signed-By: /usr/share/keyrings/two.gpg', '',
    ].join('\n'),
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm-backports\nComponents: main contrib\nSigned-By: /usr/share/keyrings/one.gpg\n');
});

test('a one-line sources.list, with options, when there is no deb822 file', () => {
  const r = run({ list: '# comment\ndeb-src http://src.invalid/debian bookworm main\ndeb [arch=amd64 signed-by=/k/key.gpg] http://mirror.invalid/debian bookworm main non-free\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm-backports\nComponents: main non-free\nSigned-By: /k/key.gpg\n');
  const plain = run({ list: 'deb http://mirror.invalid/debian bookworm main\n' });
  assert.equal(plain.stdout, 'Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm-backports\nComponents: main\n');
});

test('no Debian source: a clear failure, nothing printed', () => {
  const r = run({ list: '# nothing here\n' });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /no Debian source found .*cannot add bookworm-backports/);
});
