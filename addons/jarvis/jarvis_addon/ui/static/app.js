// Jarvis add-on UI. Every URL is relative to <base href>, which carries the ingress prefix.
"use strict";

const content = document.getElementById("content");

class NotThere extends Error {}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (response.status === 404) throw new NotThere(path);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || `${path}: HTTP ${response.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function fields(pairs) {
  return el("dl", {}, pairs.filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function empty(message) {
  return el("div", { class: "empty", "data-empty": "true" }, message);
}

function show(...nodes) {
  content.replaceChildren(...nodes);
  content.setAttribute("aria-busy", "false");
  document.body.dataset.ready = "true";
}

function list(body, key) {
  return Array.isArray(body) ? body : body[key] || [];
}

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? "") : date.toLocaleString();
}

// -- overview ------------------------------------------------------------------------------------

async function overview() {
  const [health, info, llm] = await Promise.all([
    getJson("api/v1/health"),
    getJson("api/v1/info"),
    getJson("api/v1/llm").catch(() => null),
  ]);
  const cards = [
    el("div", { class: "card", id: "addon-card" }, el("h3", {}, "Add-on"), fields([
      ["Version", health.version],
      ["Status", health.status],
      ["Uptime", `${Math.round(health.uptime_s)} s`],
      ["Host", info.hostname],
    ])),
    el("div", { class: "card", id: "mqtt-card" }, el("h3", {}, "MQTT"), fields([
      ["Connected", health.mqtt.connected ? "yes" : "no"],
      ["Broker", info.mqtt.host ? `${info.mqtt.host}:${info.mqtt.port}` : "none"],
      ["Reconnects", health.mqtt.reconnects],
    ])),
  ];
  if (llm) {
    cards.push(el("div", { class: "card", id: "llm-card" }, el("h3", {}, "Local model"), fields([
      ["Enabled", llm.enabled ? "yes" : "no"],
      ["Ready", llm.ready ? "yes" : "no"],
      ["Model", llm.model && (llm.model.name || llm.model.file)],
      ["Error", llm.error],
    ])));
  }
  cards.push(el("div", { class: "card", id: "routing-card" }, el("h3", {}, "Routing"),
    el("p", { class: "muted" }, "Cost, local share and latency per tier are Home Assistant sensors of the Jarvis router device; the wall-tablet and Grafana dashboards show them over time.")));
  show(el("div", { class: "grid" }, cards));
}

// -- printers ------------------------------------------------------------------------------------

async function command(printer, action, button) {
  button.disabled = true;
  try {
    const response = await fetch(`api/v1/printers/${encodeURIComponent(printer)}/command`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ command: action }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  } catch (err) {
    alert(`${action} failed: ${err.message}`);
  } finally {
    button.disabled = false;
    printers();
  }
}

async function printers() {
  let printerList;
  try {
    printerList = list(await getJson("api/v1/printers"), "printers");
  } catch (err) {
    if (err instanceof NotThere) return show(empty("No printers: printer support is not set up in this add-on yet."));
    throw err;
  }
  if (!printerList.length) return show(empty("No printers configured."));
  show(el("div", { class: "grid" }, printerList.map((p) => {
    // GET api/v1/printers: {id, name, type, state: the printer's last state payload or null}.
    const s = p.state && typeof p.state === "object" ? p.state : { state: p.state || "unknown" };
    const job = s.job || {};
    const progress = typeof job.progress === "number" ? job.progress : typeof s.progress === "number" ? s.progress : null;
    const temps = s.temperatures || {};
    const temp = (t) => (t && typeof t === "object" ? `${Math.round(t.actual)} / ${Math.round(t.target || 0)} °C` : t);
    const nozzle = temps.tool0 || temps.extruder;
    const actions = s.state === "printing" ? ["pause", "cancel"] : s.state === "paused" ? ["resume", "cancel"] : [];
    return el("div", { class: "card printer", "data-printer": p.id, "data-state": s.state },
      el("h3", {}, p.name || p.id),
      fields([["State", s.state], ["Job", job.filename || job.name || s.file], ["Nozzle", temp(nozzle)], ["Bed", temp(temps.bed || temps.heater_bed)]]),
      progress === null ? null : el("progress", { max: "100", value: String(progress) }),
      el("div", {}, actions.map((a) => el("button", { "data-action": a, onclick: (e) => command(p.id, a, e.target) }, a))));
  })));
}

// -- cameras ------------------------------------------------------------------------------------
// The live view polls the latest frame's number (api/v1/cv/cameras/<id>/live) and loads the frame
// only when it changed; the add-on draws the print region and, while the detector warns or pauses,
// the box with its kind and score on it. The timeline is the monitor's warning/failure events.

const LIVE_POLL_MS = 700;
const EVENTS_POLL_MS = 2000;

function verdictText(live) {
  if (!live) return "No frame yet: the monitor samples the camera while a job prints.";
  const what = live.kind ? ` - ${live.kind}` : "";
  return `frame ${live.frame} - ${live.level}${what} - score ${Number(live.score).toFixed(2)}`;
}

function timelineItems(events) {
  if (!events.length) return [el("li", { class: "muted", "data-empty-timeline": "true" }, "No warning or failure yet.")];
  return events.map((ev) => el("li", { class: ev.level, "data-level": ev.level, "data-kind": ev.kind || "" },
    el("time", {}, when(ev.time)), " ",
    el("strong", {}, ev.level), ` ${ev.kind || "failure"} - score ${Number(ev.score).toFixed(2)}`,
    ev.paused ? " - print paused" : "", ev.pause_error ? ` - pause failed: ${ev.pause_error}` : "",
    ev.evidence_url ? [" - ", el("a", { href: ev.evidence_url, target: "_blank", class: "evidence" }, "evidence")] : null));
}

function cameraCard(cam) {
  const id = encodeURIComponent(cam.id);
  const img = el("img", { class: "live", alt: `${cam.id} live view` });
  const verdict = el("div", { class: "verdict muted" }, verdictText(cam.live));
  const badge = el("div", { class: "detection", hidden: "hidden" });
  const timeline = el("ul", { class: "timeline", "data-camera": cam.id }, timelineItems([]));
  const card = el("div", { class: "card camera-card", "data-camera": cam.id, "data-state": cam.state },
    el("h3", {}, cam.id, el("span", { class: "muted" }, ` watches ${cam.printer_id}`)),
    el("div", { class: "camera" }, img, badge), verdict,
    el("h4", {}, "Event timeline"), timeline);
  let shown = -1;
  const update = (body) => {
    card.dataset.state = body.state;
    const live = body.live;
    verdict.textContent = verdictText(live);
    if (!live) return;
    card.dataset.level = live.level;
    if (live.box) {
      badge.hidden = false;
      badge.textContent = `${live.level}: ${live.kind || "failure"} ${Number(live.score).toFixed(2)}`;
      badge.className = `detection ${live.level}`;
    } else {
      badge.hidden = true;
    }
    if (live.frame !== shown) {
      const next = new Image();
      next.onload = () => {
        img.src = next.src;
        img.dataset.frame = String(live.frame);
        img.dataset.level = live.level;
        img.dataset.box = live.box ? live.box.map((v) => v.toFixed(3)).join(",") : "";
      };
      next.src = `api/v1/cv/cameras/${id}/frame.jpg?n=${live.frame}`;
      shown = live.frame;
    }
  };
  const pollLive = async () => {
    try { update(await getJson(`api/v1/cv/cameras/${id}/live`)); } catch (err) { verdict.textContent = err.message; }
    setTimeout(pollLive, LIVE_POLL_MS);
  };
  const pollEvents = async () => {
    try {
      const events = list(await getJson(`api/v1/cv/cameras/${id}/events`), "events");
      timeline.replaceChildren(...timelineItems(events));
      timeline.dataset.count = String(events.length);
    } catch (err) { /* the next poll tries again */ }
    setTimeout(pollEvents, EVENTS_POLL_MS);
  };
  update({ state: cam.state, live: cam.live });
  return { card, start: () => { setTimeout(pollLive, LIVE_POLL_MS); pollEvents(); } };
}

async function cameras() {
  let cams;
  try {
    cams = list(await getJson("api/v1/cv/cameras"), "cameras");
  } catch (err) {
    if (err instanceof NotThere) return show(empty("No cameras: no camera is configured for the print failure monitor."));
    throw err;
  }
  if (!cams.length) return show(empty("No cameras configured."));
  const cards = cams.map(cameraCard);
  show(el("div", { class: "grid cameras" }, cards.map((c) => c.card)));
  cards.forEach((c) => c.start());
}

// -- CAD gallery ---------------------------------------------------------------------------------

function previewPanel() {
  const status = el("span", { id: "viewer-status", class: "muted" }, "Pick a job's model or an STL / GLB file.");
  const input = el("input", { type: "file", id: "stl-file", accept: ".stl,.glb,model/stl,model/gltf-binary" });
  const canvas = el("canvas", { id: "viewer", width: "800", height: "360" });
  const viewer = new window.JarvisStlViewer(canvas);
  window.jarvisViewer = viewer;
  const load = async (source, label) => {
    status.textContent = `Loading ${label}...`;
    try {
      const buffer = source instanceof Blob ? await source.arrayBuffer() : await (await fetch(source)).arrayBuffer();
      const count = viewer.load(buffer);
      status.textContent = `${label}: ${count} triangles (${viewer.renderer})`;
      canvas.dataset.triangles = String(count);
    } catch (err) {
      status.textContent = `${label}: ${err.message}`;
      status.className = "error";
    }
  };
  input.addEventListener("change", () => input.files[0] && load(input.files[0], input.files[0].name));
  return { node: el("div", { class: "card" }, el("h3", {}, "3D preview"), el("div", { class: "viewer-bar" }, input, status), canvas), load };
}

// The CAD API: GET api/v1/cad/jobs (recent jobs), api/v1/cad/jobs/<id> (with artifacts, each with
// its format, provider, parent_id and url), api/v1/cad/artifacts/<id> (its lineage: parents).
const PREVIEWABLE = new Set(["stl", "glb"]);
const GALLERY_JOBS = 24;

function relative(url) {
  return String(url).replace(/^\/+/, ""); // the API gives /api/v1/...; under ingress it must be relative
}

function artifactLabel(a) {
  return `${a.provider} v${a.variant} ${a.format}`;
}

async function lineageOf(artifact) {
  if (!artifact.parent_id) return null;
  const body = await getJson(`api/v1/cad/artifacts/${encodeURIComponent(artifact.id)}`);
  const chain = (body.lineage || []).map((p) => `${artifactLabel(p)} (${p.id.slice(0, 8)})`);
  return chain.length ? `derived from ${chain.join(" <- ")}` : null;
}

async function jobCard(summary, preview) {
  const job = await getJson(`api/v1/cad/jobs/${encodeURIComponent(summary.id)}`);
  const artifacts = job.artifacts || [];
  const lineage = await Promise.all(artifacts.filter((a) => a.parent_id).slice(0, 1).map(lineageOf));
  const buttons = artifacts.filter((a) => PREVIEWABLE.has(a.format)).map((a) => el("button", {
    "data-artifact": a.id, "data-format": a.format,
    onclick: () => preview.load(relative(a.url), `${job.prompt || job.job_id}: ${artifactLabel(a)}`),
  }, `Preview ${a.format.toUpperCase()} v${a.variant}`));
  const downloads = artifacts.map((a) => el("a", { href: relative(a.url), download: "", class: "download" }, a.format));
  return el("div", { class: "card cad-job", "data-job": job.job_id, "data-status": job.status },
    el("h3", {}, job.prompt || job.job_id),
    fields([
      ["Status", job.status],
      ["Created", when(job.created_at)],
      ["Made by", [...new Set(artifacts.map((a) => a.provider))].join(", ") || null],
      ["Lineage", lineage[0] || null],
      ["Error", job.error],
    ]),
    downloads.length ? el("p", { class: "downloads" }, "Files: ", downloads.flatMap((d, i) => (i ? [" ", d] : [d]))) : null,
    el("div", { class: "viewer-bar" }, buttons));
}

async function cad() {
  const preview = previewPanel();
  let jobs;
  try {
    jobs = list(await getJson("api/v1/cad/jobs"), "jobs");
  } catch (err) {
    if (!(err instanceof NotThere)) throw err;
    jobs = null;
  }
  const gallery = jobs === null
    ? empty("No CAD jobs: CAD generation is not set up in this add-on yet.")
    : !jobs.length ? empty("No CAD jobs yet.")
      : el("div", { class: "grid" }, await Promise.all(jobs.slice(0, GALLERY_JOBS).map((j) => jobCard(j, preview))));
  show(preview.node, el("h3", {}, "Jobs"), gallery);
}

const pages = { overview, printers, cameras, cad };
(pages[document.body.dataset.page] || overview)().catch((err) => {
  show(el("p", { class: "error" }, `Could not load this page: ${err.message}`));
});
