// A diagram of the model a job spec builds: the layers POST /api/v1/architecture/ lists (the
// recipe's own builder), one row each with its kind, size, output shape and parameters, a bar
// as long as the log of its output's size, frozen layers greyed. Long models (an ImageNet base)
// fold their middle away.

const FOLD_OVER = 24;
const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
const number = (n) => n.toLocaleString("en-US");

/** Fetches the layers of `spec` ({recipe, dataset, hyperparameters, ...}) and draws them into
 * `element`; a refusal is shown there instead. Returns the answer (or null). */
export async function drawNetwork(element, spec) {
  element.dataset.state = "loading";
  element.setAttribute("aria-busy", "true");
  let response;
  try {
    response = await fetch("/api/v1/architecture/", {
      method: "POST", credentials: "same-origin", body: JSON.stringify(spec),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
    });
  } catch (error) {
    return refused(element, `The diagram could not be loaded (${error.message}).`);
  } finally {
    element.removeAttribute("aria-busy");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) return refused(element, reasons(body) || `${response.status} ${response.statusText}`);
  render(element, body);
  element.dataset.state = "drawn";
  return body;
}

function refused(element, text) {
  element.replaceChildren(Object.assign(document.createElement("p"), { className: "meta network-refused", textContent: text }));
  element.dataset.state = "refused";
  return null;
}

const reasons = (body) => (typeof body.detail === "string" ? body.detail
  : Object.entries(body).flatMap(([field, value]) => (value && typeof value === "object" && !Array.isArray(value)
    ? Object.entries(value).map(([name, messages]) => `${name}: ${[].concat(messages).join(" ")}`)
    : [`${field}: ${[].concat(value).join(" ")}`])).join("; "));

function describe(layer) {
  const parts = [];
  const count = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
  if (layer.units) parts.push(count(layer.units, "unit"));
  if (layer.filters) parts.push(`${count(layer.filters, "filter")} ${layer.kernel_size ? layer.kernel_size.join("×") : ""}`.trim());
  if (layer.pool_size) parts.push(`pool ${[].concat(layer.pool_size).join("×")}`);
  if (layer.rate) parts.push(`rate ${layer.rate}`);
  if (layer.activation) parts.push(layer.activation);
  return parts.join(" · ");
}

function row(layer, widest) {
  const item = document.createElement("li");
  item.className = `layer${layer.trainable ? "" : " frozen"}`;
  item.dataset.type = layer.type;
  const size = (layer.output_shape || []).reduce((a, b) => a * (b || 1), 1);
  const bar = document.createElement("span");
  bar.className = "layer-bar";
  bar.style.width = `${Math.max(4, (100 * Math.log10(size + 1)) / Math.log10(widest + 1))}%`;
  const name = Object.assign(document.createElement("span"), { className: "layer-type", textContent: layer.type });
  name.title = layer.name;
  const detail = Object.assign(document.createElement("span"), { className: "layer-detail", textContent: describe(layer) });
  const shape = Object.assign(document.createElement("span"), {
    className: "layer-shape", textContent: layer.output_shape ? `→ ${layer.output_shape.join(" × ")}` : "" });
  const params = Object.assign(document.createElement("span"), {
    className: "layer-params", textContent: layer.params ? `${number(layer.params)}${layer.trainable ? "" : " 🔒"}` : "" });
  item.append(bar, name, detail, shape, params);
  return item;
}

function render(element, { layers, params, trainable_params: trainable, input_shape: input }) {
  const widest = Math.max(1, ...layers.map((l) => (l.output_shape || []).reduce((a, b) => a * (b || 1), 1)));
  const summary = document.createElement("p");
  summary.className = "meta network-summary";
  summary.textContent = `input ${input.join(" × ")} · ${layers.length} layers · ${number(params)} parameters`
    + (trainable < params ? ` (${number(trainable)} trainable, ${number(params - trainable)} frozen)` : "");
  const parts = [summary];
  let list = null;
  let group;
  layers.forEach((layer, index) => {
    if (!list || layer.model !== group) {
      group = layer.model;
      if (group) parts.push(Object.assign(document.createElement("h3"), { className: "network-model", textContent: group }));
      list = document.createElement("ol");
      list.className = "network-layers";
      parts.push(list);
    }
    if (layers.length > FOLD_OVER && index === 6) {
      const fold = document.createElement("details");
      fold.className = "network-fold";
      fold.append(Object.assign(document.createElement("summary"), { textContent: `${layers.length - 12} more layers` }));
      const inner = document.createElement("ol");
      inner.className = "network-layers";
      fold.append(inner);
      list.append(fold);
      list = inner;
    }
    if (layers.length > FOLD_OVER && index === layers.length - 6) {
      list = document.createElement("ol");
      list.className = "network-layers";
      parts.push(list);
    }
    list.append(row(layer, widest));
  });
  element.replaceChildren(...parts);
}
