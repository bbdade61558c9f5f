/* The live map's background: the configured tile server, or a plain grid drawn in the page
 * when there is none or its tiles cannot load (offline, blocked). The switch happens once,
 * after a few failed tiles and none loaded, with one labelled notice on the map instead of
 * a failed request per tile for as long as the page is open.
 */
(function () {
  "use strict";

  const FAILURES_BEFORE_SWITCH = 4;

  /** Tiles drawn on a canvas in the page's own colours (dark mode too): no network. */
  const PlainTiles = L.GridLayer.extend({
    createTile() {
      const tile = document.createElement("canvas");
      const size = this.getTileSize();
      tile.width = size.x;
      tile.height = size.y;
      const style = getComputedStyle(document.documentElement);
      const context = tile.getContext("2d");
      context.fillStyle = style.getPropertyValue("--map-bg").trim() || "#e8eef3";
      context.fillRect(0, 0, size.x, size.y);
      context.strokeStyle = style.getPropertyValue("--line").trim() || "#ccd3dc";
      context.lineWidth = 1;
      context.strokeRect(0.5, 0.5, size.x, size.y);
      return tile;
    },
  });

  function showPlain(map, text) {
    new PlainTiles({ className: "plain-tiles", maxZoom: 19 }).addTo(map);
    map.getContainer().dataset.tiles = text ? "plain" : "none";
    if (!text) return;
    const label = L.control({ position: "topright" });
    label.onAdd = () => {
      const box = L.DomUtil.create("div", "tiles-notice notice");
      box.setAttribute("role", "status");
      box.textContent = text;
      return box;
    };
    label.addTo(map);
  }

  /** Put the background under `map`; its data-tiles says which: remote, plain, none. */
  function attach(map, config) {
    if (!config.tileUrl) { // switched off on purpose: the grid, without a notice
      showPlain(map, null);
      return;
    }
    const layer = L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 });
    let failures = 0;
    let loaded = 0;
    layer.on("tileload", () => { loaded += 1; });
    layer.on("tileerror", () => {
      failures += 1;
      if (loaded === 0 && failures === FAILURES_BEFORE_SWITCH) {
        map.removeLayer(layer); // no further tile requests
        console.warn(`map tiles from ${config.tileUrl} do not load; drawing a plain background`);
        showPlain(map, "Map tiles unavailable: offline or blocked");
      }
    });
    layer.addTo(map);
    map.getContainer().dataset.tiles = "remote";
  }

  window.liveMapTiles = { attach };
})();
