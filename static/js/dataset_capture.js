// /datasets/new/: classes of samples drawn on a pad or taken from the webcam, uploaded as an images
// dataset (a zip of one folder of PNGs per class) to POST /api/v1/datasets/. The API's checks are
// the only ones: whatever it answers is shown as it says it.
import { drawOn } from "./draw_pad.js";
import { zipStore } from "./zip_store.js";

const $ = (id) => document.getElementById(id);
const csrfToken = document.querySelector("[name=csrfmiddlewaretoken]").value;
const template = $("class-template");
const classList = $("classes");
const video = $("camera");
const cameraStatus = $("camera-status");
const FRAME_MS = 200;  // ~5 webcam frames a second while "Hold to record" is held
const SIDE = 140;      // pixels of a sample; the server resizes to the dataset's size
const UPLOAD_OPTIONS = { kind: "images", size: "28", channels: "1" };

const classes = [];  // {card, name, pad, samples: [{id, blob, url}], drawn}, in page order
let nextClass = 1;
let nextSample = 1;

// ---- classes ---------------------------------------------------------------------------------

function addClass() {
  const card = template.content.firstElementChild.cloneNode(true);
  const number = nextClass++;
  const item = { card, samples: [], name: card.querySelector(".class-name"), pad: card.querySelector(".capture-pad") };
  item.name.value = `Class ${number}`;
  card.dataset.class = String(number);
  card.querySelector(".remove-class").addEventListener("click", () => removeClass(item));
  card.querySelector(".add-drawing").addEventListener("click", () => addDrawing(item));
  card.querySelector(".clear-pad").addEventListener("click", () => clearPad(item));
  setUpPad(item);
  setUpRecording(item, card.querySelector(".record"));
  classes.push(item);
  classList.append(card);
  return item;
}

function removeClass(item) {
  if (recording === item) stopRecording();
  for (const sample of item.samples) URL.revokeObjectURL(sample.url);
  classes.splice(classes.indexOf(item), 1);
  item.card.remove();
}

/** Adds the canvas' picture to the class as a PNG, with a thumbnail. */
async function addSample(item, canvas) {
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  if (!blob || !classes.includes(item)) return;
  const sample = { id: nextSample++, blob, url: URL.createObjectURL(blob) };
  item.samples.push(sample);
  const thumb = document.createElement("img");
  thumb.src = sample.url;
  thumb.alt = `sample ${item.samples.length}`;
  thumb.width = thumb.height = 40;
  item.card.querySelector(".capture-thumbs").append(thumb);
  const count = item.samples.length;
  item.card.querySelector(".count").textContent = `${count} sample${count === 1 ? "" : "s"}`;
}

// ---- drawing: pointer events cover mouse, pen and touch ---------------------------------------

function setUpPad(item) {
  const pad = item.pad;
  const context = pad.getContext("2d");
  context.lineWidth = 11;
  context.strokeStyle = "#fff";
  clearPad(item);
  drawOn(pad, () => { item.drawn = true; });
}

function clearPad(item) {
  const context = item.pad.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, item.pad.width, item.pad.height);
  item.drawn = false;
}

async function addDrawing(item) {
  if (!item.drawn) {
    showUploadStatus(`Draw on the pad of “${item.name.value}” first.`);
    return;
  }
  showUploadStatus("");
  const added = addSample(item, item.pad);
  clearPad(item);  // toBlob has read the pixels already: ready for the next drawing
  await added;
}

// ---- the webcam: one stream for the page, started on the first "Hold to record" --------------

let camera = null;       // the promise of a started camera (true) or of none (false)
let recording = null;    // the class being recorded into
let timer = null;
const frame = document.createElement("canvas");
frame.width = frame.height = SIDE;

function setCameraStatus(state, message) {
  cameraStatus.dataset.state = state;
  cameraStatus.textContent = message;
}

function noCamera(error) {
  const reason = {
    NotAllowedError: "Camera permission was refused",
    SecurityError: "Camera permission was refused",
    NotFoundError: "No camera was found",
    OverconstrainedError: "No camera was found",
    NotReadableError: "The camera is in use by another program or could not be read",
  }[error?.name] ?? (error ? `The camera could not start (${error.name}: ${error.message})` : "No camera is available on this page (browsers offer one only over https or on localhost)");
  setCameraStatus("unavailable", `${reason}. Drawing still works: draw samples on the pads.`);
  return false;
}

function startCamera() {
  camera ??= (async () => {
    if (!navigator.mediaDevices?.getUserMedia) return noCamera(null);
    setCameraStatus("starting", "Starting the camera… (your browser may ask for permission)");
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
      await video.play();
    } catch (error) {
      return noCamera(error);
    }
    video.hidden = false;
    setCameraStatus("on", "Camera on: hold “Hold to record” in a class to add frames to it.");
    return true;
  })();
  return camera;
}

function captureFrame() {
  if (!recording || !video.videoWidth) return;
  const side = Math.min(video.videoWidth, video.videoHeight);  // the centre square of the picture
  frame.getContext("2d").drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side,
                                   0, 0, SIDE, SIDE);
  addSample(recording, frame);
}

async function startRecording(item, button) {
  if (recording) stopRecording();
  recording = item;
  button.setAttribute("aria-pressed", "true");
  const ready = await startCamera();
  if (!ready) camera = null;  // the next press asks again (a camera plugged in, permission given)
  if (!ready || recording !== item) { if (recording === item) stopRecording(); return; }  // or released while starting
  captureFrame();
  timer = setInterval(captureFrame, FRAME_MS);
}

function stopRecording() {
  clearInterval(timer);
  timer = null;
  if (recording) recording.card.querySelector(".record").setAttribute("aria-pressed", "false");
  recording = null;
}

function setUpRecording(item, button) {
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    button.setPointerCapture(event.pointerId);  // the release counts wherever it happens
    startRecording(item, button);
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
    button.addEventListener(type, () => { if (recording === item) stopRecording(); });
  }
  button.addEventListener("contextmenu", (event) => event.preventDefault());  // a long touch is a hold
  button.addEventListener("keydown", (event) => {  // the keyboard holds it with Space or Enter
    if ((event.key === " " || event.key === "Enter") && !event.repeat) { event.preventDefault(); startRecording(item, button); }
  });
  button.addEventListener("keyup", (event) => {
    if ((event.key === " " || event.key === "Enter") && recording === item) stopRecording();
  });
}

// ---- upload: a zip of one folder per class, to the API ---------------------------------------

function showUploadStatus(message) {
  $("upload-status").textContent = message;
}

function showError(message) {
  $("upload-error").textContent = message;
  $("upload-error").hidden = !message;
}

/** A class name as a zip folder: no slashes or "..", which would not be one folder. */
function folderName(item, index) {
  const name = item.name.value.trim().replace(/[/\\]+/g, "-");
  return name && name !== "." && name !== ".." ? name : `Class ${index + 1}`;
}

function refusal(status, body) {
  if (!body) return `The server answered ${status}.`;
  const detail = body.detail ?? Object.entries(body).map(([field, errors]) => `${field}: ${[].concat(errors).join(" ")}`).join("; ");
  return `The server refused the upload (${status}): ${detail}`;
}

function showUploaded(dataset) {
  const result = $("upload-result");
  const classNames = (dataset.meta?.classes ?? []).map((c) => `${c.name} (${c.count})`).join(", ");
  const link = document.createElement("a");
  link.href = "/datasets/";
  link.textContent = "your datasets";
  const code = document.createElement("code");
  code.textContent = dataset.dataset;
  result.replaceChildren(
    `Uploaded “${dataset.name}” (version ${dataset.version}): ${classNames}. Train on it by naming `, code,
    " as a job's dataset; it is listed with ", link, ".");
  result.dataset.id = String(dataset.id);
  result.hidden = false;
}

async function upload() {
  const button = $("upload");
  showError("");
  $("upload-result").hidden = true;
  button.disabled = true;
  showUploadStatus("Zipping the samples…");
  try {
    const files = [];
    for (const [index, item] of classes.entries()) {
      const folder = folderName(item, index);
      for (const sample of item.samples) {
        // Sample ids are unique on the page, so two classes of the same name add up, never overwrite.
        files.push({ name: `${folder}/${sample.id}.png`, data: new Uint8Array(await sample.blob.arrayBuffer()) });
      }
    }
    const name = $("dataset-name").value;
    const form = new FormData();
    form.append("file", new Blob([zipStore(files)], { type: "application/zip" }),
                `${name.trim().replace(/[^\w.-]+/g, "_") || "capture"}.zip`);
    form.append("name", name);
    for (const [key, value] of Object.entries(UPLOAD_OPTIONS)) form.append(key, value);
    showUploadStatus(`Uploading ${files.length} images…`);
    let response, body = null;
    try {
      response = await fetch("/api/v1/datasets/", { method: "POST", headers: { "X-CSRFToken": csrfToken }, body: form });
    } catch (error) {
      showUploadStatus("");
      showError(`The upload did not reach the server (${error.message}). Is it still running?`);
      return;
    }
    try { body = await response.json(); } catch { /* not JSON: the status says it */ }
    showUploadStatus("");
    if (response.status === 201 && body) showUploaded(body);
    else showError(refusal(response.status, body));
  } finally {
    button.disabled = false;
  }
}

$("add-class").addEventListener("click", () => addClass().name.focus());
$("upload").addEventListener("click", upload);
addClass();
addClass();
