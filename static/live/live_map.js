/* The live map: cameras and zones from the REST API, plate reads from /ws/events/.
 *
 * On every (re)connect the list is completed from GET /api/events/: the latest reads the
 * first time, then everything received after the newest read already shown
 * (`received_after`, since late batches carry old capture times), so a dropped connection
 * leaves no gap. Reconnects back off exponentially (1 s doubling to 30 s, with jitter).
 * Everything shown is built with textContent: plate text comes from devices.
 *
 * The Plate box searches the whole database (GET /api/events/?q=, OCR-tolerant: IXBX88
 * finds 1XBX88; and ?plate_prefix= for a plate typed so far), debounced; while a search is
 * on, the list holds its results and only those
 * new live reads whose plate contains the text after the same folding of OCR-confusable
 * characters (the server's groups, from the page's config). On PostgreSQL the server also
 * finds plates one character off; a live read like that shows up at the next search.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("live-config").textContent);
  const MAX_READS = 200;
  const PING_EVERY_MS = 25000;
  const PONG_WITHIN_MS = 10000;
  const CATCH_UP_MARGIN_MS = 5000; // received_at is set before commit: look a little earlier
  const { ZONE_COLOURS, CAMERA_COLOURS } = window.liveMapLegend; // static/live/map_legend.js

  const state = {
    cameras: new Map(), // id -> camera (API shape)
    markers: new Map(), // id -> L.CircleMarker
    reads: new Map(), // event id -> {event, row}
    lastReceivedAt: 0, // ms; newest received_at shown
    socket: null,
    attempts: 0,
    connectedOnce: false,
    cameraFilter: "",
    plateFilter: "", // the Plate box, folded (see plateKey); "" when no search is on
    searchSeq: 0, // answers to an older search are dropped
    pingTimer: null,
    pongTimer: null,
  };
  window.liveMap = state; // for debugging in the console and for the browser test
  const { element, confidenceText } = window.liveReadDetail; // static/live/read_detail.js

  const list = document.getElementById("reads");
  const empty = document.getElementById("reads-empty");
  const connection = document.getElementById("connection");

  // --- Map ---------------------------------------------------------------------------------
  const map = L.map("map", { zoomControl: true }).setView([20, 0], 2);
  window.liveMapTiles.attach(map, config); // static/live/map_tiles.js
  window.liveMapLegend.attach(map);

  async function getJson(url) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (response.status === 401 || response.status === 403) {
      window.location.href = "/login/?next=/";
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  /** Every item of a paginated list (page-number or cursor), up to maxPages pages. */
  async function getAll(url, maxPages) {
    const items = [];
    let next = url;
    for (let page = 0; next && page < maxPages; page++) {
      const body = await getJson(next);
      if (Array.isArray(body)) return items.concat(body);
      items.push(...body.results);
      next = body.next;
    }
    return items;
  }

  /** A tooltip's content as text: Leaflet would parse a string as HTML. */
  function textLabel(text) {
    const label = document.createElement("span");
    label.textContent = text;
    return label;
  }

  function cameraIdOf(event) {
    return event.camera;
  }

  function cameraState(camera) {
    if (camera.status && camera.status !== "active") return camera.status;
    if (!camera.last_seen_at) return "offline";
    const limit = (config.offlineAfter[camera.id] || config.defaultOfflineAfter) * 1000;
    return Date.now() - Date.parse(camera.last_seen_at) > limit ? "offline" : "online";
  }

  function paintCamera(camera) {
    const marker = state.markers.get(camera.id);
    if (!marker) return;
    const status = cameraState(camera);
    marker.setStyle({ color: "#fff", fillColor: CAMERA_COLOURS[status] || "#6b7280" });
    marker.setTooltipContent(textLabel(`${camera.name} (${status})`));
    const element = marker.getElement();
    if (element) element.dataset.status = status;
  }

  function flashCamera(cameraId) {
    const marker = state.markers.get(cameraId);
    const element = marker && marker.getElement();
    if (!element) return;
    element.classList.remove("flash");
    void element.getBBox(); // restart the animation
    element.classList.add("flash");
    element.dataset.flashedAt = String(Date.now());
    setTimeout(() => element.classList.remove("flash"), 1500);
  }

  async function loadCameras() {
    const cameras = await getAll(`${config.api.cameras}?page_size=500`, 20);
    const select = document.getElementById("filter-camera");
    const bounds = [];
    for (const camera of cameras) {
      state.cameras.set(camera.id, camera);
      const option = document.createElement("option");
      option.value = camera.id;
      option.textContent = camera.name;
      select.appendChild(option);
      if (camera.latitude === null || camera.longitude === null) continue;
      const marker = L.circleMarker([camera.latitude, camera.longitude], {
        radius: 9, weight: 2, fillOpacity: 0.95, className: `camera-marker camera-${camera.id}`,
      }).bindTooltip(textLabel(camera.name)).addTo(map);
      marker.on("click", () => {
        select.value = String(camera.id);
        select.dispatchEvent(new Event("change"));
      });
      state.markers.set(camera.id, marker);
      marker.getElement().dataset.camera = String(camera.id);
      paintCamera(camera);
      bounds.push([camera.latitude, camera.longitude]);
    }
    return bounds;
  }

  async function loadZones() {
    let zones = [];
    try {
      zones = await getAll(`${config.api.zones}?page_size=500`, 20);
    } catch (error) {
      console.warn("zones not available", error);
    }
    const bounds = [];
    for (const zone of zones) {
      const colour = ZONE_COLOURS[zone.kind] || ZONE_COLOURS.other;
      const layer = L.geoJSON(zone.geometry, {
        style: {
          color: colour, weight: 2, fillOpacity: 0.2,
          dashArray: zone.enabled === false ? "4 4" : null,
          className: `zone zone-${zone.kind}`,
        },
      }).bindTooltip(textLabel(`${zone.name} (${zone.kind})`)).addTo(map);
      const layerBounds = layer.getBounds();
      if (layerBounds.isValid()) bounds.push(layerBounds.getSouthWest(), layerBounds.getNorthEast());
    }
    return bounds;
  }

  // --- Reads list --------------------------------------------------------------------------
  const FOLD = new Map();
  for (const group of config.plateConfusionGroups || []) {
    for (const char of group) FOLD.set(char, group[0]);
  }

  /** What the server searches by: letters and digits, OCR-confusable ones folded. */
  function plateKey(text) {
    return Array.from((text || "").toUpperCase().replace(/[^A-Z0-9]/g, ""))
      .map((char) => FOLD.get(char) || char).join("");
  }

  function timeText(iso) {
    const date = new Date(iso);
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
  }

  function cameraName(event) {
    const camera = state.cameras.get(cameraIdOf(event));
    return camera ? camera.name : event.camera_slug;
  }

  function openDetail(id) {
    window.liveReadDetail.open(`${config.api.events}${id}/`, { getJson, cameraName });
  }

  function buildRow(event) {
    const row = element("li", "read");
    row.tabIndex = 0;
    row.dataset.id = event.id;
    row.dataset.plate = event.plate;
    row.dataset.camera = String(cameraIdOf(event));
    if (event.plate_image_url) {
      const image = element("img");
      image.src = event.plate_image_url;
      image.alt = `Plate ${event.plate}`;
      image.loading = "lazy";
      row.appendChild(image);
    } else {
      row.appendChild(element("span", "no-image"));
    }
    row.appendChild(element("span", "plate", event.plate));
    row.appendChild(element("span", "confidence", confidenceText(event.confidence)));
    row.appendChild(element("span", "meta", `${timeText(event.captured_at)} · ${cameraName(event)}`));
    row.addEventListener("click", () => openDetail(event.id));
    row.addEventListener("keydown", (key) => { if (key.key === "Enter") openDetail(event.id); });
    return row;
  }

  function visible(event) {
    if (state.cameraFilter && String(cameraIdOf(event)) !== state.cameraFilter) return false;
    return !state.plateFilter || plateKey(event.plate).includes(state.plateFilter);
  }

  function emptyShown() {
    empty.textContent = state.plateFilter ? "No reads match this plate." : "No reads yet.";
    empty.hidden = list.querySelector(".read:not([hidden])") !== null;
  }

  function noteReceived(event) {
    const received = Date.parse(event.received_at);
    if (received > state.lastReceivedAt) state.lastReceivedAt = received;
  }

  /** Add or replace a read; new ones go first (prepend) or last (backfill). */
  function showRead(event, { prepend, fresh }) {
    noteReceived(event);
    const known = state.reads.get(event.id);
    const row = buildRow(event);
    row.hidden = !visible(event);
    if (known) {
      known.row.replaceWith(row);
    } else if (prepend) {
      list.prepend(row);
    } else {
      list.appendChild(row);
    }
    state.reads.set(event.id, { event, row });
    if (fresh) row.classList.add("fresh");
    while (list.children.length > MAX_READS) {
      const last = list.lastElementChild;
      state.reads.delete(last.dataset.id);
      last.remove();
    }
    emptyShown();
  }

  function readArrived(event) {
    // During a search, a read that does not match stays off the list (it would push the
    // search's results out); its camera still flashes.
    if (visible(event) || !state.plateFilter) showRead(event, { prepend: true, fresh: true });
    const camera = state.cameras.get(cameraIdOf(event));
    if (camera) {
      camera.last_seen_at = new Date().toISOString();
      paintCamera(camera);
    }
    flashCamera(cameraIdOf(event));
  }

  function eventsUrl(params) {
    const query = new URLSearchParams(params);
    if (state.cameraFilter) query.set("camera", state.cameraFilter);
    return `${config.api.events}?${query}`;
  }

  /** The latest reads, or those a plate search finds: the API's `q` (OCR-tolerant, whole
   * plate) and `plate_prefix` (the plate typed so far), merged newest first. */
  async function latestReads() {
    if (!state.plateFilter) return getAll(eventsUrl({ page_size: 50 }), 1);
    const text = document.getElementById("filter-plate").value.trim();
    const found = await Promise.all([
      getAll(eventsUrl({ q: text, page_size: 50 }), 1),
      getAll(eventsUrl({ plate_prefix: text, page_size: 50 }), 1),
    ]);
    const byId = new Map(found.flat().map((event) => [event.id, event]));
    return Array.from(byId.values())
      .sort((a, b) => Date.parse(b.captured_at) - Date.parse(a.captured_at))
      .slice(0, 50);
  }

  async function backfill() {
    const seq = state.searchSeq;
    const events = await latestReads();
    if (seq !== state.searchSeq) return; // the Plate box changed meanwhile
    for (const event of events) {
      if (!state.reads.has(event.id)) showRead(event, { prepend: false, fresh: false });
    }
    emptyShown();
  }

  async function catchUp() {
    const since = new Date(state.lastReceivedAt - CATCH_UP_MARGIN_MS).toISOString();
    const events = await getAll(eventsUrl({ received_after: since, page_size: 200 }), 10);
    const missed = events.filter((event) => !state.reads.has(event.id));
    missed.sort((a, b) => Date.parse(a.captured_at) - Date.parse(b.captured_at));
    for (const event of missed) readArrived(event);
  }

  // --- Live stream -------------------------------------------------------------------------
  function setConnection(stateName, text) {
    connection.dataset.state = stateName;
    connection.textContent = text;
  }

  const handlers = {
    "event.created": (message) => readArrived(message.event),
    "event.updated": (message) => {
      if (state.reads.has(message.event.id)) {
        showRead(message.event, { prepend: false, fresh: true });
      } else {
        readArrived(message.event);
      }
    },
    pong: () => {},
    filter: () => {},
    error: (message) => console.warn("live stream error", message),
  };
  // Other kinds of frames (e.g. static/live/live_hits.js adds `hit`) register here.
  state.handlers = handlers;

  function startPing(socket) {
    stopPing();
    state.pingTimer = setInterval(() => {
      socket.send(JSON.stringify({ type: "ping" }));
      state.pongTimer = setTimeout(() => socket.close(), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  function stopPing() {
    clearInterval(state.pingTimer);
    clearTimeout(state.pongTimer);
  }

  function streamUrl() {
    const url = new URL(config.stream, window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    if (state.cameraFilter) url.searchParams.set("cameras", state.cameraFilter);
    return url.toString();
  }

  function connect() {
    setConnection(state.attempts ? "reconnecting" : "connecting",
      state.attempts ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(streamUrl());
    state.socket = socket;
    socket.onopen = async () => {
      state.attempts = 0;
      startPing(socket);
      try {
        // Missed reads after a drop; the latest ones on the first connect (or when none
        // was shown yet, as there is no server time to catch up from).
        if (state.connectedOnce && state.lastReceivedAt) await catchUp();
        else await backfill();
        state.connectedOnce = true;
        setConnection("live", "Live");
        document.dispatchEvent(new CustomEvent("livemap:connected"));
      } catch (error) {
        console.warn("could not load reads", error);
        socket.close();
      }
    };
    socket.onmessage = (message) => {
      clearTimeout(state.pongTimer);
      let body;
      try {
        body = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      const handler = handlers[body.type];
      if (handler) handler(body);
    };
    socket.onclose = (closed) => {
      stopPing();
      if (state.socket !== socket) return; // replaced on purpose (filter change)
      if (closed.code === 4401) {
        setConnection("refused", "Signed out");
        window.location.href = "/login/?next=/";
        return;
      }
      if (closed.code === 4403) {
        setConnection("refused", "Not allowed to see reads");
        return;
      }
      // 1012: the server's channel layer failed (reads may be missing: reconnecting catches
      // up); 1013: it cannot serve for now. Both are short: retry within seconds, not 30 s.
      const cap = closed.code === 1012 || closed.code === 1013 ? 5000 : 30000;
      const delay = Math.min(cap, 1000 * 2 ** state.attempts) * (0.75 + Math.random() / 2);
      state.attempts += 1;
      setConnection("reconnecting", `Offline, retrying in ${Math.ceil(delay / 1000)} s`);
      setTimeout(connect, delay);
    };
  }

  // --- Filters -----------------------------------------------------------------------------
  document.getElementById("filter-camera").addEventListener("change", (change) => {
    state.cameraFilter = change.target.value;
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify({
        type: "filter", cameras: state.cameraFilter ? [Number(state.cameraFilter)] : [],
      }));
    }
    list.replaceChildren();
    state.reads.clear();
    backfill().catch((error) => console.warn("could not load reads", error));
    document.dispatchEvent(new CustomEvent("livemap:camera"));
  });

  let searchTimer = null;
  document.getElementById("filter-plate").addEventListener("input", (input) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const key = plateKey(input.target.value);
      if (key === state.plateFilter) return;
      state.plateFilter = key;
      state.searchSeq += 1;
      list.replaceChildren();
      state.reads.clear();
      backfill().catch((error) => console.warn("could not search reads", error));
    }, 300);
  });
  document.getElementById("filters").addEventListener("submit", (submit) => submit.preventDefault());

  // --- Start -------------------------------------------------------------------------------
  Promise.all([loadCameras(), loadZones()])
    .then(([cameraBounds, zoneBounds]) => {
      const bounds = cameraBounds.concat(zoneBounds);
      if (bounds.length) map.fitBounds(L.latLngBounds(bounds).pad(0.2), { maxZoom: 17 });
    })
    .catch((error) => console.warn("could not load the map", error))
    .finally(connect);
  setInterval(() => state.cameras.forEach(paintCamera), 30000);
})();
