/* The dashboard: one call of GET /api/events/stats/ (stack=camera) per window, drawn with
 * Chart.js. The API lists every bucket of the window (0 where there were no reads), so the
 * chart has no gaps; it also gives each camera's state by the live map's rule. Colours come
 * from CSS variables (dashboard.css), so the chart follows the light or dark scheme.
 * Everything shown is built with textContent: plates and camera names come from outside.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const REFRESH_MS = 60000;
  const PRESETS = { "24h": [24, "hour"], "7d": [24 * 7, "hour"], "30d": [24 * 30, "day"] };
  const SERIES_COLOURS = 8;

  const form = document.getElementById("window");
  const preset = document.getElementById("window-preset");
  const since = document.getElementById("window-since");
  const until = document.getElementById("window-until");
  const interval = document.getElementById("window-interval");
  const cameraSelect = document.getElementById("window-camera");
  const errorBox = document.getElementById("dashboard-error");
  const canvas = document.getElementById("reads-chart");
  const state = { chart: null, body: null, timer: null };
  window.dashboard = state; // for the console and the browser test

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  /** The query of the chosen window: a preset ends now; a custom one is the inputs'. */
  function query() {
    const params = new URLSearchParams({ stack: "camera", top: "10" });
    let hours;
    if (preset.value === "custom") {
      if (since.value) params.set("since", new Date(since.value).toISOString());
      if (until.value) params.set("until", new Date(until.value).toISOString());
      const end = until.value ? new Date(until.value) : new Date();
      hours = since.value ? (end - new Date(since.value)) / 3600000 : 24;
    } else {
      hours = PRESETS[preset.value][0];
      const now = new Date();
      params.set("since", new Date(now - hours * 3600000).toISOString());
      params.set("until", now.toISOString());
    }
    params.set("interval", interval.value || (hours > 24 * 7 ? "day" : "hour"));
    if (cameraSelect.value) params.set("camera", cameraSelect.value);
    return params;
  }

  /** Asks for the window's figures. Only the newest question's answer is drawn (a slow 30-day
   * answer must not replace a newer 24-hour one), and a window that ends now is asked again
   * every minute whatever the answer was: an outage's 503 or a dropped connection does not
   * freeze a dashboard on a wall screen. */
  async function load() {
    clearTimeout(state.timer);
    const asked = (state.asked = (state.asked || 0) + 1);
    try {
      const response = await fetch(`${config.api.stats}?${query()}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (asked !== state.asked) return;
      if (response.status === 401) {
        window.location.href = `/login/?next=${encodeURIComponent(window.location.pathname)}`;
        return;
      }
      const body = await response.json().catch(() => ({}));
      if (asked !== state.asked) return;
      if (!response.ok) {
        showError(body);
        return;
      }
      errorBox.hidden = true;
      state.body = body;
      draw(body);
    } catch (error) {
      if (asked === state.asked) showError({ detail: `The statistics could not be loaded (${error.message}).` });
    } finally {
      if (asked === state.asked && preset.value !== "custom") state.timer = setTimeout(load, REFRESH_MS);
    }
  }

  /** The API's error shape: {detail, errors: {field: [messages]}}. */
  function showError(body) {
    const errors = body.errors || {};
    const lines = Object.entries(errors).map(([field, messages]) => `${field}: ${[].concat(messages).join(" ")}`);
    errorBox.textContent = lines.join("; ") || body.detail || "The statistics could not be loaded.";
    errorBox.hidden = false;
  }

  function bucketLabel(start, body) {
    const options = { timeZone: body.time_zone, day: "numeric", month: "short" };
    if (body.interval === "hour") Object.assign(options, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    else options.weekday = "short";
    return new Intl.DateTimeFormat(undefined, options).format(new Date(start));
  }

  function draw(body) {
    const names = new Map(body.cameras.map((c) => [c.camera, c.camera_name || c.camera_slug]));
    drawChart(body, names);
    drawFigures(body);
    drawPlates(body.top_plates);
    drawCameras(body.cameras);
    fillCameraSelect(body.cameras);
    const shown = document.getElementById("window-shown");
    shown.textContent = `${bucketLabel(body.since, { ...body, interval: "hour" })} – ${bucketLabel(body.until, { ...body, interval: "hour" })} (${body.time_zone})`;
    document.getElementById("reads-title").textContent = `Reads per ${body.interval}, by camera`;
  }

  function drawChart(body, names) {
    const datasets = body.series.map((series, index) => {
      const fill = series.camera === null ? colour("--series-other") : colour(`--series-${(index % SERIES_COLOURS) + 1}`);
      return {
        label: series.camera === null ? "Other cameras" : names.get(series.camera) || `Camera ${series.camera}`,
        data: series.counts,
        backgroundColor: fill,
        borderColor: fill,
        stack: "reads",
      };
    });
    if (!datasets.length) {
      // No reads at all: one all-zero series, so the axis and the empty hours still show.
      datasets.push({ label: "Reads", data: body.buckets.map(() => 0), backgroundColor: colour("--series-other") });
    }
    const labels = body.buckets.map((bucket) => bucketLabel(bucket.start, body));
    const text = colour("--fg");
    const grid = colour("--line-soft");
    const options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { color: text } } },
      scales: {
        x: { stacked: true, ticks: { color: text, autoSkip: true, maxRotation: 0 }, grid: { color: grid } },
        y: { stacked: true, beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid } },
      },
    };
    if (state.chart) {
      state.chart.data = { labels, datasets };
      state.chart.options = options;
      state.chart.update();
    } else {
      state.chart = new Chart(canvas, { type: "bar", data: { labels, datasets }, options });
    }
  }

  function drawFigures(body) {
    const number = new Intl.NumberFormat();
    document.getElementById("figure-total").textContent = number.format(body.total);
    document.getElementById("figure-distinct").textContent = number.format(body.distinct_plates);
    const online = body.cameras.filter((c) => c.state === "online").length;
    document.getElementById("figure-online").textContent = `${online} / ${body.cameras.length}`;
    document.getElementById("figure-confidence").textContent =
      body.average_confidence === null ? "–" : `${Math.round(body.average_confidence * 100)} %`;
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function drawPlates(plates) {
    const tbody = document.querySelector("#top-plates tbody");
    tbody.replaceChildren();
    for (const plate of plates) {
      const row = tbody.insertRow();
      cell(row, plate.plate, "plate");
      cell(row, new Intl.NumberFormat().format(plate.count), "number");
    }
    document.getElementById("top-plates-empty").hidden = plates.length > 0;
  }

  function ago(iso) {
    if (!iso) return "never";
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    const [value, unit] =
      seconds < 90 ? [seconds, "second"] : seconds < 5400 ? [seconds / 60, "minute"]
        : seconds < 129600 ? [seconds / 3600, "hour"] : [seconds / 86400, "day"];
    return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(-Math.round(value), unit);
  }

  function drawCameras(cameras) {
    const tbody = document.querySelector("#cameras tbody");
    tbody.replaceChildren();
    for (const camera of cameras) {
      const row = tbody.insertRow();
      row.dataset.camera = camera.camera_slug;
      cell(row, camera.camera_name || camera.camera_slug);
      cell(row, new Intl.NumberFormat().format(camera.count), "number");
      cell(row, ago(camera.last_seen_at)).title = camera.last_seen_at || "";
      const badge = document.createElement("span");
      badge.className = "state";
      badge.dataset.state = camera.state;
      badge.textContent = camera.state;
      row.insertCell().append(badge);
    }
    document.getElementById("cameras-empty").hidden = cameras.length > 0;
  }

  function fillCameraSelect(cameras) {
    if (cameraSelect.value || cameraSelect.options.length > 1) return; // keep the user's list
    for (const camera of [...cameras].sort((a, b) => (a.camera_name || "").localeCompare(b.camera_name || ""))) {
      cameraSelect.add(new Option(camera.camera_name || camera.camera_slug, camera.camera_slug));
    }
  }

  preset.addEventListener("change", () => {
    const custom = preset.value === "custom";
    for (const label of form.querySelectorAll("label.custom")) label.hidden = !custom;
    if (!custom) load();
  });
  for (const select of [interval, cameraSelect]) select.addEventListener("change", () => load());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  // The scheme can change while the page is open: redraw with the other colours.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (state.body) drawChart(state.body, new Map(state.body.cameras.map((c) => [c.camera, c.camera_name])));
  });
  load();
})();
