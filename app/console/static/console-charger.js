// The charger page's charts: power, voltage and temperature drawn with uPlot from the
// readings table (#readings, the same data as text), one chart per measurand. Redrawn at
// the new width when the window is resized.
(function () {
  "use strict";
  var COLOURS = { power: "#0b4f8a", voltage: "#7a4a00", temperature: "#9b1c1c" };
  // UTC and 24-hour times, as the table and the rest of the page show them.
  function utc(seconds) { return uPlot.tzDate(new Date(seconds * 1e3), "Etc/UTC"); }

  function series(table) {
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-t]"));
    var out = { t: [], power: [], voltage: [], temperature: [] };
    rows.forEach(function (tr) {
      out.t.push(parseFloat(tr.getAttribute("data-t")));
      ["power", "voltage", "temperature"].forEach(function (name) {
        var raw = tr.getAttribute("data-" + name);
        out[name].push(raw === "" || raw === null ? null : parseFloat(raw));
      });
    });
    return out;
  }

  function draw(box, data, range) {
    var name = box.getAttribute("data-series");
    var values = data[name];
    box.textContent = "";
    if (!values.some(function (v) { return v !== null; })) {
      box.classList.add("empty");
      return null;
    }
    var opts = {
      width: Math.max(240, box.clientWidth),
      height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      // The whole chosen range, however few the readings in it.
      scales: { x: { time: true, range: function () { return range; } } },
      tzDate: utc,
      axes: [
        { values: function (u, splits) { var f = uPlot.fmtDate("{HH}:{mm}"); return splits.map(function (v) { return f(utc(v)); }); } },
        { label: box.getAttribute("data-unit") || "" },
      ],
      series: [{}, { stroke: COLOURS[name] || "#111", width: 2, spanGaps: false, points: { show: values.length < 40 } }],
    };
    var chart = new uPlot(opts, [data.t, values], box);
    box.setAttribute("data-drawn", String(values.length));
    return chart;
  }

  function start() {
    var table = document.getElementById("readings");
    if (!table || typeof uPlot === "undefined") return;
    var data = series(table);
    var range = [parseFloat(table.getAttribute("data-from")), parseFloat(table.getAttribute("data-to"))];
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".chart[data-series]"));
    var charts = boxes.map(function (box) { return draw(box, data, range); });
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) clearTimeout(pending);
      pending = setTimeout(function () {
        boxes.forEach(function (box, i) {
          if (charts[i]) charts[i].setSize({ width: Math.max(240, box.clientWidth), height: 180 });
        });
      }, 150);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
