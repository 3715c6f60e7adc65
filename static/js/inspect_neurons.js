// "Inspect neurons": what each layer of a digit classifier computes for the digit being drawn
// (feature maps of convolutions, a strip of units for dense layers), and the first convolution's
// filters. Works on any tf.LayersModel: the layers are the model's own.

const SKIP = new Set(["InputLayer", "Flatten", "Dropout", "Reshape"]);
const MAX_MAPS = 32;
const MAX_UNITS = 512;

/** Paints values (row-major, h × w) as greys scaled to their own range, dark = high. */
function grey(canvas, values, h, w) {
  canvas.width = w;
  canvas.height = h;
  let [lo, hi] = [Infinity, -Infinity];
  for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const span = hi - lo || 1;
  const context = canvas.getContext("2d");
  const image = context.createImageData(w, h);
  values.forEach((v, i) => {
    const shade = 255 - Math.round((255 * (v - lo)) / span);
    image.data.set([shade, shade, shade, 255], i * 4);
  });
  context.putImageData(image, 0, 0);
}

function channel(data, [h, w, c], k) {
  const out = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) out[i] = data[i * c + k];
  return out;
}

function block(title, note) {
  const section = document.createElement("section");
  section.className = "neurons-layer";
  const heading = document.createElement("h3");
  heading.textContent = title;
  const meta = Object.assign(document.createElement("span"), { className: "meta", textContent: ` ${note}` });
  heading.append(meta);
  const grid = document.createElement("div");
  grid.className = "neurons-grid";
  section.append(heading, grid);
  return { section, grid };
}

/** One inspector per loaded model: `show(pixels)` draws every layer's activations for an input. */
export function inspector(model, inputShape, element) {
  const tf = globalThis.tf;
  const layers = model.layers.filter((layer) => !SKIP.has(layer.getClassName()));
  const outputs = tf.model({ inputs: model.inputs, outputs: layers.map((layer) => layer.output) });
  const filters = document.createElement("div");
  const firstConv = model.layers.find((layer) => layer.getClassName() === "Conv2D");
  if (firstConv) {
    // Kernel [kh, kw, in, out]: the first input channel of each filter, as a small picture.
    const [kernel] = firstConv.getWeights();
    const [kh, kw, channels, count] = kernel.shape;
    const values = kernel.dataSync();
    const { section, grid } = block(`${firstConv.name} filters`, `${count} of ${kh}×${kw}, learned`);
    for (let f = 0; f < Math.min(count, MAX_MAPS); f++) {
      const picture = new Float32Array(kh * kw);
      for (let i = 0; i < kh * kw; i++) picture[i] = values[i * channels * count + f];
      const canvas = document.createElement("canvas");
      canvas.className = "neuron-map filter";
      grey(canvas, picture, kh, kw);
      grid.append(canvas);
    }
    filters.append(section);
  }
  const activations = document.createElement("div");
  element.replaceChildren(filters, activations);

  return {
    async show(pixels) {
      const results = tf.tidy(() => [].concat(outputs.predict(tf.tensor4d(pixels, [1, ...inputShape]))));
      const values = await Promise.all(results.map((t) => t.data()));
      const sections = layers.map((layer, index) => {
        const shape = results[index].shape.slice(1);
        const data = values[index];
        if (shape.length === 3) {
          const { section, grid } = block(layer.name, `${shape[2]} maps of ${shape[0]}×${shape[1]}`
            + (shape[2] > MAX_MAPS ? `, first ${MAX_MAPS}` : ""));
          for (let k = 0; k < Math.min(shape[2], MAX_MAPS); k++) {
            const canvas = document.createElement("canvas");
            canvas.className = "neuron-map";
            grey(canvas, channel(data, shape, k), shape[0], shape[1]);
            grid.append(canvas);
          }
          return section;
        }
        const n = Math.min(data.length, MAX_UNITS);
        const { section, grid } = block(layer.name, `${data.length} units${data.length > n ? `, first ${n}` : ""}`);
        const canvas = document.createElement("canvas");
        canvas.className = "neuron-strip";
        grey(canvas, data.subarray(0, n), 1, n);
        grid.append(canvas);
        return section;
      });
      tf.dispose(results);
      activations.replaceChildren(...sections);
      element.dataset.layers = sections.length;
    },
  };
}
