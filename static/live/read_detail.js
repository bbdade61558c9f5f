/* The live map's read detail (a dialog with both images, the read and the vehicle), and the
 * small DOM helpers the map's list shares with it. Everything is built with textContent:
 * plate text and names come from devices and operators.
 */
(function () {
  "use strict";

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function confidenceText(value) {
    return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
  }

  /** Open the dialog on the read at `url`; `getJson` fetches, `cameraName` names its camera. */
  async function open(url, { getJson, cameraName }) {
    const dialog = document.getElementById("read-detail");
    const body = document.getElementById("read-detail-body");
    body.replaceChildren(element("p", null, "Loading…"));
    if (!dialog.open) dialog.showModal();
    let event;
    try {
      event = await getJson(url);
    } catch (error) {
      body.replaceChildren(element("p", null, `Could not load the read: ${error.message}`));
      return;
    }
    const title = element("h2", "plate", event.plate);
    const nodes = [title];
    for (const [field, label] of [["frame_image_url", "Full image"], ["plate_image_url", "Plate crop"]]) {
      if (event[field]) {
        const image = element("img");
        image.src = event[field];
        image.alt = label;
        image.className = field.replace(/_/g, "-");
        nodes.push(image);
      }
    }
    const vehicle = [event.vehicle_color, event.vehicle_make, event.vehicle_model, event.vehicle_type]
      .filter(Boolean).join(" ");
    const fields = [
      ["Read as", event.plate_raw],
      ["Confidence", confidenceText(event.confidence)],
      ["Captured", new Date(event.captured_at).toLocaleString()],
      ["Received", new Date(event.received_at).toLocaleString()],
      ["Camera", cameraName(event)],
      ["Zone", event.zone_name],
      ["Vehicle", vehicle],
      ["Direction", event.direction],
      ["Speed", event.speed_kmh === null || event.speed_kmh === undefined ? "" : `${event.speed_kmh} km/h`],
      ["Country / region", [event.country, event.region].filter(Boolean).join(" / ")],
      ["Source", event.source],
    ];
    const details = element("dl");
    for (const [label, value] of fields) {
      if (value === "" || value === null || value === undefined) continue;
      details.appendChild(element("dt", null, label));
      details.appendChild(element("dd", null, String(value)));
    }
    nodes.push(details);
    body.replaceChildren(...nodes);
  }

  window.liveReadDetail = { open, element, confidenceText };
})();
