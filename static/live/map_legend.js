/* The live map's colours (cameras by state, zones by kind) and the legend that names them,
 * a Leaflet control of its own.
 */
(function () {
  "use strict";

  const ZONE_COLOURS = {
    entry: "#1b873f", exit: "#c2410c", parking: "#2563eb",
    restricted: "#b00020", detection: "#7c3aed", other: "#6b7280",
  };
  const CAMERA_COLOURS = {
    online: "#1b873f", offline: "#6b7280", maintenance: "#d97706", inactive: "#1f2937",
  };

  /** Add the legend to `map`, at the bottom left. */
  function attach(map) {
    const legend = L.control({ position: "bottomleft" });
    legend.onAdd = () => {
      const box = L.DomUtil.create("div", "legend");
      const rows = [
        ...Object.entries(CAMERA_COLOURS).map(([name, colour]) => [name, colour, "dot"]),
        ...Object.entries(ZONE_COLOURS).map(([name, colour]) => [`${name} zone`, colour, "area"]),
      ];
      for (const [name, colour, shape] of rows) {
        const row = document.createElement("div");
        row.className = "legend-row";
        const swatch = document.createElement("span");
        swatch.className = `swatch ${shape}`;
        swatch.style.background = colour;
        row.append(swatch, document.createTextNode(name));
        box.appendChild(row);
      }
      return box;
    };
    legend.addTo(map);
  }

  window.liveMapLegend = { ZONE_COLOURS, CAMERA_COLOURS, attach };
})();
