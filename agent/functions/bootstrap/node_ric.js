'use strict';
/**
 * Cloudlet's runtime interface client for Node.js functions (nodejs20.x): the loop AWS's own Node
 * runtime runs inside every execution environment, written against Node's standard library only
 * (AWS's client needs a native addon built per Node version; this file needs nothing but `node`).
 *
 * It speaks the Lambda Runtime API at AWS_LAMBDA_RUNTIME_API (GET /2018-06-01/runtime/invocation/next,
 * POST .../{id}/response, .../{id}/error, /runtime/init/error) and behaves as AWS's runtime does, so code
 * written for Lambda runs unchanged:
 *   - the handler `_HANDLER` (or argv[2], as an image's CMD passes it) is `[dir/]file.export[.nested]`,
 *     loaded from LAMBDA_TASK_ROOT: CommonJS (`.js`, `.cjs`, or extensionless) and ES modules (`.mjs`, or
 *     `.js` under a package.json with "type": "module"), falling back to Node's resolution (NODE_PATH
 *     covers /opt/nodejs/node_modules for layers);
 *   - async handlers (the promise's value is the response) and callback handlers (callback(err, result),
 *     which by default waits for the event loop to empty, as `context.callbackWaitsForEmptyEventLoop`);
 *     context.succeed/fail/done; the context fields AWS sets;
 *   - error documents `{errorType, errorMessage, trace}` with the Lambda-Runtime-Function-Error-Type
 *     header; init failures posted to /runtime/init/error as Runtime.ImportModuleError,
 *     Runtime.HandlerNotFound, Runtime.MalformedHandlerName or Runtime.UserCodeSyntaxError;
 *   - console output as `<ISO time>\t<requestId>\t<LEVEL>\t<message>` (newlines inside one message become
 *     \r so one call stays one log event), honouring AWS_LAMBDA_LOG_LEVEL and AWS_LAMBDA_LOG_FORMAT=JSON.
 * An exception nobody catches, or a rejected promise nobody handles, fails the current invocation and
 * ends the process (exit 129 / 128), as on AWS: the next invocation gets a fresh environment.
 */

const fs = require('fs');
const http = require('http');
const Module = require('module');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');

const API_BASE = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const DEFAULT_NODE_PATH = [
  '/opt/nodejs/node20/node_modules', '/opt/nodejs/node_modules', '/var/runtime/node_modules', '/var/runtime',
  '/var/task',
].join(':');

// ---------------------------------------------------------------------------------------------------------
// Errors the runtime itself raises, named as AWS names them (`Runtime.<Class>`).

function runtimeError(name) {
  const ErrorClass = class extends Error {};
  ErrorClass.prototype.name = `Runtime.${name}`;
  return ErrorClass;
}

const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const UnhandledPromiseRejection = runtimeError('UnhandledPromiseRejection');
const NodeJsExit = runtimeError('NodeJsExit');

function looksLikeError(value) {
  return Boolean(value) && typeof value.name === 'string' && typeof value.message === 'string' &&
    typeof value.stack === 'string';
}

/** The document posted to /error: Error objects by name, message and stack; anything else by its type. */
function errorDocument(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_unreadable) {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or ' +
        'more of its message, name, and stack',
    };
  }
}

/** How an error appears in the log after "Invoke Error": a tab, then JSON with its stack as a list. */
function formattedForLog(error) {
  const withFields = (_key, value) => {
    if (!(value instanceof Error)) return value;
    const fields = { errorType: value.name, errorMessage: value.message, code: value.code, ...value };
    if (typeof value.stack === 'string') fields.stack = value.stack.split('\n');
    return fields;
  };
  try {
    return '\t' + JSON.stringify(error, withFields);
  } catch (_circular) {
    return '\t' + JSON.stringify(errorDocument(error));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Logging: console.* as AWS's runtime patches it.

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };

function logLine(level, params) {
  const time = new Date().toISOString();
  const requestId = globalThis[REQUEST_ID];
  let line;
  if ((process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON') {
    const record = { timestamp: time, level, requestId, message: util.format(...params) };
    const error = params.find((p) => p instanceof Error);
    if (error) {
      Object.assign(record, {
        errorType: error.constructor?.name ?? 'UnknownError', errorMessage: error.message,
        stackTrace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
      });
    }
    line = JSON.stringify(record);
  } else {
    line = `${time}\t${requestId}\t${level}\t${util.format(...params)}`;
  }
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const threshold = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] ?? LEVELS.TRACE;
  const logger = (level) => (LEVELS[level] >= threshold ? (...params) => logLine(level, params) : () => {});
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = logger('FATAL');
}

function logError(label, error) {
  console.error(label, formattedForLog(error instanceof Error ? error : new Error(error)));
}

// ---------------------------------------------------------------------------------------------------------
// The Runtime API.

class RuntimeApi {
  constructor(address) {
    const [hostname, port] = address.split(':');
    this.hostname = hostname;
    this.port = Number(port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  request(method, route, body, headers) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
      const request = http.request({
        hostname: this.hostname, port: this.port, method, path: API_BASE + route, agent: this.agent,
        headers: payload === undefined ? headers : {
          'Content-Type': 'application/json', 'Content-Length': payload.length, ...headers,
        },
      }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({
          status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString('utf8'),
        }));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(payload);
    });
  }

  next() {
    return this.request('GET', '/invocation/next');
  }

  respond(id, result) {
    let body;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch (_unserializable) {
      return this.fail(id, new Error('Unable to stringify response body'));
    }
    return this.request('POST', `/invocation/${encodeURIComponent(id)}/response`, body);
  }

  fail(id, error) {
    const document = errorDocument(error);
    return this.request('POST', `/invocation/${encodeURIComponent(id)}/error`, JSON.stringify(document),
      { [ERROR_TYPE_HEADER]: document.errorType });
  }

  initError(error) {
    const document = errorDocument(error);
    return this.request('POST', '/init/error', JSON.stringify(document), { [ERROR_TYPE_HEADER]: document.errorType });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Loading the handler.

function packageIsModule(folder) {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    if (dir.endsWith('/node_modules')) return false;
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8')).type === 'module';
      } catch (error) {
        console.warn(`${manifest} cannot be read, it will be ignored for ES module detection purposes.`, error);
        return false;
      }
    }
    if (dir === path.dirname(dir)) return false;
  }
}

async function importModule(file) {
  return fs.existsSync(file) ? import(pathToFileURL(file).href) : undefined;
}

function requireModule(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function loadModule(taskRoot, moduleRoot, moduleName) {
  const base = path.resolve(taskRoot, moduleRoot, moduleName);
  const asModule = packageIsModule(path.dirname(base));
  const loaded = requireModule(base) ||
    (!asModule && requireModule(base + '.js')) ||
    (asModule && (await importModule(base + '.js'))) ||
    (await importModule(base + '.mjs')) ||
    requireModule(base + '.cjs');
  if (loaded) return loaded;
  return require(require.resolve(moduleName, { paths: [taskRoot, path.resolve(taskRoot, moduleRoot)] }));
}

async function loadHandler(taskRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(`'${fullHandler}' is not a valid handler name. Use absolute paths when ` +
      'specifying root directories in handler names.');
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, exportPath] = match;
  let loaded;
  try {
    loaded = await loadModule(taskRoot, moduleRoot, moduleName);
  } catch (error) {
    if (error instanceof SyntaxError) throw new UserCodeSyntaxError(String(error));
    if (error && (error.code === 'MODULE_NOT_FOUND' || error.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new ImportModuleError(String(error));
    }
    throw error;
  }
  const handler = exportPath.split('.').reduce((value, key) => value && value[key], loaded);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

// ---------------------------------------------------------------------------------------------------------
// The invocation loop.

/** The one listener for an empty event loop: what to do when the handler's own work has drained. */
let onEmptyLoop = null;

function parseHeaderJson(value, what) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse ${what} as json: ${error}`);
  }
}

class Runtime {
  constructor(api, handler) {
    this.api = api;
    this.handler = handler;
    this.isAsync = handler.constructor?.name === 'AsyncFunction';
    this.currentId = null;
  }

  scheduleNext() {
    setImmediate(() => this.handleOne().catch((error) => this.crash(error, 129)));
  }

  /** A failure no handler caught: fail the current invocation (or init), then end the environment. */
  crash(error, code) {
    const report = this.currentId === null ? this.api.initError(error) : this.api.fail(this.currentId, error);
    report.catch(() => undefined).finally(() => process.exit(code));
  }

  async handleOne() {
    const { status, headers, body } = await this.api.next();
    if (status !== 200) throw new Error(`the Runtime API answered ${status} to /invocation/next: ${body}`);
    const id = headers['lambda-runtime-aws-request-id'];
    this.currentId = id;
    globalThis[REQUEST_ID] = id;
    if (headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
    else delete process.env._X_AMZN_TRACE_ID;

    let finished = false;
    const post = (action) => {
      if (finished) return;
      finished = true;
      onEmptyLoop = null;
      action().then(() => this.scheduleNext(), (error) => this.crash(error, 129));
    };
    const fail = (error) => post(() => {
      logError('Invoke Error', error);
      return this.api.fail(id, error);
    });
    const succeed = (result) => post(() => this.api.respond(id, result));
    let waitsForEmptyLoop = true;
    const callback = (error, result) => {
      if (error !== undefined && error !== null) fail(error);
      else if (!waitsForEmptyLoop) succeed(result);
      else onEmptyLoop = () => setImmediate(() => succeed(result));
    };
    // A handler that neither returns a promise nor calls back answers null once its work drains;
    // an async one whose promise never settles fails, as on AWS.
    onEmptyLoop = this.isAsync ? () => fail(new NodeJsExit('Runtime exited without providing a reason'))
      : () => succeed(null);

    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    const context = {
      awsRequestId: id,
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      getRemainingTimeInMillis: () => deadline - Date.now(),
      get callbackWaitsForEmptyEventLoop() { return waitsForEmptyLoop; },
      set callbackWaitsForEmptyEventLoop(value) { waitsForEmptyLoop = value; },
      succeed: (result) => succeed(result),
      fail: (error) => fail(error === undefined || error === null ? 'handled' : error),
      done: (error, result) => (error !== undefined && error !== null ? fail(error) : succeed(result)),
    };
    try {
      context.clientContext = parseHeaderJson(headers['lambda-runtime-client-context'], 'ClientContext');
      context.identity = parseHeaderJson(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity');
      const result = this.handler(JSON.parse(body), context, callback);
      if (result && typeof result.then === 'function') result.then(succeed, fail);
    } catch (error) {
      fail(error);
    }
  }
}

async function main() {
  patchConsole();
  if (!process.env.NODE_PATH) {
    process.env.NODE_PATH = DEFAULT_NODE_PATH;
    Module._initPaths();
  }
  const api = new RuntimeApi(process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001');
  let runtime = null;
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    if (runtime) runtime.crash(error, 129);
    else api.initError(error).catch(() => undefined).finally(() => process.exit(129));
  });
  process.on('unhandledRejection', (reason) => {
    const error = new UnhandledPromiseRejection(String(reason));
    logError('Unhandled Promise Rejection', error);
    if (runtime) runtime.crash(error, 128);
    else api.initError(error).catch(() => undefined).finally(() => process.exit(128));
  });
  process.on('beforeExit', () => {
    const action = onEmptyLoop;
    onEmptyLoop = null;
    if (action) action();
  });

  const taskRoot = process.env.LAMBDA_TASK_ROOT || '/var/task';
  let handler;
  try {
    handler = await loadHandler(taskRoot, process.argv[2] || process.env._HANDLER || '');
  } catch (error) {
    logError('Uncaught Exception', error);
    await api.initError(error).catch(() => undefined);
    process.exit(129);
  }
  runtime = new Runtime(api, handler);
  runtime.scheduleNext();
}

main();
