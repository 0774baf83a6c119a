// The participant page's service worker (web-static/sw.js) must keep every file the page
// loads, or a reload without the server breaks on the one it lacks. Run: node --test Tests/web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const root = new URL('../../web-static/', import.meta.url);
const read = (path) => readFileSync(new URL(path.replace(/^\//, ''), root), 'utf8');

test('the service worker keeps the participant page and everything it loads', () => {
  const sw = read('sw.js');
  const page = /const PAGE = '([^']+)'/.exec(sw)[1];
  const kept = new Set(/const FILES = \[([^\]]*)\]/.exec(sw)[1].split(',').map((item) => item.trim())
    .filter(Boolean).map((item) => (item === 'PAGE' ? page : item.replace(/^'|'$/g, ''))));
  const html = read('participant.html');
  const wanted = new Set(['/participant.html']);
  for (const [, url] of html.matchAll(/(?:src|href)="(\/[^"]+)"/g)) wanted.add(url);
  // ... and every module those import, transitively.
  const queue = [...wanted].filter((u) => u.endsWith('.js'));
  while (queue.length) {
    const module = queue.pop();
    for (const [, rel] of read(module).matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*'([^']+)'/gm)) {
      const url = new URL(rel, `http://x${module}`).pathname;
      if (!wanted.has(url)) { wanted.add(url); queue.push(url); }
    }
  }
  assert.deepEqual([...wanted].filter((u) => !kept.has(u)), [], 'loaded by the page but not kept');
  assert.deepEqual([...kept].filter((u) => !wanted.has(u)), [], 'kept but no longer loaded');
});
