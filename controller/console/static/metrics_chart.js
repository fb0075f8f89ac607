// An instance's CloudWatch graphs (CPU, network in/out) drawn with the vendored uPlot.
// A static file, not inline script: the console's Content-Security-Policy allows script from 'self' only.
// The page's #charts element names the JSON endpoint (data-src); the data is fetched on load and every
// minute (one point a minute), and the charts are redrawn in place. A refusal shows AWS's code and message.
"use strict";
(function () {
  const REFRESH_MS = 60000;
  const COLOURS = ["#0b57a4", "#a11a1a"]; // the console's accent and "bad" colours: AA contrast on white
  const holder = document.getElementById("charts");
  const status = document.getElementById("chart-status");
  if (!holder || !status || typeof uPlot === "undefined") {
    return;
  }
  const drawn = {};
  // The range asked for (Unix seconds), updated on every load: the x axis spans it, not only the points.
  let range = [0, 0];

  function options(chart, width) {
    const series = [{ label: "Time (UTC)" }].concat(chart.series.map(function (line, index) {
      return { label: line.label, stroke: COLOURS[index % COLOURS.length], width: 2, spanGaps: false };
    }));
    return {
      width: width, height: 180, series: series, axes: [{}, { size: 70 }], legend: { live: true },
      scales: { x: { time: true, range: function () { return range; } } },
      tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"); },
    };
  }

  function draw(name, chart) {
    const target = document.getElementById("chart-" + name);
    const data = [chart.x].concat(chart.series.map(function (line) { return line.y; }));
    if (drawn[name] && drawn[name].series.length === data.length) {
      drawn[name].setData(data);
      return;
    }
    if (drawn[name]) {
      drawn[name].destroy();
    }
    target.replaceChildren();
    drawn[name] = new uPlot(options(chart, Math.max(320, target.clientWidth || holder.clientWidth)), data, target);
  }

  function latest(values) {
    for (let i = values.length - 1; i >= 0; i -= 1) {
      if (values[i] !== null) {
        return values[i];
      }
    }
    return null;
  }

  function summary(body) {
    const cpu = body.charts.cpu;
    const points = cpu.x.length;
    if (!points) {
      return "No datapoints in the last " + body.hours + " h.";
    }
    const last = latest(cpu.series[0].y);
    return points + " datapoints in the last " + body.hours + " h" +
      (last === null ? "." : "; latest CPU " + last.toFixed(1) + " %.");
  }

  function load() {
    fetch(holder.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        if (!answer.ok) {
          const error = answer.body.error || { code: "Error", message: "the metrics could not be read" };
          status.textContent = error.code + ": " + error.message;
          status.className = "error";
          return;
        }
        range = [answer.body.start, answer.body.end];
        Object.keys(answer.body.charts).forEach(function (name) { draw(name, answer.body.charts[name]); });
        status.textContent = summary(answer.body);
        status.className = "";
        holder.dataset.points = String(answer.body.charts.cpu.x.length);
      })
      .catch(function () {
        status.textContent = "The metrics could not be loaded (is the console reachable?).";
        status.className = "error";
      });
  }

  load();
  window.setInterval(load, REFRESH_MS);
})();
