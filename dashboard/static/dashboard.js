// Charts drawn with uPlot from the dashboard's JSON, redrawn on a timer; htmx errors shown.
(function () {
  "use strict";
  var COLOURS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#4b5563"];
  var charts = {};

  function draw(container, name, title, x, lines) {
    var names = Object.keys(lines);
    var data = [x].concat(names.map(function (n) { return lines[n]; }));
    var series = [{}].concat(names.map(function (n, i) {
      return { label: n, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false };
    }));
    var chart = charts[name];
    if (chart && chart.series.length === series.length) {
      chart.setData(data);
      return;
    }
    if (chart) { chart.destroy(); }
    var box = document.createElement("div");
    box.className = "chart";
    box.dataset.name = name;
    var old = container.querySelector('[data-name="' + CSS.escape(name) + '"]');
    if (old) { container.replaceChild(box, old); } else { container.appendChild(box); }
    charts[name] = new uPlot({ title: title, width: 560, height: 220, series: series,
      scales: { x: { time: true } }, axes: [{}, { size: 60 }] }, data, box);
  }

  function refresh(container) {
    fetch(container.dataset.src, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        var groups = container.dataset.chart === "rates" ? body.streams : body.topics;
        Object.keys(groups).forEach(function (key) {
          draw(container, key, key, body.x, groups[key]);
        });
        if (!Object.keys(groups).length) { container.textContent = "nothing yet"; }
      });
  }

  function start() {
    document.querySelectorAll("[data-chart]").forEach(function (container) {
      refresh(container);
      setInterval(function () { refresh(container); }, 5000);
    });
  }

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = xhr.responseText;
    try { text = JSON.parse(text).detail; } catch (e) { /* not JSON: shown as it came */ }
    var flash = document.getElementById("flash");
    flash.textContent = "refused (" + xhr.status + "): " + text;
    flash.className = "shown";
  });
})();
