/**
 * Golden tests of the rendered diagnostics: one pipeline per kind of problem, every problem reported at once, each
 * with file:line:col, the source line, a squiggle and (where one helps) a hint. Colour is off so the text is exact.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {AnalyzeRig} from './analyze-rig.js';
import {renderDiagnostics} from '../runner/diagnostic.js';
import type {Diagnostic} from '../runner/diagnostic.js';

interface Case {
  readonly name: string;
  readonly yaml: string;
  readonly sets?: readonly string[];
  readonly expected: string;
}

const CASES: readonly Case[] = [
  {
    name: "yaml syntax error",
    yaml: `imports: [./toy.ts]
nodes:
  a: {type: source
  b: [1, 2
`,
    expected: `error: p.yaml:4:3 Flow map in block collection must be sufficiently indented and end with a }
      b: [1, 2
      ~

error: p.yaml:5:1 Flow sequence in block collection must be sufficiently indented and end with a ]
    
    ~

2 errors
`,
  },
  {
    name: "duplicate key",
    yaml: `imports: [./toy.ts]
nodes:
  a: {type: source}
  a: {type: source}
`,
    expected: `error: p.yaml:4:3 Map keys must be unique
      a: {type: source}
      ~

1 error
`,
  },
  {
    name: "unknown keys with did-you-mean",
    yaml: `imports: [./toy.ts]
gird: {a: [1]}
nodes:
  a: {type: source, wiht: {count: 2}}
`,
    expected: `error: p.yaml:2:1 unknown key "gird"
    gird: {a: [1]}
    ~~~~
  hint: did you mean "grid"?

error: p.yaml:4:21 unknown key "wiht" in nodes.a
      a: {type: source, wiht: {count: 2}}
                        ~~~~
  hint: did you mean "with"?

2 errors
`,
  },
  {
    name: "unknown node type",
    yaml: `imports: [./toy.ts]
nodes:
  a: {type: sourse}
`,
    expected: `error: p.yaml:3:13 unknown node type "sourse"
      a: {type: sourse}
                ~~~~~~
  hint: did you mean "source"?

1 error
`,
  },
  {
    name: "params failing the schema",
    yaml: `imports: [./toy.ts]
nodes:
  a: {type: source, with: {count: many}}
  b: {type: scale, in: {numbers: a}, with: {factor: 1000, mode: mult, extra: 1}}
`,
    expected: `error: p.yaml:3:35 param "count" must be an integer, got string "many"
      a: {type: source, with: {count: many}}
                                      ~~~~

error: p.yaml:4:53 param "factor" must be <= 100, got 1000
      b: {type: scale, in: {numbers: a}, with: {factor: 1000, mode: mult, extra: 1}}
                                                        ~~~~

error: p.yaml:4:65 param "mode" must be one of "mul", "add", got "mult"
      b: {type: scale, in: {numbers: a}, with: {factor: 1000, mode: mult, extra: 1}}
                                                                    ~~~~
  hint: did you mean "mul"?

error: p.yaml:4:71 unknown param "extra" of scale
      b: {type: scale, in: {numbers: a}, with: {factor: 1000, mode: mult, extra: 1}}
                                                                          ~~~~~
  hint: allowed: factor, mode

4 errors
`,
  },
  {
    name: "missing node and port",
    yaml: `imports: [./toy.ts]
nodes:
  src: {type: source}
  b: {type: scale, in: {numbers: sorc}}
  c: {type: scale, in: {numbrs: src}}
  d: {type: scale, in: {numbers: src.nums}}
`,
    expected: `error: p.yaml:4:34 there is no node "sorc"
      b: {type: scale, in: {numbers: sorc}}
                                     ~~~~
  hint: did you mean "src"?

error: p.yaml:5:25 "c" (scale) has no input "numbrs"
      c: {type: scale, in: {numbrs: src}}
                            ~~~~~~
  hint: did you mean "numbers"?

error: p.yaml:6:34 "src" (source) has no output "nums"
      d: {type: scale, in: {numbers: src.nums}}
                                     ~~~~~~~~
  hint: its outputs: numbers

3 errors
`,
  },
  {
    name: "many and single ports",
    yaml: `imports: [./toy.ts]
nodes:
  src: {type: source, repeat: 3}
  one: {type: source}
  a: {type: sum, in: {parts: one}}
  b: {type: scale, in: {numbers: "src[*]"}}
  c: {type: scale, in: {numbers: src}}
  d: {type: scale, in: {numbers: "src[5]"}}
`,
    expected: `error: p.yaml:5:30 input "parts" of "a" (sum) takes a list of instances, but "one" is a single one
      a: {type: sum, in: {parts: one}}
                                 ~~~
  hint: write one[*] for all its instances, or a YAML list of references

error: p.yaml:6:34 input "numbers" of "b" (scale) takes one instance, but "src[*]" gives all instances
      b: {type: scale, in: {numbers: "src[*]"}}
                                     ~~~~~~~~
  hint: pick one, e.g. src[0], or run "b" once per instance with src[each]

error: p.yaml:7:34 input "numbers" of "c" (scale) takes one instance, but "src" has 3 (repeat: 3)
      c: {type: scale, in: {numbers: src}}
                                     ~~~
  hint: pick one with src[0], run "c" once per instance with src[each], or feed a many port with src[*]

error: p.yaml:8:34 "src" has 3 instances; there is no src[5]
      d: {type: scale, in: {numbers: "src[5]"}}
                                     ~~~~~~~~
  hint: indices run from 0 to 2

4 errors
`,
  },
  {
    name: "kind mismatch and ambiguous output",
    yaml: `imports: [./toy.ts]
nodes:
  src: {type: source}
  total: {type: sum, in: {parts: "src[*]"}}
  b: {type: scale, in: {numbers: total}}
  sp: {type: split, in: {numbers: src}}
  c: {type: scale, in: {numbers: sp}}
`,
    expected: `error: p.yaml:5:34 input "numbers" of "b" (scale) takes Numbers, but total.metrics is Metrics
      b: {type: scale, in: {numbers: total}}
                                     ~~~~~

error: p.yaml:7:34 "sp" (split) has several outputs; name one
      c: {type: scale, in: {numbers: sp}}
                                     ~~
  hint: write one of sp.high, sp.low

2 errors
`,
  },
  {
    name: "missing required input",
    yaml: `imports: [./toy.ts]
nodes:
  b: {type: scale}
`,
    expected: `error: p.yaml:3:3 "b" (scale) needs input "numbers" (Numbers)
      b: {type: scale}
      ~
  hint: connect it: in: {numbers: <node>}

1 error
`,
  },
  {
    name: "cycle",
    yaml: `imports: [./toy.ts]
nodes:
  a: {type: scale, in: {numbers: c}}
  b: {type: scale, in: {numbers: a}}
  c: {type: scale, in: {numbers: b}}
`,
    expected: `error: p.yaml:3:34 cycle: a -> b -> c -> a
      a: {type: scale, in: {numbers: c}}
                                     ~
  hint: a node cannot depend on its own outputs; remove one of these inputs
  p.yaml:4:34 "b" takes input from "a"
        b: {type: scale, in: {numbers: a}}
                                       ~
  p.yaml:5:34 "c" takes input from "b"
        c: {type: scale, in: {numbers: b}}
                                       ~
  p.yaml:3:34 "a" takes input from "c"
        a: {type: scale, in: {numbers: c}}
                                       ~

1 error
`,
  },
  {
    name: "undefined references",
    yaml: `imports: [./toy.ts]
params: {f: 2, g: "\${params.h}", h: "\${params.g}"}
grid: {alpha: [1, 2]}
nodes:
  a: {type: source, with: {count: "\${params.cnt}"}}
  b: {type: scale, in: {numbers: a}, with: {factor: "x\${grid.alpa}"}}
  c: {type: scale, in: {numbers: a}, with: {factor: "\${env.HOME}"}}
`,
    expected: `error: p.yaml:2:38 params refer to each other in a loop: params.g -> params.h -> params.g
    params: {f: 2, g: "\${params.h}", h: "\${params.g}"}
                                         ~~~~~~~~~~~
  hint: give one of them a value

error: p.yaml:5:36 \${params.cnt}: there is no param "cnt"
      a: {type: source, with: {count: "\${params.cnt}"}}
                                       ~~~~~~~~~~~~~
  hint: params: f, g, h

error: p.yaml:6:55 \${grid.alpa}: there is no grid variable "alpa"
      b: {type: scale, in: {numbers: a}, with: {factor: "x\${grid.alpa}"}}
                                                          ~~~~~~~~~~~~
  hint: did you mean "alpha"?

error: p.yaml:7:54 cannot resolve \${env.HOME}
      c: {type: scale, in: {numbers: a}, with: {factor: "\${env.HOME}"}}
                                                         ~~~~~~~~~~~
  hint: only \${params.NAME} and \${grid.NAME} can be referenced

4 errors
`,
  },
  {
    name: "empty grid and bad repeat",
    yaml: `imports: [./toy.ts]
grid: {alpha: []}
nodes:
  a: {type: source, repeat: 0}
  b: {type: source, repeat: 1.5}
`,
    expected: `error: p.yaml:2:15 grid variable "alpha" has no values
    grid: {alpha: []}
                  ~~
  hint: list the values, e.g. [0.3, 0.7]; a single value is [0.3]

error: p.yaml:4:29 repeat of node "a" must be >= 1, got 0
      a: {type: source, repeat: 0}
                                ~
  hint: repeat is the number of instances: a whole number, 1 or more

error: p.yaml:5:29 repeat of node "b" must be an integer, got the number 1.5
      b: {type: source, repeat: 1.5}
                                ~~~
  hint: repeat is the number of instances: a whole number, 1 or more

3 errors
`,
  },
  {
    name: "import that fails",
    yaml: `imports:
  - ./toy.ts
  - ./missing.mjs
  - ./broken.mjs
  - ./wrong-shape.mjs
nodes:
  a: {type: source}
`,
    expected: `error: p.yaml:3:5 cannot import "./missing.mjs": no such file
      - ./missing.mjs
        ~~~~~~~~~~~~~

error: p.yaml:4:5 cannot import "./broken.mjs": boom at load time
      - ./broken.mjs
        ~~~~~~~~~~~~

error: p.yaml:5:5 cannot use "./wrong-shape.mjs": its default export is not an array of node definitions
      - ./wrong-shape.mjs
        ~~~~~~~~~~~~~~~~~
  hint: export default [defineNode({type, params, inputs, outputs, run}), ...]

3 errors
`,
  },
  {
    name: "alias bomb",
    yaml: `imports: [./toy.ts]
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
nodes:
  a: {type: source}
`,
    expected: `error: p.yaml:3:8 the YAML expands more than 100 aliases (an alias bomb?)
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
           ~~
  hint: write the values out, or use fewer nested aliases

1 error
`,
  },
  {
    name: "__proto__ keys",
    yaml: `imports: [./toy.ts]
__proto__: {polluted: true}
nodes:
  __proto__: {type: source}
  a: {type: source, __proto__: {x: 1}, with: {__proto__: 1}}
`,
    expected: `error: p.yaml:2:1 unknown key "__proto__"
    __proto__: {polluted: true}
    ~~~~~~~~~
  hint: allowed: name, description, imports, params, grid, devices, nodes

error: p.yaml:4:3 invalid name "__proto__" in nodes
      __proto__: {type: source}
      ~~~~~~~~~
  hint: names start with a letter and contain only letters, digits, "_" and "-"

error: p.yaml:5:21 unknown key "__proto__" in nodes.a
      a: {type: source, __proto__: {x: 1}, with: {__proto__: 1}}
                        ~~~~~~~~~
  hint: allowed: type, description, repeat, seed, timeout, in, with

error: p.yaml:5:47 unknown param "__proto__" of source
      a: {type: source, __proto__: {x: 1}, with: {__proto__: 1}}
                                                  ~~~~~~~~~
  hint: allowed: count

4 errors
`,
  },
  {
    name: "duplicate grid values",
    yaml: `imports: [./toy.ts]
grid: {f: [1, 2, 1.0]}
nodes:
  src: {type: source}
  s: {type: scale, in: {numbers: src}, with: {factor: "\${grid.f}"}}
`,
    expected: `error: p.yaml:2:18 grid variable "f" has the value 1 twice (also at position 1)
    grid: {f: [1, 2, 1.0]}
                     ~~~
  hint: list each value once: values are compared as JSON, so 1 and 1.0 are the same

1 error
`,
  },
  {
    name: "bad --set path and value",
    yaml: `imports: [./toy.ts]
params: {n: 1}
nodes:
  a: {type: source}
`,
    sets: ["params.n.deep=1","grid.alpha=[0.3","nodes.a.with.count=0","nodes.a.wiht.count=2","nodez.a=1","justapath"],
    expected: `error: command line:1:7 cannot set "params.n.deep": Expected YAML collection at n. Remaining path: deep
    --set params.n.deep=1 --set grid.alpha=[0.3 --set nodes.a.with.count=0 --set nodes.a.wiht.count=2 --set nodez.a=1 --set justapath
          ~~~~~~~~~~~~~
  hint: the path goes through a value that is not a map or a list

error: command line:1:40 the value of --set grid.alpha is not valid YAML: Flow sequence must end with a ]
    --set params.n.deep=1 --set grid.alpha=[0.3 --set nodes.a.with.count=0 --set nodes.a.wiht.count=2 --set nodez.a=1 --set justapath
                                           ~~~~
  hint: quote the value for your shell, e.g. --set 'grid.alpha=[0.3, 0.7]'

error: command line:1:70 param "count" must be >= 1, got 0
    --set params.n.deep=1 --set grid.alpha=[0.3 --set nodes.a.with.count=0 --set nodes.a.wiht.count=2 --set nodez.a=1 --set justapath
                                                                         ~

error: command line:1:78 unknown key "wiht" in nodes.a
    --set params.n.deep=1 --set grid.alpha=[0.3 --set nodes.a.with.count=0 --set nodes.a.wiht.count=2 --set nodez.a=1 --set justapath
                                                                                 ~~~~~~~~~~~~~~~~~~
  hint: did you mean "with"?

error: command line:1:105 unknown key "nodez"
    --set params.n.deep=1 --set grid.alpha=[0.3 --set nodes.a.with.count=0 --set nodes.a.wiht.count=2 --set nodez.a=1 --set justapath
                                                                                                            ~~~~~~~
  hint: did you mean "nodes"?

error: command line:1:121 --set needs PATH=VALUE, got "justapath"
    --set params.n.deep=1 --set grid.alpha=[0.3 --set nodes.a.with.count=0 --set nodes.a.wiht.count=2 --set nodez.a=1 --set justapath
                                                                                                                            ~~~~~~~~~
  hint: for example --set params.ipc=10

6 errors
`,
  },
  {
    name: "empty file",
    yaml: ``,
    expected: `error: p.yaml:1:1 the pipeline must be a map, got null
    
    ~

1 error
`,
  },
  {
    name: "infinity in params",
    yaml: `imports: [./toy.ts]
nodes:
  a: {type: source}
  b: {type: scale, in: {numbers: a}, with: {factor: .inf}}
`,
    expected: `error: p.yaml:4:53 NaN and infinities cannot be params (they have no JSON form)
      b: {type: scale, in: {numbers: a}, with: {factor: .inf}}
                                                        ~~~~

1 error
`,
  },
];

async function withRig<T>(body: (rig: AnalyzeRig) => Promise<T>): Promise<T> {
  await using rig = await AnalyzeRig.create();
  await rig.write('broken.mjs', "throw new Error('boom at load time');\n");
  await rig.write('wrong-shape.mjs', "export default {type: 'x'};\n");
  return await body(rig);
}

describe('rendered diagnostics', () => {
  for (const c of CASES) {
    test(c.name, () =>
      withRig(async (rig) => {
        await rig.write('p.yaml', c.yaml);
        const diagnostics = await rig.diagnostics('p.yaml', c.sets ?? []);
        assert.equal(renderDiagnostics(diagnostics, {color: false}), c.expected);
        for (const d of diagnostics) {
          assert.equal(d.severity, 'error');
          assert.ok(d.location.line >= 1 && d.location.col >= 1, `${d.reason} is located`);
        }
      }),
    );
  }
});

describe('diagnostic values', () => {
  test('reasons name the kind of problem', () =>
    withRig(async (rig) => {
      const reasons = async (name: string): Promise<string[]> => {
        const c = CASES.find((x) => x.name === name);
        await rig.write('p.yaml', c?.yaml ?? '');
        return (await rig.diagnostics('p.yaml', c?.sets ?? [])).map((d) => d.reason);
      };
      assert.deepEqual(await reasons('cycle'), ['cycle']);
      assert.deepEqual(await reasons('empty grid and bad repeat'), ['empty-grid', 'bad-repeat', 'bad-repeat']);
      assert.deepEqual(await reasons('kind mismatch and ambiguous output'), ['kind-mismatch', 'ambiguous-port']);
      assert.deepEqual(await reasons('alias bomb'), ['yaml-alias-limit']);
      assert.deepEqual(await reasons('import that fails'), ['import-failed', 'import-failed', 'import-failed']);
    }));

  test('__proto__ keys never reach a prototype', () =>
    withRig(async (rig) => {
      await rig.write('p.yaml', CASES.find((c) => c.name === '__proto__ keys')?.yaml ?? '');
      await rig.diagnostics('p.yaml');
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      assert.equal(({} as Record<string, unknown>)['x'], undefined);
      assert.equal(({} as Record<string, unknown>)['type'], undefined);
    }));

  test('an unknown type with no close match lists the known types', () =>
    withRig(async (rig) => {
      await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  b: {type: nothingLikeIt}\n');
      const diagnostics = await rig.diagnostics('p.yaml');
      assert.equal(diagnostics.length, 1);
      assert.match(diagnostics[0]?.hint ?? '', /^known types: (.*, )?scale, (.*, )?source, split, sum/);
    }));

  test('a missing file is a diagnostic, not an exception', () =>
    withRig(async (rig) => {
      const diagnostics = await rig.diagnostics('nope.yaml');
      assert.equal(renderDiagnostics(diagnostics, {color: false}), 'error: nope.yaml:1:1 cannot read the pipeline: no such file\n\n1 error\n');
    }));

  test('an unused grid variable is a located warning on the plan, not an error', () =>
    withRig(async (rig) => {
      await rig.write('p.yaml', 'imports: [./toy.ts]\ngrid: {n: [1, 2], lr: [0.1, 0.2]}\nnodes:\n  a: {type: source, with: {count: "${grid.n}"}}\n');
      const {analyzePipeline} = await import('../runner/analyze-pipeline.js');
      const result = await analyzePipeline('p.yaml', {cwd: rig.dir, env: {DISTILLERY_BACKEND: 'cpu'}});
      assert.ok(result.ok);
      assert.equal(result.value.nodes.size, 2);
      assert.equal(
        renderDiagnostics(result.value.warnings ?? [], {color: false}),
        [
          "warning: p.yaml:2:19 grid variable 'lr' is used by no node, so it expands nothing",
          '    grid: {n: [1, 2], lr: [0.1, 0.2]}',
          '                      ~~',
          '  hint: refer to it as "${grid.lr}" in a node\'s with: (or in a param a node uses), or remove it',
          '',
          '1 warning',
          '',
        ].join('\n'),
      );
    }));

  test('an invalid DISTILLERY_BACKEND is located in the environment', () =>
    withRig(async (rig) => {
      await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  a: {type: source}\n');
      const {analyzePipeline} = await import('../runner/analyze-pipeline.js');
      const result = await analyzePipeline('p.yaml', {cwd: rig.dir, env: {DISTILLERY_BACKEND: 'tpu'}});
      assert.ok(!result.ok);
      assert.equal(result.error[0]?.reason, 'bad-environment');
      assert.match(renderDiagnostics(result.error, {color: false}), /^error: environment:1:1 DISTILLERY_BACKEND=tpu is not one of/);
    }));

  test('an invalid DISTILLERY_WASM_THREADS is located in the environment, with a hint', () =>
    withRig(async (rig) => {
      await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  a: {type: source}\n');
      const {analyzePipeline} = await import('../runner/analyze-pipeline.js');
      const result = await analyzePipeline('p.yaml', {cwd: rig.dir, env: {DISTILLERY_BACKEND: 'cpu', DISTILLERY_WASM_THREADS: '0'}});
      assert.ok(!result.ok);
      assert.equal(
        renderDiagnostics(result.error, {color: false}),
        [
          'error: environment:1:1 DISTILLERY_WASM_THREADS=0 is not a positive integer',
          '    DISTILLERY_WASM_THREADS=0',
          '    ~~~~~~~~~~~~~~~~~~~~~~~~~',
          '  hint: unset it to use one thread per core not taken by parallel jobs',
          '',
          '1 error',
          '',
        ].join('\n'),
      );
    }));

  test('colour adds ANSI codes; warnings and supplemental locations render; counts are pluralised', () => {
    const location = {file: 'f.yaml', line: 2, col: 3, length: 4, lineText: '\tab cdef'};
    const diagnostics: Diagnostic[] = [
      {severity: 'warning', reason: 'unknown-key', message: 'careful', location, hint: 'maybe', supplemental: [{message: 'see here', location}]},
    ];
    assert.equal(
      renderDiagnostics(diagnostics, {color: false}),
      'warning: f.yaml:2:3 careful\n     ab cdef\n      ~~~~\n  hint: maybe\n  f.yaml:2:3 see here\n       ab cdef\n        ~~~~\n\n1 warning\n',
    );
    assert.match(renderDiagnostics(diagnostics, {color: true}), /\x1b\[33m\x1b\[1mwarning\x1b\[0m/);
    assert.equal(renderDiagnostics([], {color: false}), 'no problems\n');
  });
});
