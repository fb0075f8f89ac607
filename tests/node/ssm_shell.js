// A Session Manager shell driven by the ssm-session library, as a browser terminal would drive it.
//
//   node ssm_shell.js STREAM_URL TOKEN STEPS_JSON
//
// STEPS_JSON is a list of steps: {"send": text, "expect": text} types `send` and waits (20 s at most) until the
// output since the step began contains `expect`; {"latency": n} types one character n times and times each echo;
// {"expectClosed": true} waits for the agent's channel_closed. Prints one JSON document: the whole output, each
// step's outcome, the round-trip times in milliseconds, and whether the channel closed.
"use strict";
const WebSocket = require("ws");
const ssm = require("ssm-session").ssm;

const [streamUrl, token, stepsJson] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);
const decoder = new TextDecoder();
const result = { output: "", steps: [], latencies: [], closed: false, acknowledged: 0 };
let sequence = 0;
let waiter = null;

const socket = new WebSocket(streamUrl);
socket.binaryType = "arraybuffer";

function check() {
  if (waiter && waiter.test()) {
    const done = waiter;
    waiter = null;
    clearTimeout(done.timer);
    done.resolve(true);
  }
}

function waitFor(test, ms) {
  return new Promise((resolve) => {
    waiter = { test, resolve, timer: setTimeout(() => { waiter = null; resolve(false); }, ms) };
    check();
  });
}

function type(text) {
  sequence += 1;
  ssm.sendText(socket, text, sequence);
}

socket.on("message", (data) => {
  const message = ssm.decode(data);
  if (message.messageType === "output_stream_data") {
    ssm.sendACK(socket, message);
    result.output += decoder.decode(message.payload);
  } else if (message.messageType === "acknowledge") {
    result.acknowledged += 1;
  } else if (message.messageType === "channel_closed") {
    result.closed = true;
  }
  check();
});
socket.on("close", () => { result.closed = true; check(); });
socket.on("error", (error) => { result.error = String(error); check(); });

socket.on("open", async () => {
  ssm.init(socket, { token, termOptions: { rows: 40, cols: 120 } });
  for (const step of steps) {
    if (step.send !== undefined) {
      const start = result.output.length;
      type(step.send);
      const ok = await waitFor(() => result.output.slice(start).includes(step.expect), 20000);
      result.steps.push({ send: step.send, ok });
    } else if (step.latency !== undefined) {
      for (let i = 0; i < step.latency; i += 1) {
        const start = result.output.length;
        const began = process.hrtime.bigint();
        type("x");
        const ok = await waitFor(() => result.output.length > start, 5000);
        if (ok) result.latencies.push(Number(process.hrtime.bigint() - began) / 1e6);
      }
      type("\u0015");  // Ctrl-U: the typed x's are not run
    } else if (step.expectClosed) {
      const ok = await waitFor(() => result.closed, 20000);
      result.steps.push({ expectClosed: true, ok });
    }
  }
  process.stdout.write(JSON.stringify(result));
  socket.terminate();
  process.exit(0);
});

setTimeout(() => { process.stdout.write(JSON.stringify({ ...result, timedOut: true })); process.exit(2); }, 120000);
