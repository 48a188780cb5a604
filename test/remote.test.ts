/**
 * Remote caches: the conformance suites against a shared folder, Debian's nginx (WebDAV PUT) and an S3 server
 * (s3rver, through the official client); two machines (two checkouts at different paths, two local caches, separate
 * CLI processes) sharing one remote of each kind; and the fault cases: a remote that is down, hung, refusing or
 * serving a damaged entry, credentials in config files, and credentials leaking into output or records.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {fileURLToPath} from 'node:url';
import {LocalStore} from '../cache/local-store.js';
import {openRemote} from '../cache/open-remote.js';
import type {RemoteSpec} from '../cache/remote-url.js';
import type {S3Settings} from '../cache/s3-backend.js';
import type {CacheStore} from '../cache/store.js';
import {TieredStore} from '../cache/tiered-store.js';
import {encodeIdx} from '../ml/data/idx.js';
import {main} from '../runner/cli.js';
import {cacheConformance, remoteConformance} from './cache-conformance.js';
import type {NginxServer, S3Server} from './util/servers.js';
import {s3Environment, startNginx, startS3, startSilentServer} from './util/servers.js';

const CLI = fileURLToPath(new URL('../runner/cli-main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const TOKEN = 'tok-7f3a9c21e5b84d06';
const PASSWORD = 'pw-5e1d0c9b8a7f';

const dirs: string[] = [];
async function tempDir(label = 'remote'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `distillery-${label}-`));
  dirs.push(dir);
  return dir;
}

let nginx: NginxServer;
let nginxToken: NginxServer;
let nginxBasic: NginxServer;
let s3: S3Server;
let awsDir: string;
const savedEnv = new Map<string, string | undefined>();

before(async () => {
  [nginx, nginxToken, nginxBasic, s3] = await Promise.all([
    startNginx(),
    startNginx({token: TOKEN}),
    startNginx({user: 'alice', password: PASSWORD}),
    startS3(),
  ]);
  awsDir = await tempDir('aws');
  // The official client reads credentials and the endpoint from this process's environment, as in any AWS tool.
  for (const [name, value] of Object.entries(s3Environment(s3, awsDir))) {
    savedEnv.set(name, process.env[name]);
    process.env[name] = value;
  }
  savedEnv.set('AWS_PROFILE', process.env['AWS_PROFILE']);
  delete process.env['AWS_PROFILE'];
});

after(async () => {
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await Promise.all([nginx?.stop(), nginxToken?.stop(), nginxBasic?.stop(), s3?.stop()]);
  await Promise.all(dirs.map((d) => rm(d, {recursive: true, force: true})));
});

// ---- The conformance suites, once per kind of remote. ----

type Kind = 'folder' | 'http' | 's3';
const KINDS: readonly Kind[] = ['folder', 'http', 's3'];
let prefixes = 0;

/** A fresh, empty place on a remote of `kind` (its own folder or prefix). */
async function freshSpec(kind: Kind): Promise<{spec: RemoteSpec; s3?: S3Settings}> {
  const prefix = `t${process.pid}-${prefixes++}`;
  switch (kind) {
    case 'folder':
      return {spec: {kind: 'folder', path: await tempDir('shared')}};
    case 'http':
      return {spec: {kind: 'http', url: `${nginx.url}/${prefix}`}};
    case 's3':
      return {spec: {kind: 's3', bucket: s3.bucket, prefix}, s3: {endpoint: s3.endpoint, region: 'us-east-1'}};
  }
}

async function openTiered(spec: RemoteSpec, s3Settings: S3Settings | undefined): Promise<TieredStore> {
  const local = await LocalStore.open(join(await tempDir('local'), 'cache'));
  const remote = await openRemote({name: 'team', spec, ...(s3Settings === undefined ? {} : {s3: s3Settings})});
  return new TieredStore(local, remote, {readThrough: true, writeThrough: true});
}

for (const kind of KINDS) {
  const specs = new WeakMap<CacheStore, {spec: RemoteSpec; s3?: S3Settings}>();
  cacheConformance(
    `local cache + ${kind} remote (read- and write-through)`,
    async () => {
      const where = await freshSpec(kind);
      const store = await openTiered(where.spec, where.s3);
      specs.set(store, where);
      return store;
    },
    {
      peer: async (store) => {
        const where = specs.get(store);
        if (where === undefined) throw new Error('unknown store');
        const other = await openTiered(where.spec, where.s3);
        specs.set(other, where);
        return other;
      },
      settle: async (store) => {
        await (store as TieredStore).flush();
      },
      heals: true,
    },
  );
  remoteConformance(kind, async () => {
    const where = await freshSpec(kind);
    const remote = await openRemote({name: kind, spec: where.spec, ...(where.s3 === undefined ? {} : {s3: where.s3})});
    return {remote, local: async () => LocalStore.open(join(await tempDir('local'), 'cache'))};
  });
}

// ---- Projects: a pipeline with custom nodes (fast) and one with built-in nodes (for export). ----

const NODES = `import {statSync, writeFileSync} from 'node:fs';
const num = {kind: 'Num'};
const open = {type: 'object'};
export default [
  {type: 'src', params: open, outputs: {out: num}, async run(ctx) { ctx.write('out', ctx.params.value); }},
  {type: 'double', params: open, inputs: {a: num}, outputs: {out: num}, async run(ctx) {
    ctx.metric('score', ctx.inputs.a * 2);
    ctx.write('out', ctx.inputs.a * 2);
  }},
  {type: 'score', params: open, inputs: {set: {kind: 'SyntheticSet'}}, outputs: {page: {kind: 'Report'}}, async run(ctx) {
    const bytes = statSync(ctx.inputs.set).size * ctx.params.scale;
    ctx.metric('bytes', bytes);
    writeFileSync(ctx.file('page', '.md'), '# set bytes x' + ctx.params.scale + ': ' + bytes + '\\n');
  }},
];
`;

const TOY = `name: toy
imports: [./nodes.mjs]
grid: {v: [1, 2]}
nodes:
  s: {type: src, with: {value: "\${grid.v}"}}
  d: {type: double, in: {a: s}}
`;

const SHARED = `name: shared
imports: [./nodes.mjs]
grid: {scale: [1, 2]}
nodes:
  data: {type: loadFashionMNIST, with: {root: fmnist}}
  random: {type: selectRandom, in: {data: data}, with: {ipc: 1, lr: 0.03}}
  score: {type: score, in: {set: random}, with: {scale: "\${grid.scale}"}}
`;

/** A checkout: nodes, pipelines, a tiny Fashion-MNIST, and optionally a config file. */
async function makeProject(config?: string): Promise<string> {
  const dir = join(await tempDir('project'), 'checkout');
  await mkdir(join(dir, 'fmnist'), {recursive: true});
  await writeFile(join(dir, 'nodes.mjs'), NODES);
  await writeFile(join(dir, 'toy.yaml'), TOY);
  await writeFile(join(dir, 'shared.yaml'), SHARED);
  for (const [prefix, n] of [['train', 30], ['t10k', 10]] as const) {
    const pixels = Uint8Array.from({length: n * 784}, (_, i) => (i * 31 + Math.floor(i / 784) * 17) % 256);
    const labels = Uint8Array.from({length: n}, (_, i) => i % 10);
    await writeFile(join(dir, 'fmnist', `${prefix}-images-idx3-ubyte`), encodeIdx([n, 28, 28], pixels));
    await writeFile(join(dir, 'fmnist', `${prefix}-labels-idx1-ubyte`), encodeIdx([n], labels));
  }
  if (config !== undefined) await writeFile(join(dir, 'distillery.config.yaml'), config);
  return dir;
}

/** A copy of a checkout at another path, without its local state: the teammate's clone. */
async function copyCheckout(from: string): Promise<string> {
  const dir = join(await tempDir('teammate'), 'elsewhere', 'clone');
  await cp(from, dir, {recursive: true, filter: (src) => !src.includes(`${join(from, '.distillery')}`)});
  return dir;
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI as its own process (another machine's command). */
function cliProcess(cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, CLI, ...args],
      {cwd, env: {...process.env, DISTILLERY_BACKEND: 'cpu', ...env}, maxBuffer: 1 << 24},
      (error, stdout, stderr) => resolve({code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr}),
    );
  });
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs the CLI in this process (faster, for the fault cases). */
async function cli(cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, {stdout, stderr, cwd, env: {DISTILLERY_BACKEND: 'cpu', ...env}});
  return {code, stdout: stdout.text, stderr: stderr.text};
}

/** Every file under `dir`, as text. */
async function allText(dir: string): Promise<string> {
  const entries = await readdir(dir, {recursive: true, withFileTypes: true}).catch(() => []);
  const texts = await Promise.all(entries.filter((e) => e.isFile()).map((e) => readFile(join(e.parentPath, e.name), 'utf8').catch(() => '')));
  return texts.join('\n');
}

// ---- Two machines, one remote of each kind. ----

/** How machine B is pointed at the remote, per kind: the config default, --remote NAME, DISTILLERY_REMOTE=URL. */
async function setUpKind(kind: Kind): Promise<{config: string; args: string[]; env: Record<string, string>; url: string}> {
  const {spec} = await freshSpec(kind);
  switch (kind) {
    case 'folder':
      return {config: `remotes:\n  team: {url: "${spec.kind === 'folder' ? spec.path : ''}", push: true}\ndefault: team\n`, args: [], env: {}, url: ''};
    case 'http':
      return {config: `remotes:\n  team: {url: "${spec.kind === 'http' ? spec.url : ''}"}\n`, args: ['--remote', 'team'], env: {}, url: ''};
    case 's3': {
      const url = spec.kind === 's3' ? `s3://${spec.bucket}/${spec.prefix}` : '';
      return {config: 'remotes: {}\n', args: [], env: {DISTILLERY_REMOTE: url}, url};
    }
  }
}

describe('two machines share results through one remote', () => {
  for (const kind of KINDS) {
    test(`${kind}: the teammate plans everything cached on the remote, runs nothing, and gets the same results, reports and export`, async () => {
      const how = await setUpKind(kind);
      const a = await makeProject(how.config);
      const b = await copyCheckout(a);
      const push = kind === 'folder' ? [] : ['--push'];
      const ranA = await cliProcess(a, ['run', 'shared.yaml', '--jobs', '2', ...push, ...how.args], how.env);
      assert.equal(ranA.code, 0, ranA.stdout + ranA.stderr);
      assert.match(ranA.stdout, /ok: 4 ran, 0 cached/);
      assert.equal(ranA.stdout.match(/^pushed {4}/gm)?.length, 4, ranA.stdout);

      const planB = await cliProcess(b, ['plan', 'shared.yaml', ...how.args], how.env);
      assert.equal(planB.code, 0, planB.stderr);
      assert.match(planB.stdout, /^shared: 4 instances, 0 cached, 4 on the remote \S+, 0 to run\n/);
      assert.match(planB.stdout, /all 4 instances are cached on the remote/);

      const ranB = await cliProcess(b, ['run', 'shared.yaml', ...how.args], how.env);
      assert.equal(ranB.code, 0, ranB.stdout + ranB.stderr);
      assert.match(ranB.stdout, /ok: 0 ran, 4 cached, 0 failed, 0 skipped/);
      assert.equal(ranB.stdout.match(/^fetched {3}/gm)?.length, 4, ranB.stdout);
      assert.doesNotMatch(ranB.stdout, /^start /m);

      const [resultsA, resultsB] = await Promise.all([cliProcess(a, ['results', 'shared.yaml', '--no-remote']), cliProcess(b, ['results', 'shared.yaml', '--no-remote'])]);
      assert.equal(resultsB.code, 0, resultsB.stderr);
      assert.match(resultsA.stdout, /\| score\{scale=1\} \| 1 \| done \| \d+ \|/);
      assert.equal(resultsB.stdout, resultsA.stdout);
      for (const variant of ['score{scale=1}', 'score{scale=2}']) {
        const page = join('.distillery', 'reports', 'shared', variant, 'page.md');
        assert.equal(await readFile(join(b, page), 'utf8'), await readFile(join(a, page), 'utf8'));
      }
      // safetensors is the artifact itself; npz (a zip) would differ in its timestamps.
      const [exportA, exportB] = await Promise.all([
        cliProcess(a, ['export', 'shared.yaml', 'random', '--format', 'safetensors', '--out', 'set.safetensors', '--no-remote']),
        cliProcess(b, ['export', 'shared.yaml', 'random', '--format', 'safetensors', '--out', 'set.safetensors', '--no-remote']),
      ]);
      assert.equal(exportA.code, 0, exportA.stderr);
      assert.equal(exportB.code, 0, exportB.stderr);
      assert.match(exportB.stdout, /10 images of 28x28x1/);
      assert.deepEqual(await readFile(join(b, 'set.safetensors')), await readFile(join(a, 'set.safetensors')));
    });
  }
});

// ---- Choosing a remote, and config errors. ----

describe('choosing a remote', () => {
  test('a URL with a password in the config is refused (exit 2, located) without printing the password', async () => {
    const dir = await makeProject(`remotes:\n  team:\n    url: https://alice:${PASSWORD}@cache.example/x\ndefault: team\n`);
    const r = await cli(dir, ['plan', 'toy.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: distillery\.config\.yaml:3:10 remote "team": a remote URL must not contain a user name or password\n/);
    assert.match(r.stderr, /https:\/\/\*\*\*@cache\.example\/x/);
    assert.match(r.stderr, /hint: put credentials in the environment/);
    assert.doesNotMatch(r.stderr + r.stdout, new RegExp(PASSWORD));
    const query = await cli(await makeProject(), ['plan', 'toy.yaml', '--remote', 'https://cache.example/x?token=abc']);
    assert.equal(query.code, 2);
    assert.match(query.stderr, /error: command line:1:10 a remote URL must not have a query string/);
  });

  test('an unknown name is exit 2 with a hint; the flag, DISTILLERY_REMOTE and the default choose; --no-remote turns it off', async () => {
    const shared = await tempDir('shared');
    const other = await tempDir('shared');
    const dir = await makeProject(`remotes:\n  team: {url: "${shared}"}\n  other: {url: "${other}"}\ndefault: team\n`);
    const typo = await cli(dir, ['plan', 'toy.yaml', '--remote', 'tema']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /no remote named "tema"[^]*did you mean "team"\?/);
    assert.equal((await cli(dir, ['push', 'toy.yaml'])).code, 0);
    const badDefault = await makeProject('remotes: {}\ndefault: nowhere\n');
    assert.match((await cli(badDefault, ['plan', 'toy.yaml'])).stderr, /distillery\.config\.yaml:2:10 default remote "nowhere" is not in remotes/);

    const ran = await cli(dir, ['run', 'toy.yaml', '--push']);
    assert.equal(ran.code, 0, ran.stdout);
    assert.equal(ran.stdout.match(/^pushed {4}\S+ to team/gm)?.length, 4, ran.stdout);
    const clone = await copyCheckout(dir);
    assert.match((await cli(clone, ['plan', 'toy.yaml'])).stdout, /0 cached, 4 on the remote team, 0 to run/);
    assert.match((await cli(clone, ['plan', 'toy.yaml', '--remote', 'other'])).stdout, /0 cached, 0 on the remote other, 4 to run/);
    assert.match((await cli(clone, ['plan', 'toy.yaml'], {DISTILLERY_REMOTE: 'other'})).stdout, /on the remote other/);
    assert.match((await cli(clone, ['plan', 'toy.yaml', '--remote', shared])).stdout, /0 cached, 4 on the remote \S+, 0 to run/);
    assert.match((await cli(clone, ['plan', 'toy.yaml', '--no-remote'])).stdout, /^toy: 4 instances, 0 cached, 4 to run\n/);
    const explained = await cli(clone, ['plan', 'toy.yaml', '--explain']);
    assert.match(explained.stdout, /remote s\{v=1\} +src: on the remote team, produced on \S+ at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ in [\d.]+ s/);
  });
});

// ---- Faults. ----

describe('faults', () => {
  test('a remote that is down: run computes locally after one warning; push exits 1 naming every entry', async () => {
    const dir = await makeProject('remotes:\n  team: {url: "http://127.0.0.1:9/cache", retries: 1, timeout: 2}\ndefault: team\n');
    const ran = await cli(dir, ['run', 'toy.yaml', '--push']);
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    assert.match(ran.stdout, /ok: 4 ran, 0 cached/);
    assert.equal(ran.stdout.match(/warning: remote team is unavailable; going on without it: GET http:\/\/127\.0\.0\.1:9\/cache\/v1\/entries\/[0-9a-f]+\/manifest\.json: ECONNREFUSED/g)?.length, 1, ran.stdout);
    assert.match(ran.stdout, /Not pushed to team \(\d+; `distillery push` retries\):\n {2}(s|d)\{v=\d\}: /);
    const pushed = await cli(dir, ['push', 'toy.yaml']);
    assert.equal(pushed.code, 1);
    assert.match(pushed.stdout, /pushed 0 entries \(0B\)/);
    for (const id of ['s{v=1}', 's{v=2}', 'd{v=1}', 'd{v=2}']) assert.ok(pushed.stderr.includes(`  ${id} (`), pushed.stderr);
    // The four entries and the run record of the run above.
    assert.match(pushed.stderr, /^Not pushed \(5\):/m);
    assert.match(pushed.stderr, /^ {2}run record \S+: /m);
  });

  test('a hung remote: the run gives up after the timeout and computes locally', async () => {
    const silent = await startSilentServer();
    try {
      const dir = await makeProject(`remotes:\n  team: {url: "${silent.url}", retries: 1, timeout: 0.5}\ndefault: team\n`);
      const ran = await cli(dir, ['run', 'toy.yaml']);
      assert.equal(ran.code, 0, ran.stdout + ran.stderr);
      assert.match(ran.stdout, /warning: remote team is unavailable; going on without it: GET \S+: no answer within 0\.5 s/);
      assert.match(ran.stdout, /ok: 4 ran, 0 cached/);
      const pulled = await cli(dir, ['pull', 'toy.yaml']);
      assert.equal(pulled.code, 0, 'entries the run committed are already here');
      const plan = await cli(dir, ['plan', 'toy.yaml', '--set', 'grid.v=[3]']);
      assert.equal(plan.code, 0);
      assert.match(plan.stderr, /warning: remote team is unavailable; showing the local cache only: .*no answer within 0\.5 s/);
    } finally {
      await silent.stop();
    }
  });

  test('HTTP behind a token or a password: the right credentials share, wrong ones warn, and neither is ever written', async () => {
    const config = `remotes:\n  token: {url: "${nginxToken.url}/p${process.pid}"}\n  basic: {url: "${nginxBasic.url}/p${process.pid}"}\n`;
    const dir = await makeProject(config);
    const wrong = await cli(dir, ['run', 'toy.yaml', '--remote', 'token', '--push'], {DISTILLERY_HTTP_TOKEN: 'not-the-token-0000'});
    assert.equal(wrong.code, 0);
    assert.match(wrong.stdout, /warning: remote token is unavailable; going on without it: GET \S+: HTTP 401 Unauthorized \(check DISTILLERY_HTTP_TOKEN/);
    const right = await cli(dir, ['push', 'toy.yaml', '--remote', 'token'], {DISTILLERY_HTTP_TOKEN: TOKEN});
    assert.equal(right.code, 0, right.stderr);
    assert.match(right.stdout, /pushed 4 entries/);
    const basic = await cli(dir, ['push', 'toy.yaml', '--remote', 'basic'], {DISTILLERY_HTTP_USER: 'alice', DISTILLERY_HTTP_PASSWORD: PASSWORD});
    assert.equal(basic.code, 0, basic.stderr);
    const basicWrong = await cli(dir, ['remote', 'ls', '--remote', 'basic'], {DISTILLERY_HTTP_USER: 'alice', DISTILLERY_HTTP_PASSWORD: 'nope-nope'});
    assert.equal(basicWrong.code, 1);
    assert.match(basicWrong.stderr, /HTTP 401/);
    const clone = await copyCheckout(dir);
    const fetched = await cli(clone, ['run', 'toy.yaml', '--remote', 'token'], {DISTILLERY_HTTP_TOKEN: TOKEN});
    assert.match(fetched.stdout, /ok: 0 ran, 4 cached/);
    const everything = [wrong, right, basic, basicWrong, fetched].map((r) => r.stdout + r.stderr).join('\n') + (await allText(dir)) + (await allText(clone));
    assert.ok(!everything.includes(TOKEN), 'the token was written somewhere');
    assert.ok(!everything.includes(PASSWORD), 'the password was written somewhere');
    assert.ok(!everything.includes(Buffer.from(`alice:${PASSWORD}`).toString('base64')));
  });

  test('S3 refusing our access key: a warning, the run computes locally, and the secret is never written', async () => {
    const dir = await makeProject(`remotes:\n  team: {url: "s3://${s3.bucket}/refused-${process.pid}", retries: 0}\ndefault: team\n`);
    const saved = process.env['AWS_ACCESS_KEY_ID'];
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAWRONGWRONGWRONG1';
    try {
      const ran = await cli(dir, ['run', 'toy.yaml', '--push']);
      assert.equal(ran.code, 0, ran.stdout + ran.stderr);
      assert.match(ran.stdout, /warning: remote team is unavailable; going on without it: cannot read s3:\/\/\S+: access refused \(InvalidAccessKeyId/);
      assert.match(ran.stdout, /ok: 4 ran/);
      const all = ran.stdout + ran.stderr + (await allText(dir));
      assert.ok(!all.includes('AKIAWRONGWRONGWRONG1') && !all.includes(process.env['AWS_SECRET_ACCESS_KEY'] ?? '\0'));
    } finally {
      process.env['AWS_ACCESS_KEY_ID'] = saved;
    }
  });

  test('S3 credentials from a profile (AWS_PROFILE and a credentials file) are used', async () => {
    const dir = await makeProject(`remotes:\n  team: {url: "s3://${s3.bucket}/profile-${process.pid}"}\ndefault: team\n`);
    await writeFile(join(awsDir, 'profile-credentials'), `[teamcache]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = from-the-profile\n`);
    await cli(dir, ['run', 'toy.yaml']);
    const env = {AWS_PROFILE: 'teamcache', AWS_SHARED_CREDENTIALS_FILE: join(awsDir, 'profile-credentials'), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: ''};
    const viaProfile = await cliProcess(dir, ['push', 'toy.yaml'], env);
    assert.equal(viaProfile.code, 0, viaProfile.stderr);
    assert.match(viaProfile.stdout, /pushed 4 entries/);
    const wrongProfile = await cliProcess(dir, ['remote', 'ls'], {...env, AWS_PROFILE: 'nobody'});
    assert.equal(wrongProfile.code, 1);
  });

  test('a damaged entry on the remote is reported, never committed, and computed here instead', async () => {
    const shared = await tempDir('shared');
    const dir = await makeProject(`remotes:\n  team: {url: "${shared}", push: true}\ndefault: team\n`);
    assert.equal((await cli(dir, ['run', 'toy.yaml'])).code, 0);
    // Flip the bytes of d{v=1}'s value on the remote, keeping the size.
    const plan = JSON.parse((await cli(dir, ['plan', 'toy.yaml', '--json'])).stdout) as {nodes: Array<{id: string; key: string}>};
    const key = plan.nodes.find((n) => n.id === 'd{v=1}')?.key ?? '';
    const folder = join(shared, 'v1', 'entries', key);
    const blob = (await readdir(folder)).find((f) => f !== 'manifest.json') ?? '';
    await writeFile(join(folder, blob), '5');
    const clone = await copyCheckout(dir);
    const ran = await cli(clone, ['run', 'toy.yaml']);
    assert.equal(ran.code, 0, ran.stdout);
    assert.match(ran.stdout, /warning: the entry of d\{v=1\} on team is damaged and was not used \(computing it here\): out\.json: downloaded 1 bytes with hash/);
    assert.match(ran.stdout, /ok: 1 ran, 3 cached/);
    assert.match((await cli(clone, ['results', 'toy.yaml', '--no-remote'])).stdout, /\| d\{v=1\} \| 1 \| done \| 2 \|/);
    const verify = await cli(dir, ['remote', 'verify']);
    assert.equal(verify.code, 1);
    assert.match(verify.stdout, new RegExp(`BAD ${key}: out\\.json: content hash`));
    assert.equal((await cli(dir, ['remote', 'verify', '--repair'])).code, 1);
    assert.match((await cli(dir, ['remote', 'verify'])).stdout, /3 entries checked on team \([^)]*\), 0 bad/);
  });

  test('pull brings entries and run records, plan --explain names the producing run, remote ls lists what is there', async () => {
    const shared = await tempDir('shared');
    const dir = await makeProject(`remotes:\n  team: {url: "${shared}"}\ndefault: team\n`);
    const ran = await cli(dir, ['run', 'toy.yaml', '--no-remote']);
    const runId = /^run (\S+):/.exec(ran.stdout)?.[1] ?? '';
    const pushed = await cli(dir, ['push']);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /pushed 4 entries \([\d.]+[BK]\) and 1 run record to team/);
    const ls = await cli(dir, ['remote', 'ls']);
    assert.match(ls.stdout, /^[0-9a-f]{16} +\d+B +\d+s +double +d\{v=1\}$/m);
    assert.match(ls.stdout, /4 entries, [\d.]+[BK] on team/);
    const clone = await copyCheckout(dir);
    const pulled = await cli(clone, ['pull', 'toy.yaml']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /pulled 4 entries \([\d.]+[BK]\) and 1 run record from team/);
    assert.match((await cli(clone, ['pull', 'toy.yaml'])).stdout, /pulled 0 entries \(0B\) and 0 run records from team .*; 4 already here/);
    const explained = await cli(clone, ['plan', 'toy.yaml', '--explain', '--no-remote']);
    assert.match(explained.stdout, new RegExp(`cached d\\{v=2\\} +double: produced on \\S+ at [^(]+\\(run ${runId}\\)`));
    const again = await cli(clone, ['run', 'toy.yaml', '--no-remote']);
    assert.match(again.stdout, /ok: 0 ran, 4 cached/);
  });
});
