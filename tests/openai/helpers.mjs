// helpers.mjs - shared pieces of the SDK tests: finding the hearth binary and
// the shared data, starting `hearth serve` on a free port as a child process,
// and a tiny JSON Schema validator for the response_format tests.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

// The CLI under test: $HEARTH_BIN (set by CTest), else the default build.
export const HEARTH_BIN = process.env.HEARTH_BIN || path.join(repo, 'build', 'hearth');
// Read-only shared data: $HEARTH_TEST_DATA, else ../shared next to the repo.
export const DATA = process.env.HEARTH_TEST_DATA || path.resolve(repo, '..', 'shared');

// Absolute path of a shared fixture; a missing one fails the test (never a skip).
export function data(rel) {
  const p = path.join(DATA, rel);
  if (!existsSync(p)) throw new Error(`missing fixture ${p} (set HEARTH_TEST_DATA)`);
  return p;
}

export function readJSON(rel) {
  return JSON.parse(readFileSync(data(rel), 'utf8'));
}

// Starts `hearth serve -m model --port 0 ...args` and resolves once stderr
// says "listening on http://HOST:PORT" (rejects if the process exits first or
// 60 s pass). The returned object's stop() sends SIGTERM and resolves with the
// exit code; the server's stderr is kept for failure messages.
export function startServer(model, args = []) {
  if (!existsSync(HEARTH_BIN)) throw new Error(`hearth binary not found: ${HEARTH_BIN} (set HEARTH_BIN)`);
  const argv = ['serve', '-m', data(model), '--port', '0', ...args];
  const proc = spawn(HEARTH_BIN, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    proc.on('exit', (code, sig) => {
      exited = { code, sig };
      resolve(exited);
    });
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`hearth serve did not start in 60 s:\n${log}`));
    }, 60000);
    proc.stderr.setEncoding('utf8');
    let ready = false;
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      if (log.length > 1 << 20) log = log.slice(-(1 << 19)); // the request log can grow
      const m = !ready && /listening on (http:\/\/[^\s]+:(\d+))/.exec(log);
      if (m) {
        ready = true;
        clearTimeout(timer);
        resolve({
          url: m[1],
          port: Number(m[2]),
          pid: proc.pid,
          proc,
          log: () => log,
          exited: () => exited,
          async stop() {
            if (!exited) proc.kill('SIGTERM');
            const t = setTimeout(() => proc.kill('SIGKILL'), 20000);
            const e = await exitPromise;
            clearTimeout(t);
            return e;
          },
        });
      }
    });
    exitPromise.then((e) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`hearth serve exited (${e.code ?? e.sig}) before listening:\n${log}`));
      }
    });
  });
}

// An SDK client for a started server: no retries (the SDK retries 429/503 by
// default, which would hide the statuses under test) and a bounded timeout.
export function client(srv, opts = {}) {
  return new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'sk-none', maxRetries: 0, timeout: 120000, ...opts });
}

// Checks `v` against the JSON Schema subset the tests use (type, properties,
// required, additionalProperties false, items, minItems/maxItems, enum,
// minLength/maxLength, minimum/maximum). Returns a list of problems (empty:
// valid), each naming the JSON path.
export function validate(schema, v, where = '$') {
  const errs = [];
  const typeOf = (x) =>
    x === null ? 'null' : Array.isArray(x) ? 'array' : Number.isInteger(x) ? 'integer' : typeof x;
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(v);
    const ok = types.some((want) => want === t || (want === 'number' && t === 'integer'));
    if (!ok) {
      errs.push(`${where}: type ${t}, want ${types.join('|')}`);
      return errs;
    }
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v)))
    errs.push(`${where}: ${JSON.stringify(v)} not in enum`);
  if (typeof v === 'string') {
    const n = [...v].length;
    if (schema.minLength !== undefined && n < schema.minLength) errs.push(`${where}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && n > schema.maxLength) errs.push(`${where}: longer than ${schema.maxLength}`);
  }
  if (typeof v === 'number') {
    if (schema.minimum !== undefined && v < schema.minimum) errs.push(`${where}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && v > schema.maximum) errs.push(`${where}: above ${schema.maximum}`);
  }
  if (Array.isArray(v)) {
    if (schema.minItems !== undefined && v.length < schema.minItems) errs.push(`${where}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && v.length > schema.maxItems) errs.push(`${where}: more than ${schema.maxItems} items`);
    if (schema.items) v.forEach((x, i) => errs.push(...validate(schema.items, x, `${where}[${i}]`)));
  }
  if (typeOf(v) === 'object') {
    const props = schema.properties || {};
    for (const k of schema.required || []) if (!(k in v)) errs.push(`${where}: missing required '${k}'`);
    for (const [k, x] of Object.entries(v)) {
      if (props[k]) errs.push(...validate(props[k], x, `${where}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${where}: unexpected property '${k}'`);
    }
  }
  return errs;
}

// Collects a chat stream: concatenated content, the chunks, finish reason.
export async function collectChat(stream) {
  let content = '';
  let finish = null;
  let role = null;
  const chunks = [];
  for await (const ch of stream) {
    chunks.push(ch);
    for (const c of ch.choices) {
      if (c.delta?.role) role = c.delta.role;
      if (typeof c.delta?.content === 'string') content += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { content, finish, role, chunks };
}
