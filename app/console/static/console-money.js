// The revenue chart: one line per site over the days of the range, drawn with uPlot from
// the JSON in #revenue-chart's data-chart (the table under it holds the same figures as
// text). The chart follows the box's width, so it fits a phone.
(function () {
  "use strict";
  // Distinguishable and at least 3:1 against white (WCAG 1.4.11).
  var COLOURS = ["#0b4f8a", "#b35c00", "#0b5a2a", "#9b1c1c", "#5b3a8c", "#00677a", "#7a4a00", "#4a4a4a", "#a1006b"];

  function draw(box) {
    var data = JSON.parse(box.getAttribute("data-chart"));
    var series = [{
      label: box.getAttribute("data-day-label") || "Day",
      value: function (u, ts) { return ts == null ? "–" : new Date(ts * 1000).toISOString().slice(0, 10); }
    }];
    var columns = [data.x];
    data.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: COLOURS[i % COLOURS.length],
        width: 2,
        points: { show: true, size: 6 },
        value: function (u, v) { return v == null ? "–" : v.toFixed(2) + " " + data.currency; }
      });
      columns.push(s.values);
    });
    var options = {
      width: Math.max(box.clientWidth, 280),
      height: 300,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "UTC"); },
      series: series,
      axes: [{}, { label: data.currency, size: 70 }],
      legend: { live: true }
    };
    var plot = new uPlot(options, columns, box);
    box.setAttribute("data-drawn", "true");
    var resize = function () { plot.setSize({ width: Math.max(box.clientWidth, 280), height: 300 }); };
    window.addEventListener("resize", resize);
  }

  function start() {
    var box = document.getElementById("revenue-chart");
    if (box && typeof uPlot !== "undefined") draw(box);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
