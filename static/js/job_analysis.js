// The job page's analysis of a classifier's test set: a clickable confusion matrix with
// per-class accuracy; clicking a cell lists that cell's stored samples (image, true and
// predicted class, probabilities). Loads the job's JSON as soon as the job has succeeded.
const job = JSON.parse(document.getElementById("job-data").textContent);
// A share link's page reads the job from the link's own URL (job-urls), not the owner's API.
const jobUrl = JSON.parse(document.getElementById("job-urls")?.textContent || "null")?.job ?? `/api/v1/jobs/${job.id}/`;
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

function sampleCard(sample, names) {
  const top = sample.probabilities
    .map((p, k) => [p, k]).sort((a, b) => b[0] - a[0]).slice(0, 3)
    .map(([p, k]) => `${names[k]} ${(100 * p).toFixed(1)}%`).join(", ");
  const card = el("figure", { className: "sample-card" });
  if (sample.image) card.append(el("img", { src: sample.image, alt: `test sample ${sample.index}` }));
  card.append(el("figcaption", {
    textContent: `#${sample.index}: true ${names[sample.label]}, predicted ${names[sample.predicted]} · ${top}`,
  }));
  return card;
}

function showCell(analysis, row, col) {
  const names = analysis.class_names;
  const ids = analysis.cells[`${row},${col}`] || [];
  const count = analysis.confusion_matrix[row][col];
  $("cell-caption").textContent = `True ${names[row]}, predicted ${names[col]}: ${count} test sample(s)` +
    (ids.length < count ? `, ${ids.length} shown.` : ".");
  $("cell-list").replaceChildren(...ids.map((i) => sampleCard(analysis.samples[i], names)));
  for (const cell of $("confusion").querySelectorAll("td.selected")) cell.classList.remove("selected");
  $("confusion").querySelector(`td[data-row="${row}"][data-col="${col}"]`)?.classList.add("selected");
}

function render(analysis) {
  const names = analysis.class_names;
  const matrix = analysis.confusion_matrix;
  const max = Math.max(1, ...matrix.flat());
  const head = el("tr", {}, [el("th", { textContent: "true \\ predicted" }),
    ...names.map((n) => el("th", { textContent: n })), el("th", { textContent: "accuracy" })]);
  const rows = matrix.map((counts, row) => {
    const accuracy = analysis.per_class_accuracy?.[row];
    return el("tr", {}, [
      el("th", { textContent: names[row] }),
      ...counts.map((count, col) => {
        const cell = el("td", { textContent: count, title: `true ${names[row]}, predicted ${names[col]}` });
        cell.dataset.row = row;
        cell.dataset.col = col;
        const share = count / max;
        cell.style.background = count === 0 ? "" :
          row === col ? `rgba(24,128,56,${0.15 + 0.6 * share})` : `rgba(217,48,37,${0.2 + 0.6 * share})`;
        if (count) {
          cell.classList.add("clickable");
          cell.addEventListener("click", () => showCell(analysis, row, col));
        }
        return cell;
      }),
      el("td", { className: "meta", textContent: accuracy == null ? "–" : `${(100 * accuracy).toFixed(1)}%` }),
    ]);
  });
  $("confusion").replaceChildren(el("thead", {}, [head]), el("tbody", {}, rows));
  const low = analysis.low_confidence.map((s) => analysis.samples?.[s.index] ?? { ...s, probabilities: [] });
  $("low-confidence").replaceChildren(...low.map((s) => sampleCard(s, names)));
  $("analysis-box").hidden = false;
  window.playground = Object.assign(window.playground || {}, { analysis });
}

let loaded = false;

async function load() {
  if (loaded) return;
  loaded = true;
  const response = await fetch(jobUrl, { headers: { Accept: "application/json" } });
  if (!response.ok) { loaded = false; return; }
  const current = await response.json();
  if (current.analysis?.confusion_matrix && current.analysis.cells) render(current.analysis);
}

// job.js announces each status it shows; the analysis is stored with the "succeeded" one.
document.addEventListener("job-status", (event) => { if (event.detail === "succeeded") load(); });
if (job.status === "succeeded") load();
