// tufjs-chain.mjs DIR N LOOPS [UPDATER_LOOPS] — walk the root chain DIR/1.root.json …
// DIR/N.root.json with tuf-js (tuf-ceremony's benchmarks, `make bench`).
//
// Two ways, each with one untimed warm-up loop (JIT, module caches) and then
// LOOPS (UPDATER_LOOPS, default LOOPS) timed loops, files read inside each
// loop as ceremony.Verify does:
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
// Prints {"loops_ms": [...], "loops_cpu_ms": [...], "updater_loops_ms":
// [...]} on stdout: wall-clock and CPU time (user + system, this process)
// of each timed loop. Node's start-up and module loading are not in them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Updater, BaseFetcher } = require('tuf-js');
// tuf-js has no "exports" map; its store and errors are reachable.
const { TrustedMetadataStore } = require('tuf-js/dist/store.js');
const { DownloadHTTPError } = require('tuf-js/dist/error.js');

const [dir, nArg, loopsArg, updaterLoopsArg] = process.argv.slice(2);
if (!dir || !nArg || !loopsArg) {
  console.error('usage: node tufjs-chain.mjs DIR N LOOPS [UPDATER_LOOPS]');
  process.exit(2);
}
const n = Number(nArg);
const loops = Number(loopsArg);
const updaterLoops = Number(updaterLoopsArg || loopsArg);

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

async function time(walk, loops) {
  const wall = [];
  const cpu = [];
  for (let i = -1; i < loops; i++) {
    const startCPU = process.cpuUsage();
    const start = process.hrtime.bigint();
    const v = await walk();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const used = process.cpuUsage(startCPU);
    if (v !== n) throw new Error(`walked to root v${v}, want v${n}`);
    if (i >= 0) { // i = -1 is the warm-up
      wall.push(ms);
      cpu.push((used.user + used.system) / 1e3);
    }
  }
  return { wall, cpu };
}

const store = await time(walkStore, loops);
const updater = await time(walkUpdater, updaterLoops);
const out = { loops_ms: store.wall, loops_cpu_ms: store.cpu, updater_loops_ms: updater.wall };
process.stdout.write(JSON.stringify(out) + '\n');
