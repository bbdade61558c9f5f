/* Hits on the live map (only on the page of users who may view hits): a banner in the list's
 * colour and a short sound for each `hit` frame of /ws/events/, and the "Open hits" panel.
 *
 * The panel is loaded from GET /api/hits/?status=open (newest first, the camera filter's
 * camera) at every (re)connect of the stream, so hits raised during a drop are not lost, and
 * then fed by frames. A frame's `hit` has the API's shape. The sound is made with WebAudio
 * (no file); its mute is remembered in localStorage. Everything shown is built with
 * textContent: plates and descriptions come from devices and lists.
 */
(function () {
  "use strict";

  const live = window.liveMap; // static/live/live_map.js
  const config = JSON.parse(document.getElementById("live-config").textContent).kinds.hit;
  const TOASTS_SHOWN = 3;
  const TOAST_FOR_MS = 60000;
  const MUTED_KEY = "anpr.liveMap.hitSoundMuted";
  const CATEGORIES = {
    stolen_vehicle: "Stolen vehicle", stolen_plate: "Stolen plate", wanted: "Wanted",
    missing_person: "Missing person", staff: "Staff", visitor: "Visitor", permit: "Permit",
    other: "Other",
  };

  const list = document.getElementById("hits");
  const empty = document.getElementById("hits-empty");
  const count = document.getElementById("hits-count");
  const toasts = document.getElementById("hit-toasts");
  const soundButton = document.getElementById("hit-sound");
  const shown = new Map(); // hit id -> row
  const state = { beeps: 0, loadSeq: 0 };
  window.liveHits = state; // for the browser test

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** The hit on the operators' hits page: the one place that link is made. */
  function hitPage(hit) {
    return `${config.page}${encodeURIComponent(hit.id)}`;
  }

  function cameraName(hit) {
    const camera = live.cameras.get(hit.camera);
    return camera ? camera.name : `Camera ${hit.camera}`;
  }

  function timeText(iso) {
    const date = new Date(iso);
    return date.toDateString() === new Date().toDateString()
      ? date.toLocaleTimeString() : date.toLocaleString();
  }

  function listOf(hit) {
    return (hit.snapshot && hit.snapshot.watchlist) || { name: hit.watchlist_name, colour: "#d32f2f" };
  }

  /** #RRGGBB or a neutral grey (the list's colour is validated, but a frame is outside input). */
  function colourOf(hit) {
    const colour = listOf(hit).colour;
    return /^#[0-9a-fA-F]{6}$/.test(colour || "") ? colour : "#6b7280";
  }

  /** Black or white, whichever reads on the colour. */
  function inkOn(colour) {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
    return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
  }

  function plateText(hit) {
    const snapshot = hit.snapshot || {};
    return snapshot.candidate && snapshot.read_plate
      ? `${hit.plate} (candidate of ${snapshot.read_plate})` : hit.plate;
  }

  function entryText(hit) {
    const entry = (hit.snapshot && hit.snapshot.entry) || {};
    return [
      CATEGORIES[entry.category] || "", entry.description, entry.make, entry.colour,
      entry.reference && `ref. ${entry.reference}`,
    ].filter(Boolean).join(" · ");
  }

  // --- The panel ---------------------------------------------------------------------------
  function countShown() {
    count.textContent = String(shown.size);
    empty.hidden = shown.size > 0;
  }

  function buildRow(hit) {
    const row = element("li", "hit");
    row.dataset.id = hit.id;
    row.style.borderLeftColor = colourOf(hit);
    const link = element("a", "plate", plateText(hit));
    link.href = hitPage(hit);
    row.appendChild(link);
    row.appendChild(element("span", "list", listOf(hit).name));
    row.appendChild(element("span", "meta", `${timeText(hit.captured_at)} · ${cameraName(hit)}`));
    const details = entryText(hit);
    if (details) row.appendChild(element("span", "entry", details));
    return row;
  }

  function showHit(hit, { prepend }) {
    const row = buildRow(hit);
    const known = shown.get(hit.id);
    if (known) known.replaceWith(row);
    else if (prepend) list.prepend(row);
    else list.appendChild(row);
    shown.set(hit.id, row);
    while (list.children.length > config.openShown) {
      shown.delete(list.lastElementChild.dataset.id);
      list.lastElementChild.remove();
    }
    countShown();
  }

  async function loadOpen() {
    const seq = ++state.loadSeq;
    const query = new URLSearchParams({ status: "open", page_size: String(config.openShown) });
    if (live.cameraFilter) query.set("camera", live.cameraFilter);
    const response = await fetch(`${config.api}?${query}`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`open hits: HTTP ${response.status}`);
    const body = await response.json();
    if (seq !== state.loadSeq) return; // a newer load (the camera changed)
    list.replaceChildren();
    shown.clear();
    for (const hit of Array.isArray(body) ? body : body.results) showHit(hit, { prepend: false });
    countShown();
  }

  // --- The banner and the sound ------------------------------------------------------------
  function toast(hit) {
    const colour = colourOf(hit);
    const banner = element("div", "hit-toast");
    banner.dataset.id = hit.id;
    banner.style.background = colour;
    banner.style.color = inkOn(colour);
    const close = element("button", "close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", () => banner.remove());
    banner.appendChild(close);
    banner.appendChild(element("strong", "label", `Hit · ${listOf(hit).name}`));
    banner.appendChild(element("span", "plate", plateText(hit)));
    const details = entryText(hit);
    if (details) banner.appendChild(element("span", "entry", details));
    banner.appendChild(element("span", "meta", `${cameraName(hit)} · ${timeText(hit.captured_at)}`));
    const link = element("a", "open", "Open hit");
    link.href = hitPage(hit);
    link.style.color = "inherit";
    banner.appendChild(link);
    toasts.prepend(banner);
    while (toasts.children.length > TOASTS_SHOWN) toasts.lastElementChild.remove();
    setTimeout(() => banner.remove(), TOAST_FOR_MS);
  }

  let audio = null;
  function muted() {
    try {
      return window.localStorage.getItem(MUTED_KEY) === "1";
    } catch (error) {
      return false; // storage refused (private mode): sound on
    }
  }

  function showMuted() {
    const isMuted = muted();
    soundButton.setAttribute("aria-pressed", String(isMuted));
    soundButton.textContent = isMuted ? "Muted" : "Sound on";
    soundButton.dataset.muted = String(isMuted);
  }

  /** Two short tones; the browser lets a page play only after a click or key on it. */
  function beep() {
    if (muted()) return;
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    audio = audio || new Context();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const start = audio.currentTime;
    [[880, 0], [660, 0.18]].forEach(([frequency, offset]) => {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.16);
      tone.connect(gain).connect(audio.destination);
      tone.start(start + offset);
      tone.stop(start + offset + 0.17);
    });
    state.beeps += 1;
  }

  soundButton.addEventListener("click", () => {
    try {
      window.localStorage.setItem(MUTED_KEY, muted() ? "0" : "1");
    } catch (error) {
      console.warn("the mute setting cannot be remembered", error);
    }
    showMuted();
  });

  // --- Frames and reloads ------------------------------------------------------------------
  live.handlers.hit = (message) => {
    const hit = message.hit;
    if (!hit || !hit.id) return;
    if (hit.status === "open") showHit(hit, { prepend: true });
    toast(hit);
    beep();
  };
  const reload = () => loadOpen().catch((error) => console.warn("could not load hits", error));
  document.addEventListener("livemap:connected", reload);
  document.addEventListener("livemap:camera", reload);
  showMuted();
  countShown();
})();
