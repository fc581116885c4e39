#!/usr/bin/env node
// tufjs-refresh.mjs — run tuf-js's Updater (the TUF client of sigstore-js
// and npm) over a repository in a directory: no network, no server. An
// independent client for tuf-ceremony's tests (SPEC invariant 7).
//
//   node tufjs-refresh.mjs --repo DIR --cache DIR [--root FILE] [--at RFC3339]
//                          [--roots-only] [--target PATH]...
//   node tufjs-refresh.mjs --jobs JOBS.json
//
// DIR/metadata/ holds N.root.json and what the client fetches after the
// root chain (timestamp.json, N.snapshot.json, N.targets.json, …). The
// client starts from --root (default DIR/metadata/1.root.json), walks every
// N.root.json (a missing file answers like an HTTP 404, which ends the root
// rotation), then timestamp, snapshot and targets, and looks up each
// --target through the delegations. --roots-only stops after the root chain
// and checks the newest root's expiry the way the client does next (for a
// root history whose online roles are not at hand). --at sets the client's
// reference time (default: now). --cache is the client's metadata cache
// (created; it must not hold an older session's files).
//
// Prints one JSON object on stdout:
//   {"client":"tuf-js 3.1.0","accepted":true,"root_version":2,
//    "targets_version":3,"targets":{"a/b.txt":{"found":true,"length":6,
//    "hashes":{"sha256":"…"}}},"found_all":true,"error":""}
// root_version is the root the client trusted when it stopped, also when
// it rejected. Exit status: 0 accepted and every target found; 1 rejected
// (or a target not found); 2 usage or installation problem.
//
// --jobs runs many repositories in one process (node's start-up is most of
// the cost of a run): JOBS.json is an array of {"repo", "cache", "root",
// "at", "roots_only", "targets"}; the output is the array of results, in
// order, and the exit status 0 unless the jobs could not be read.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function usage(msg) {
  process.stderr.write(`error: ${msg}\nusage: node tufjs-refresh.mjs --repo DIR --cache DIR [--root FILE] [--at RFC3339] [--roots-only] [--target PATH]...\n       node tufjs-refresh.mjs --jobs JOBS.json\n`);
  process.exit(2);
}

const opts = { targets: [], rootsOnly: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const value = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '--repo': opts.repo = value(); break;
    case '--cache': opts.cache = value(); break;
    case '--root': opts.root = value(); break;
    case '--at': opts.at = value(); break;
    case '--target': opts.targets.push(value()); break;
    case '--roots-only': opts.rootsOnly = true; break;
    case '--jobs': opts.jobs = value(); break;
    default: usage(`unknown argument ${a}`);
  }
}
if (!opts.jobs && (!opts.repo || !opts.cache)) usage('--repo and --cache (or --jobs) are required');

let tufjs, tufErrors, version;
try {
  tufjs = require('tuf-js');
  // The error classes the Updater tests with instanceof; tuf-js does not
  // export them from its index, and has no "exports" map that forbids this.
  tufErrors = require('tuf-js/dist/error.js');
  version = require('tuf-js/package.json').version;
} catch (e) {
  usage(`tuf-js is not installed next to this script (run: npm ci --prefix ${path.dirname(new URL(import.meta.url).pathname)}): ${e.message}`);
}
const { Updater, BaseFetcher } = tufjs;
const { DownloadHTTPError } = tufErrors;

const BASE = 'http://repo.invalid/';

// FileFetcher answers the Updater's requests from files under a directory.
// fetch(url) returns a readable stream, as BaseFetcher.downloadFile expects
// (it enforces the length limit while reading); anything absent is an
// HTTP 404, which is how the Updater learns that the root chain has ended.
class FileFetcher extends BaseFetcher {
  constructor(dir) {
    super();
    this.dir = path.resolve(dir);
    this.requests = [];
  }

  async fetch(url) {
    this.requests.push(url);
    if (!url.startsWith(BASE)) {
      throw new DownloadHTTPError(`not served: ${url}`, 404);
    }
    const rel = decodeURIComponent(url.slice(BASE.length));
    const file = path.resolve(this.dir, rel);
    if (rel.split('/').includes('..') || !file.startsWith(this.dir + path.sep)) {
      throw new DownloadHTTPError(`not served: ${url}`, 404);
    }
    let st;
    try {
      st = fs.statSync(file);
    } catch {
      throw new DownloadHTTPError(`not found: ${url}`, 404);
    }
    if (!st.isFile()) {
      throw new DownloadHTTPError(`not found: ${url}`, 404);
    }
    return fs.createReadStream(file);
  }
}

function describe(err) {
  const name = err && err.constructor && err.constructor.name ? err.constructor.name : 'Error';
  const msg = err && err.message !== undefined ? err.message : String(err);
  return `${name}: ${msg}`;
}

// run performs one job: one fresh Updater over one repository.
async function run(job) {
  const out = {
    client: `tuf-js ${version}`,
    accepted: false,
    root_version: 0,
    targets_version: 0,
    targets: {},
    error: '',
    found_all: false,
  };
  let updater;
  try {
    const metaDir = path.join(job.repo, 'metadata');
    const rootFile = job.root || path.join(metaDir, '1.root.json');
    fs.mkdirSync(job.cache, { recursive: true });
    const targetDir = path.join(job.cache, 'targets');
    fs.mkdirSync(targetDir, { recursive: true });
    fs.copyFileSync(rootFile, path.join(job.cache, 'root.json'));

    updater = new Updater({
      metadataDir: job.cache,
      metadataBaseUrl: `${BASE}metadata/`,
      targetDir,
      targetBaseUrl: `${BASE}targets/`,
      fetcher: new FileFetcher(job.repo),
    });
    if (job.at) {
      const at = new Date(job.at);
      if (Number.isNaN(at.getTime())) throw new Error(`--at ${job.at}: not a time`);
      // The Updater fixes its reference time when it starts (client
      // workflow 5.1) and judges every expiry against it.
      updater.trustedSet.referenceTime = at;
    }
    if (job.roots_only) {
      // Client workflow 5.3 only; then the expiry check updateTimestamp
      // makes before anything else (5.3.10: a frozen root stops the update).
      await updater.loadRoot();
      if (updater.trustedSet.root.signed.isExpired(updater.trustedSet.referenceTime)) {
        throw new tufErrors.ExpiredMetadataError('Final root.json is expired');
      }
    } else {
      await updater.refresh();
      out.targets_version = updater.trustedSet.targets.signed.version;
    }
    out.accepted = true;
    out.found_all = true;
    for (const t of job.targets || []) {
      const info = await updater.getTargetInfo(t);
      if (info) {
        out.targets[t] = { found: true, length: info.length, hashes: info.hashes };
      } else {
        out.targets[t] = { found: false };
        out.found_all = false;
        if (!out.error) out.error = `target ${t} not found`;
      }
    }
  } catch (err) {
    out.accepted = false;
    out.found_all = false;
    out.error = describe(err);
  }
  try {
    if (updater) out.root_version = updater.trustedSet.root.signed.version;
  } catch {
    // no trusted root
  }
  return out;
}

if (opts.jobs) {
  let jobs;
  try {
    jobs = JSON.parse(fs.readFileSync(opts.jobs, 'utf8'));
  } catch (e) {
    usage(`--jobs ${opts.jobs}: ${e.message}`);
  }
  const results = [];
  for (const job of jobs) {
    results.push(await run(job));
  }
  process.stdout.write(JSON.stringify(results) + '\n');
} else {
  const out = await run({
    repo: opts.repo,
    cache: opts.cache,
    root: opts.root,
    at: opts.at,
    roots_only: opts.rootsOnly,
    targets: opts.targets,
  });
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = out.accepted && out.found_all ? 0 : 1;
}
