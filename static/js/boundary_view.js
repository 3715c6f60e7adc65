// Pictures of a 2-D classifier, from the probe outputs of a sample event (trainer/probe.py):
// each Dense layer's values over a grid × grid lattice of the square [-extent, extent]², row by
// row from the top-left corner. Colours are TensorFlow Playground's: orange for class 0 / -1,
// blue for class 1 / +1, white between.

const ORANGE = [245, 147, 34];
const BLUE = [8, 119, 189];
const WHITE = [232, 234, 235];

/** The colour of t in [-1, 1] (orange → white → blue), as [r, g, b]. */
export function colour(t) {
  const s = Math.max(-1, Math.min(1, t));
  const [from, to, k] = s < 0 ? [WHITE, ORANGE, -s] : [WHITE, BLUE, s];
  return from.map((c, i) => Math.round(c + (to[i] - c) * k));
}

/** The unit `unit` of one probe layer ({units, values}) as grid × grid numbers. */
export function unitValues(layer, unit) {
  const rows = layer.values.length / layer.units;
  const out = new Float32Array(rows);
  for (let i = 0; i < rows; i++) out[i] = layer.values[i * layer.units + unit];
  return out;
}

/** Paints `values` (grid × grid, in [-1, 1] after `scale`) smoothly over the whole canvas. */
export function paint(canvas, values, grid, scale = (v) => v) {
  const small = document.createElement("canvas");
  small.width = small.height = grid;
  const context = small.getContext("2d");
  const image = context.createImageData(grid, grid);
  values.forEach((value, i) => {
    const [r, g, b] = colour(scale(value));
    image.data.set([r, g, b, 255], i * 4);
  });
  context.putImageData(image, 0, 0);
  const target = canvas.getContext("2d");
  target.imageSmoothingEnabled = true;
  target.clearRect(0, 0, canvas.width, canvas.height);
  target.drawImage(small, 0, 0, canvas.width, canvas.height);
}

/** The output layer's probability of class 1 mapped to [-1, 1] (0.5 → 0, white). */
export const probability = (p) => 2 * p - 1;

/** Draws points [[x1, x2, label], ...] on `canvas` over [-extent, extent]²; test points get a
 * dark ring. */
export function drawPoints(canvas, points, extent, { test = false } = {}) {
  const context = canvas.getContext("2d");
  const scale = canvas.width / (2 * extent);
  const radius = Math.max(2, canvas.width / 110);
  for (const [x, y, label] of points) {
    const [r, g, b] = label ? BLUE : ORANGE;
    context.beginPath();
    context.arc((x + extent) * scale, (extent - y) * scale, radius, 0, 2 * Math.PI);
    context.fillStyle = `rgb(${r} ${g} ${b})`;
    context.fill();
    context.lineWidth = 1;
    context.strokeStyle = test ? "#222" : "#fff";
    context.stroke();
  }
}

/** The share of `points` on the side of the boundary their label says (a nearest-lattice-point
 * lookup of the output's probability of class 1). */
export function agreement(points, outputLayer, grid, extent) {
  const p = unitValues(outputLayer, outputLayer.units - 1);
  const cell = (v) => Math.max(0, Math.min(grid - 1, Math.round(((v + extent) / (2 * extent)) * (grid - 1))));
  let right = 0;
  for (const [x, y, label] of points) {
    const value = p[(grid - 1 - cell(y)) * grid + cell(x)];
    if ((value > 0.5) === (label === 1)) right++;
  }
  return points.length ? right / points.length : 0;
}
