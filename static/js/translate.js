// Translate German to English in the browser: the job's TF.js encoder reads the sentence once,
// then the one-step decoder is called per token (greedy), exactly like the server's greedy_decode
// in the translation recipe's package. The server's beam search translates the same text beside it.
import { greedyDecode } from "./seq2seq_decode.js";
import { PAD, decode, encode, tokenize } from "./text_normalize.js";

const config = JSON.parse(document.getElementById("try-config").textContent);
const csrfToken = document.querySelector("[name=csrfmiddlewaretoken]").value;
const $ = (id) => document.getElementById(id);

let settings = null, sourceIds = null, targetTokens = null;
let encoder = null, decoder = null;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function fetchJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function loadVariant(variant) {
  const form = $("translate-form");
  form.dataset.model = "";
  $("translate").disabled = true;
  $("model-status").textContent = `loading ${variant}…`;
  showError("");
  try {
    const [loadedEncoder, loadedDecoder] = await Promise.all([
      tf.loadLayersModel(config.variants[variant].encoder),
      tf.loadLayersModel(config.variants[variant].decoder),
    ]);
    encoder?.dispose();
    decoder?.dispose();
    encoder = loadedEncoder;
    decoder = loadedDecoder;
  } catch (error) {
    $("model-status").textContent = `${variant} failed to load`;
    showError(`Could not load the ${variant} models (${error.message}). Reload the page, or pick another variant.`);
    return;
  }
  const { bytes, bleu } = config.variants[variant];
  $("model-status").textContent = `${variant}: ${(bytes / 1024).toFixed(0)} KB`
    + (bleu != null ? `, BLEU ${bleu.toFixed(1)} on 100 test sentences` : "");
  $("translate").disabled = false;
  form.dataset.model = variant;
}

// Front-padded ids, as the translation recipe's encode_sources builds them.
export function sourceRow(text, maxLength) {
  const ids = encode(text, sourceIds).slice(0, maxLength);
  return [...new Array(maxLength - ids.length).fill(PAD), ...ids];
}

export async function greedyTranslate(text) {
  const result = await greedyDecode(encoder, decoder, sourceRow(text, settings.max_length), settings.max_steps);
  return { ...result, tokens: decode(result.ids, targetTokens) };
}

async function serverTranslate(text, beamWidth) {
  const response = await fetch(config.translateUrl, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
    body: JSON.stringify({ text, beam_width: beamWidth }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail ?? JSON.stringify(body));
  return body;
}

async function translate() {
  if (!encoder || !decoder || !settings) return;  // the models are still loading
  const text = $("source").value;
  if (!tokenize(text).length) { showError("Type a German sentence first."); return; }
  showError("");
  const form = $("translate-form");
  delete form.dataset.browserDone;
  delete form.dataset.serverDone;
  const beamWidth = Math.max(1, Math.min(16, parseInt($("beam-width").value, 10) || 4));
  const unknown = tokenize(text).filter((t) => !sourceIds.has(t));
  $("unknown").textContent = unknown.length ? `Not in the German vocabulary (read as <unk>): ${unknown.join(", ")}` : "";

  const server = serverTranslate(text, beamWidth).then((result) => {
    $("server-translation").textContent = result.translation || "(empty)";
    $("server-timing").textContent = `beam width ${result.beam_width} · ${result.ms_per_token.toFixed(1)} ms/token `
      + `(${result.latency_ms.toFixed(0)} ms for ${result.tokens.length} tokens)`;
    $("server-ids").textContent = result.ids.join(" ");
    $("server-ids").dataset.logProbability = result.score;
    form.dataset.serverDone = "1";
  }).catch((error) => showError(`The server could not translate: ${error.message}`));

  const result = await greedyTranslate(text);
  $("browser-translation").textContent = result.tokens.join(" ") || "(empty)";
  $("browser-timing").textContent = `${result.msPerToken.toFixed(1)} ms/token (${result.ms.toFixed(0)} ms for `
    + `${result.ids.length} tokens) · ${form.dataset.model}`;
  $("browser-ids").textContent = result.ids.join(" ");
  $("browser-ids").dataset.logProbability = result.logProbability;
  form.dataset.browserDone = "1";
  await server;
}

async function start() {
  try {
    const [loadedSettings, source, target] = await Promise.all([
      fetchJson(config.settings), fetchJson(config.sourceVocab), fetchJson(config.targetVocab)]);
    settings = loadedSettings;
    sourceIds = new Map(source.tokens.map((token, i) => [token, i]));
    targetTokens = target.tokens;
  } catch (error) {
    showError(`Could not load the vocabularies (${error.message}). Reload the page.`);
    return;
  }
  // One decoder call per token on tiny tensors: latency, not arithmetic, dominates, and the
  // plain-JS backend has none of WebGL's per-call upload/download cost.
  await tf.setBackend("cpu");
  $("backend").textContent = tf.getBackend();
  await loadVariant($("variant").value);
}

$("variant").addEventListener("change", () => loadVariant($("variant").value));
$("translate-form").addEventListener("submit", (event) => { event.preventDefault(); translate(); });
for (const button of document.querySelectorAll(".example")) {
  button.addEventListener("click", () => { $("source").value = button.textContent; translate(); });
}
window.translatePage = { greedyTranslate, sourceRow };
start();
