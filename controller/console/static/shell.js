// The browser shell (controller/console/shell_server.py): xterm.js on the websocket the page's ticket opens.
// Binary messages are terminal bytes both ways; text messages are JSON: {"resize": [cols, rows]} to the
// server, {"status": text} or {"error": code, "message": text} from it, written into the terminal.
"use strict";
(function () {
  const element = document.getElementById("terminal");
  if (!element || typeof Terminal === "undefined" || typeof FitAddon === "undefined") {
    return;
  }
  const terminal = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14 });
  const fitAddon = new FitAddon.FitAddon();
  terminal.loadAddon(fitAddon);
  terminal.open(element);
  fitAddon.fit();
  const url = element.dataset.url + "?ticket=" + encodeURIComponent(element.dataset.ticket);
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  let opened = false;

  function sendSize() {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ resize: [terminal.cols, terminal.rows] }));
    }
  }

  socket.addEventListener("open", function () {
    opened = true;
    sendSize();
    terminal.focus();
  });
  socket.addEventListener("message", function (event) {
    if (typeof event.data === "string") {
      const control = JSON.parse(event.data);
      if (control.error) {
        terminal.write("\r\n\x1b[31m" + control.error + ": " + control.message + "\x1b[0m\r\n");
        element.dataset.error = control.error;
      } else if (control.status) {
        terminal.write("\x1b[2m" + control.status + "\x1b[0m\r\n");
      }
    } else {
      terminal.write(new Uint8Array(event.data));
    }
  });
  socket.addEventListener("close", function () {
    if (!element.dataset.error) {
      terminal.write("\r\n\x1b[2m" + (opened ? "Session closed." : "The shell could not be opened.") + "\x1b[0m\r\n");
    }
    element.dataset.closed = "true";
  });
  terminal.onData(function (data) {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(encoder.encode(data));
    }
  });
  terminal.onResize(sendSize);
  window.addEventListener("resize", function () { fitAddon.fit(); });
})();
