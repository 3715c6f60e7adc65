import { drawNetwork } from "./network_diagram.js";

// Keeps the whole configuration in the URL query, so the address bar is always a link that
// reproduces this setup. Only values that differ from the page's defaults are written.
const form = document.getElementById("recipe-form");
const defaults = new Map([...new FormData(form)].filter(([name]) => name !== "csrfmiddlewaretoken"));
const initialQuery = new URLSearchParams(location.search);

for (const [name] of defaults) {
  if (!initialQuery.has(name)) continue;
  defaults.set(name, null); // present in the link: keep it in the link
}

function syncUrl() {
  const query = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (name === "csrfmiddlewaretoken") continue;
    if (defaults.get(name) !== value) query.set(name, value);
  }
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

form.addEventListener("input", syncUrl);
form.addEventListener("change", syncUrl);
document.getElementById("copy-link").addEventListener("click", async (event) => {
  syncUrl();
  try {
    await navigator.clipboard.writeText(location.href);
    event.target.textContent = "Link copied";
  } catch {
    event.target.textContent = "Copy the address bar";
  }
});
syncUrl();

// "Race / sweep": the values field shows what the chosen hyperparameter takes, and Enter in it
// starts the sweep (not the form's first button, which trains one job).
const vary = document.getElementById("id_vary");
const sweepValues = document.getElementById("id_values");
if (vary && sweepValues) {
  const help = document.getElementById("values-help");
  vary.addEventListener("change", () => {
    const { help: takes, example } = vary.selectedOptions[0].dataset;
    sweepValues.placeholder = example;
    help.textContent = `2 to 8, separated by commas. ${takes}`;
  });
  sweepValues.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    document.getElementById("start-sweep").click();
  });
}

// The network these settings build (network_diagram.js), redrawn a moment after a change; a
// setting that does not parse leaves the last diagram as it was.

const schema = JSON.parse(document.getElementById("recipe-schema").textContent);
const diagram = document.getElementById("network-diagram");

function parsed(type, raw) {
  const text = raw.trim();
  if (type === "int_list" || type === "str_list") {
    const items = text.split(",").map((item) => item.trim()).filter(Boolean);
    return type === "int_list" ? items.map(Number) : items;
  }
  if (type === "int" || type === "float") return text === "" ? NaN : Number(text);
  return text;
}

function formSpec() {
  const data = new FormData(form);
  const hyperparameters = {};
  for (const [name, { type }] of Object.entries(schema.hyperparameters)) {
    if (!data.has(name)) continue;
    // As the server parses a form (playground/demos/forms.py).
    const value = type === "bool" ? ["1", "true", "on", "yes"].includes(data.get(name).trim().toLowerCase())
      : parsed(type, data.get(name));
    if ([].concat(value).some((v) => typeof v === "number" && !Number.isFinite(v))) return null;
    hyperparameters[name] = value;
  }
  return { recipe: schema.name, dataset: data.get("dataset") || undefined, hyperparameters };
}

let timer = null;
let drawn = null;
function redrawNetwork() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const spec = formSpec();
    if (!spec) return;
    const key = JSON.stringify(spec);
    if (key === drawn) return;
    drawn = key;
    await drawNetwork(diagram, spec);
  }, 400);
}

if (diagram) {
  form.addEventListener("input", redrawNetwork);
  form.addEventListener("change", redrawNetwork);
  redrawNetwork();
}

// More GPUs than any online worker has: the job would wait in its queue until such a worker
// comes online; say so before it is submitted.
const gpus = document.getElementById("id_gpus");
const gpusWarning = document.getElementById("gpus-warning");
function warnGpus() {
  const wanted = Number(gpus.value);
  const most = Number(gpusWarning.dataset.online);
  gpusWarning.hidden = !(wanted > most);
  gpusWarning.textContent = `No online worker has ${wanted} GPU${wanted === 1 ? "" : "s"} (the most is ${most}): `
    + "the job will wait in its queue until such a worker comes online.";
}
if (gpus && gpusWarning) {
  gpus.addEventListener("input", warnGpus);
  warnGpus();
}
