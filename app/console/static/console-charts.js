// Charts for every console page: an element with data-chart holds its data in a child
// <script type="application/json"> (data, not code: the CSP allows it), drawn with uPlot.
// Use the macros in templates/console/_charts.html rather than writing the markup by hand.
//
// The data: {"x": [unix seconds, ...], "series": [{"label": "Power", "unit": "kW",
// "values": [number|null, ...]}, ...], "thresholds": [{"label": "NEVI 97 %", "value": 97}],
// "bars": false}. Every chart needs a text equivalent beside it (the macro's table).
(function () {
  "use strict";
  var COLOURS = ["#0b4f8a", "#b35c00", "#0b5a2a", "#6b2c91", "#9b1c1c", "#4a4a4a"];

  function options(spec, width) {
    var series = [{}];
    (spec.series || []).forEach(function (s, i) {
      var colour = s.colour || COLOURS[i % COLOURS.length];
      var one = {
        label: s.unit ? s.label + " (" + s.unit + ")" : s.label,
        stroke: colour,
        width: 2,
        spanGaps: false,
      };
      if (spec.bars) {
        one.fill = colour;
        one.paths = uPlot.paths.bars({ size: [0.6, 40] });
      }
      series.push(one);
    });
    (spec.thresholds || []).forEach(function (t) {
      series.push({ label: t.label, stroke: "#111", width: 1.5, dash: [6, 4], points: { show: false } });
    });
    return {
      width: width,
      height: 240,
      series: series,
      axes: [{}, {}],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    };
  }

  function data(spec) {
    var rows = [spec.x || []];
    (spec.series || []).forEach(function (s) { rows.push(s.values || []); });
    (spec.thresholds || []).forEach(function (t) {
      rows.push((spec.x || []).map(function () { return t.value; }));
    });
    return rows;
  }

  function render(box) {
    if (box.getAttribute("data-drawn") === "1" || typeof uPlot === "undefined") return;
    var source = box.querySelector("script[type='application/json']");
    if (!source) return;
    var spec = JSON.parse(source.textContent || "{}");
    var width = Math.max(280, box.clientWidth || 600);
    var plot = new uPlot(options(spec, width), data(spec), box);
    box.setAttribute("data-drawn", "1");
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        plot.setSize({ width: Math.max(280, box.clientWidth), height: 240 });
      }).observe(box);
    }
  }

  function renderAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-chart]"), render);
  }

  window.LaddnatCharts = { render: render, renderAll: renderAll };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { renderAll(); });
  else renderAll();
  // Charts swapped in by htmx (a partial page, a live update) are drawn too.
  document.addEventListener("htmx:afterSettle", function (e) { renderAll(e.target); });
})();
