// Draws each activation function and its derivative on one Chart.js chart; the table's
// checkboxes (and the legend) show and hide them.
const SELU_LAMBDA = 1.0507009873554805;
const SELU_ALPHA = 1.6732632423543772;
const sigmoid = (x) => 1 / (1 + Math.exp(-x));

// name → [f, f′]; names match playground/demos/learn.py ACTIVATIONS.
const FUNCTIONS = {
  identity: [(x) => x, () => 1],
  binary_step: [(x) => (x < 0 ? 0 : 1), () => 0],
  logistic: [sigmoid, (x) => sigmoid(x) * (1 - sigmoid(x))],
  tanh: [Math.tanh, (x) => 1 - Math.tanh(x) ** 2],
  arctan: [Math.atan, (x) => 1 / (x * x + 1)],
  softsign: [(x) => x / (1 + Math.abs(x)), (x) => 1 / (1 + Math.abs(x)) ** 2],
  relu: [(x) => Math.max(0, x), (x) => (x < 0 ? 0 : 1)],
  elu: [(x) => (x < 0 ? Math.expm1(x) : x), (x) => (x < 0 ? Math.exp(x) : 1)],
  selu: [
    (x) => SELU_LAMBDA * (x < 0 ? SELU_ALPHA * Math.expm1(x) : x),
    (x) => SELU_LAMBDA * (x < 0 ? SELU_ALPHA * Math.exp(x) : 1),
  ],
};
const COLORS = ["#5b6475", "#8a5a00", "#0b57d0", "#137333", "#9334e6", "#c5221f", "#e37400", "#007b83", "#b0006a"];
const XS = Array.from({ length: 201 }, (_, i) => -5 + i * 0.05);

const titles = JSON.parse(document.getElementById("activation-titles").textContent);
const checkbox = (name, derivative) =>
  document.querySelector(`input.${derivative ? "show-df" : "show-f"}[data-name="${name}"]`);

const datasets = Object.entries(FUNCTIONS).flatMap(([name, [f, df]], i) =>
  [false, true].map((derivative) => ({
    label: derivative ? `${titles[name]} (derivative)` : titles[name],
    name,
    derivative,
    data: XS.map((x) => ({ x, y: (derivative ? df : f)(x) })),
    borderColor: COLORS[i % COLORS.length],
    backgroundColor: COLORS[i % COLORS.length],
    borderDash: derivative ? [6, 4] : [],
    borderWidth: 2,
    pointRadius: 0,
    stepped: name === "binary_step",
    hidden: !checkbox(name, derivative).checked,
  })),
);

const chart = new Chart(document.getElementById("activation-chart"), {
  type: "line",
  data: { datasets },
  options: {
    animation: false,
    maintainAspectRatio: false,
    parsing: false,
    scales: {
      x: { type: "linear", min: -5, max: 5, title: { display: true, text: "x" } },
      y: { min: -2, max: 3, title: { display: true, text: "f(x), f′(x)" } },
    },
    plugins: {
      legend: {
        labels: {
          boxHeight: 2,
          filter: (item, data) => !data.datasets[item.datasetIndex].hidden,
        },
        // The checkboxes own visibility; a legend click flips the matching one.
        onClick: (event, item) => {
          const { name, derivative } = chart.data.datasets[item.datasetIndex];
          checkbox(name, derivative).click();
        },
      },
      tooltip: { mode: "nearest", intersect: false },
    },
  },
});

document.getElementById("activations").addEventListener("change", (event) => {
  const input = event.target;
  if (!input.dataset.name) return;
  const derivative = input.classList.contains("show-df");
  const dataset = chart.data.datasets.find((d) => d.name === input.dataset.name && d.derivative === derivative);
  dataset.hidden = !input.checked;
  chart.update();
});
