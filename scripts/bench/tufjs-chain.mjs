// tufjs-chain.mjs DIR N — walk the root chain DIR/1.root.json …
// DIR/N.root.json with tuf-js, on request (tuf-ceremony's benchmarks,
// `make bench`).
//
// Two walks, files read inside each as ceremony.Verify does:
//
//   store:   tuf-js's trusted-metadata logic (TrustedMetadataStore: trust
//            1.root.json, then updateRoot with each next version, which
//            checks the previous root's threshold, the version and the new
//            root's own threshold), the counterpart of go-tuf's
//            trustedmetadata loop. This is what the benchmark compares.
//   updater: the Updater's root update (loadRoot), through a file-backed
//            fetcher and persisting every root to its cache, as a client
//            refreshing from 1.root.json does; maxRootRotations is raised
//            to N (tuf-js stops after 256 rotations by default).
//
// It walks each once, untimed (JIT, module caches), prints "ready", then
// reads one request a line from stdin, "store" or "updater", walks, and
// prints {"ms": wall-clock, "cpu_ms": CPU time (user + system, this
// process)}; it exits at the end of stdin. The benchmark times each walk
// next to a Verify of the same files, so that both are measured in the
// same few seconds of a machine whose speed drifts. Node's start-up and
// module loading are not timed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Updater, BaseFetcher } = require('tuf-js');
// tuf-js has no "exports" map; its store and errors are reachable.
const { TrustedMetadataStore } = require('tuf-js/dist/store.js');
const { DownloadHTTPError } = require('tuf-js/dist/error.js');

const [dir, nArg] = process.argv.slice(2);
if (!dir || !nArg) {
  console.error('usage: node tufjs-chain.mjs DIR N  (then "store" or "updater" lines on stdin)');
  process.exit(2);
}
const n = Number(nArg);

function walkStore() {
  const store = new TrustedMetadataStore(fs.readFileSync(path.join(dir, '1.root.json')));
  for (let v = 2; v <= n; v++) {
    store.updateRoot(fs.readFileSync(path.join(dir, `${v}.root.json`)));
  }
  return Number(store.root.signed.version);
}

const BASE = 'http://repo.invalid/metadata/';

// Serves DIR; a missing file is an HTTP 404, which ends the root rotation.
class FileFetcher extends BaseFetcher {
  async fetch(url) {
    const file = path.join(dir, path.basename(url));
    if (!url.startsWith(BASE) || !fs.existsSync(file)) {
      throw new DownloadHTTPError(`not found: ${url}`, 404);
    }
    return fs.createReadStream(file);
  }
}

async function walkUpdater() {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'tufjs-bench-'));
  try {
    fs.copyFileSync(path.join(dir, '1.root.json'), path.join(cache, 'root.json'));
    const updater = new Updater({
      metadataDir: cache,
      metadataBaseUrl: BASE,
      targetDir: cache,
      targetBaseUrl: 'http://repo.invalid/targets/',
      fetcher: new FileFetcher(),
      config: { maxRootRotations: n },
    });
    await updater.loadRoot();
    return Number(updater.trustedSet.root.signed.version);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

async function timed(walk) {
  const startCPU = process.cpuUsage();
  const start = process.hrtime.bigint();
  const v = await walk();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(startCPU);
  if (v !== n) throw new Error(`walked to root v${v}, want v${n}`);
  return { ms, cpu_ms: (used.user + used.system) / 1e3 };
}

const walks = { store: walkStore, updater: walkUpdater };
for (const walk of Object.values(walks)) await timed(walk); // warm-up
process.stdout.write('ready\n');
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const walk = walks[line.trim()];
  if (!walk) throw new Error(`unknown request ${JSON.stringify(line)}: want store or updater`);
  process.stdout.write(JSON.stringify(await timed(walk)) + '\n');
}
