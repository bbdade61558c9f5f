/* Admin map widgets (cameras/widgets.py): each map edits a plain form input, which stays the
 * value the form posts, so the server validates it and shows its errors on the field.
 *
 * - textarea[data-geo-map="polygon"]: a zone's GeoJSON, drawn and edited with Leaflet-Geoman
 *   (polygon and rectangle tools; several shapes make a MultiPolygon). Typing in the textarea
 *   redraws the map. Other zones of the camera are drawn faintly: those of the other inline
 *   forms on the page, and on a zone's own page the camera's zones from /api/zones/.
 * - input[data-location-map]: a camera's latitude; click the map or drag the marker to set
 *   latitude and longitude, typing in either input moves the marker.
 */
(function () {
  "use strict";

  const FAINT = { className: "context-zone", color: "#555", weight: 1, fillOpacity: 0.08, dashArray: "3 3", interactive: false, pmIgnore: true };

  function baseMap(input, container) {
    const map = L.map(container).setView([20, 0], 2);
    if (input.dataset.tileUrl) {
      L.tileLayer(input.dataset.tileUrl, { attribution: input.dataset.tileAttribution, maxZoom: 19 }).addTo(map);
    }
    // Fieldsets and inlines may be collapsed or added later: redraw when the size changes.
    new ResizeObserver(() => map.invalidateSize()).observe(container);
    return map;
  }

  function mapBelow(input, note) {
    // The admin lays a field's label and widget out in a flex row: start a new line for the map.
    const wrap = document.createElement("div");
    wrap.className = "admin-map-wrap";
    const hint = document.createElement("p");
    hint.className = "admin-map-note";
    hint.textContent = note;
    const container = document.createElement("div");
    container.className = "admin-map";
    container.id = `${input.id}_map`;
    wrap.append(hint, container);
    input.insertAdjacentElement("afterend", wrap);
    if (getComputedStyle(wrap.parentElement).display === "flex") wrap.parentElement.style.flexWrap = "wrap";
    return { container, hint };
  }

  function parseGeometry(text) {
    if (!text.trim() || text.trim() === "null") return null; // an empty JSONField shows "null"
    const value = JSON.parse(text);
    if (!value || (value.type !== "Polygon" && value.type !== "MultiPolygon")) throw new Error("not a polygon");
    return value;
  }

  function cameraLocation() {
    const lat = document.getElementById("id_latitude");
    const lon = document.getElementById("id_longitude");
    if (!lat || !lon || lat.value === "" || lon.value === "") return null;
    const point = [Number(lat.value), Number(lon.value)];
    return point.every(Number.isFinite) ? point : null;
  }

  // --- Zone polygons -----------------------------------------------------------------------
  function initPolygon(textarea) {
    if (textarea.dataset.mapReady || textarea.id.includes("__prefix__")) return;
    textarea.dataset.mapReady = "1";
    const { container, hint } = mapBelow(textarea,
      "Draw with the polygon or rectangle tool, drag vertices to edit; or type GeoJSON above.");
    const map = baseMap(textarea, container);
    textarea.leafletMap = map; // for the browser test and the console
    map.pm.addControls({
      position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
      drawCircle: false, drawText: false, cutPolygon: false, rotateMode: false,
    });
    map.pm.setGlobalOptions({ allowSelfIntersection: false });
    const editable = L.featureGroup().addTo(map);
    const context = L.featureGroup().addTo(map);

    function write() {
      const rings = [];
      editable.eachLayer((layer) => {
        const geometry = layer.toGeoJSON(7).geometry;
        if (geometry.type === "Polygon") rings.push(geometry.coordinates);
        if (geometry.type === "MultiPolygon") rings.push(...geometry.coordinates);
      });
      let value = "";
      if (rings.length === 1) value = JSON.stringify({ type: "Polygon", coordinates: rings[0] });
      if (rings.length > 1) value = JSON.stringify({ type: "MultiPolygon", coordinates: rings });
      textarea.value = value;
      textarea.dispatchEvent(new Event("change", { bubbles: true }));
      hint.classList.remove("invalid");
    }

    function watch(layer) {
      layer.on("pm:edit pm:update pm:dragend", write);
    }

    function read(fit) {
      let geometry;
      try {
        geometry = parseGeometry(textarea.value);
      } catch (error) {
        hint.textContent = "The text is not a GeoJSON Polygon or MultiPolygon; the map shows the last valid shape.";
        hint.classList.add("invalid");
        return;
      }
      hint.classList.remove("invalid");
      editable.clearLayers();
      if (geometry) {
        try {
          L.geoJSON(geometry).eachLayer((layer) => { editable.addLayer(layer); watch(layer); });
        } catch (error) {
          hint.textContent = "The coordinates cannot be drawn.";
          hint.classList.add("invalid");
        }
      }
      if (fit) fitAll();
    }

    function fitAll() {
      const bounds = L.latLngBounds([]);
      if (editable.getLayers().length) bounds.extend(editable.getBounds());
      else if (context.getLayers().length) bounds.extend(context.getBounds());
      const camera = cameraLocation();
      if (camera) bounds.extend(camera);
      if (bounds.isValid()) map.fitBounds(bounds.pad(0.3), { maxZoom: 18 });
    }

    map.on("pm:create", (created) => {
      if (!created.layer.toGeoJSON) return;
      editable.addLayer(created.layer);
      watch(created.layer);
      write();
    });
    map.on("pm:remove", (removed) => {
      editable.removeLayer(removed.layer);
      write();
    });
    textarea.addEventListener("input", () => read(false));

    // Context: the camera's position and its other zones, faintly.
    const camera = cameraLocation();
    if (camera) L.circleMarker(camera, { radius: 6, color: "#20303f", pmIgnore: true }).addTo(context);
    document.querySelectorAll('textarea[data-geo-map="polygon"]').forEach((other) => {
      if (other === textarea || other.id.includes("__prefix__")) return;
      try {
        const geometry = parseGeometry(other.value);
        if (geometry) L.geoJSON(geometry, { style: FAINT, pmIgnore: true }).addTo(context);
      } catch (error) { /* the other field shows its own problem */ }
    });
    const cameraSelect = document.getElementById("id_camera");
    const here = window.location.pathname.match(/\/zone\/(\d+)\/change\//);
    const cameraZones = L.featureGroup().addTo(context);
    function loadCameraZones() {
      cameraZones.clearLayers();
      if (!cameraSelect.value) return;
      fetch(`/api/zones/?camera=${encodeURIComponent(cameraSelect.value)}&page_size=500`,
        { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : { results: [] }))
        .then((body) => {
          for (const zone of body.results || []) {
            if (here && String(zone.id) === here[1]) continue;
            L.geoJSON(zone.geometry, { style: FAINT, pmIgnore: true })
              .bindTooltip(Object.assign(document.createElement("span"), { textContent: zone.name }))
              .addTo(cameraZones);
          }
          if (!editable.getLayers().length) fitAll();
        })
        .catch(() => {});
    }
    if (textarea.id === "id_geometry" && cameraSelect) {
      cameraSelect.addEventListener("change", loadCameraZones);
      loadCameraZones();
    }
    read(true);
  }

  // --- Camera location ---------------------------------------------------------------------
  function initLocation(latitude) {
    if (latitude.dataset.mapReady) return;
    latitude.dataset.mapReady = "1";
    const names = JSON.parse(latitude.dataset.locationMap);
    const longitude = latitude.form.elements.namedItem(names.longitude);
    if (!longitude) return;
    const { container } = mapBelow(latitude, "Click the map or drag the marker to set the location.");
    const map = baseMap(latitude, container);
    latitude.leafletMap = map;
    let marker = null;

    function current() {
      if (latitude.value === "" || longitude.value === "") return null;
      const point = L.latLng(Number(latitude.value), Number(longitude.value));
      return Number.isFinite(point.lat) && Number.isFinite(point.lng) ? point : null;
    }

    function place(point) {
      if (!marker) {
        marker = L.marker(point, { draggable: true }).addTo(map);
        marker.on("dragend", () => write(marker.getLatLng()));
      } else {
        marker.setLatLng(point);
      }
    }

    function write(point) {
      const wrapped = point.wrap();
      latitude.value = wrapped.lat.toFixed(6);
      longitude.value = wrapped.lng.toFixed(6);
      for (const input of [latitude, longitude]) input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    map.on("click", (clicked) => { place(clicked.latlng); write(clicked.latlng); });
    for (const input of [latitude, longitude]) {
      input.addEventListener("input", () => {
        const point = current();
        if (point) { place(point); map.panTo(point); }
      });
    }
    const start = current();
    if (start) { place(start); map.setView(start, 16); }
  }

  function initAll(root) {
    root.querySelectorAll('textarea[data-geo-map="polygon"]').forEach(initPolygon);
    root.querySelectorAll("input[data-location-map]").forEach(initLocation);
  }

  document.addEventListener("DOMContentLoaded", () => initAll(document));
  document.addEventListener("formset:added", (added) => initAll(added.target));
})();
