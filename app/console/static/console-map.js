// The overview's map: one marker per location of the list below it (#location-list, the
// same data as text), coloured by the worst open incident, redrawn whenever the live
// stream swaps a new list in. Without a tile URL, or when the tile server fails, the map
// is a plain coordinate plot: the markers on a blank plane with a degree grid.
(function () {
  "use strict";
  var COLOURS = { ok: "#0b5a2a", info: "#1f4e99", warning: "#b35c00", critical: "#c81e1e" };

  function points(list) {
    return Array.prototype.slice.call(list.querySelectorAll("li[data-lat][data-lon]")).map(function (li) {
      return {
        id: li.getAttribute("data-location"),
        name: li.getAttribute("data-name"),
        worst: li.getAttribute("data-worst") || "ok",
        lat: parseFloat(li.getAttribute("data-lat")),
        lon: parseFloat(li.getAttribute("data-lon")),
      };
    });
  }

  function grid(map, bounds) {
    var layer = L.layerGroup();
    var south = Math.max(-85, Math.floor(bounds.getSouth()) - 15), north = Math.min(85, Math.ceil(bounds.getNorth()) + 15);
    var west = Math.floor(bounds.getWest()) - 30, east = Math.ceil(bounds.getEast()) + 30;
    var style = { color: "#c4c7cc", weight: 1, interactive: false };
    for (var lat = south; lat <= north; lat++) layer.addLayer(L.polyline([[lat, west], [lat, east]], style));
    for (var lon = west; lon <= east; lon++) layer.addLayer(L.polyline([[south, lon], [north, lon]], style));
    layer.addTo(map);
  }

  function start() {
    var box = document.getElementById("map");
    var list = document.getElementById("location-list");
    var note = document.getElementById("map-note");
    if (!box || !list || typeof L === "undefined") return;
    var map = L.map(box, { scrollWheelZoom: false });
    var markers = L.layerGroup().addTo(map);
    var tileUrl = box.getAttribute("data-tile-url");
    var first = points(list);
    var bounds = first.length
      ? L.latLngBounds(first.map(function (p) { return [p.lat, p.lon]; }))
      : L.latLngBounds([[55, 11], [69, 24]]);
    map.fitBounds(bounds.pad(0.3), { maxZoom: 12 });
    if (tileUrl) {
      var tiles = L.tileLayer(tileUrl, { attribution: box.getAttribute("data-tile-attribution") || "", maxZoom: 18 });
      tiles.on("tileerror", function () {
        if (note) note.hidden = false;
        if (!box.classList.contains("plain")) { box.classList.add("plain"); grid(map, bounds); }
      });
      tiles.addTo(map);
    } else {
      box.classList.add("plain");
      grid(map, bounds);
    }

    function draw() {
      markers.clearLayers();
      points(list).forEach(function (p) {
        var colour = COLOURS[p.worst] || COLOURS.ok;
        L.circleMarker([p.lat, p.lon], {
          radius: 10, color: "#111", weight: 2, fillColor: colour, fillOpacity: 0.95,
          className: "marker marker-" + p.worst,
        }).bindTooltip(p.name).addTo(markers);
      });
      box.setAttribute("data-markers", String(markers.getLayers().length));
    }
    draw();
    list.addEventListener("htmx:sseMessage", draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
